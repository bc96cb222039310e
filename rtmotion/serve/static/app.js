// rtmotion serve: the page. Camera -> JPEG frames over a WebSocket -> the subject back.
// Protocol: rtmotion/serve/protocol.py. Stats for people (the caption) and for tests and the
// benchmark (window.rtmotion).
"use strict";

const MAX_SIDE = 640;        // camera frames are scaled down to this long side before sending
const MAX_IN_FLIGHT = 2;     // frames sent and not yet answered: the server drops, never queues
const STALE_MS = 1000;       // an unanswered frame older than this no longer holds a slot
const JPEG_QUALITY = 0.8;

const $ = (id) => document.getElementById(id);
const stats = window.rtmotion = {
  status: "connecting", error: null, subject: null, started: false,
  sent: 0, shown: 0, fps: 0, latencies: [], lastMeta: null, modelSize: null, outputSize: null,
  p95() { return percentile(this.latencies, 0.95); },
  p50() { return percentile(this.latencies, 0.50); },
};

function percentile(values, q) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
}

function setStatus(text) { stats.status = text; $("status").textContent = text; }
function showError(text) {
  stats.error = text; const e = $("error"); e.textContent = text; e.hidden = false;
}

const token = new URLSearchParams(location.search).get("token");
const wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" +
  (token ? "?token=" + encodeURIComponent(token) : "");

let ws = null, bones = [], frameSize = null, nextId = 1, sending = false;
const pending = new Map();         // frame id -> capture time, of frames in flight
const sentAt = new Map();          // frame id -> capture time, of the last 256 frames sent
let lastShownId = 0, shownTimes = [];
const grab = document.createElement("canvas");
const video = $("camera"), out = $("output"), overlay = $("overlay");

function connect() {
  ws = new WebSocket(wsUrl);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (ev) => (typeof ev.data === "string" ? onText(JSON.parse(ev.data)) : onResult(ev.data));
  ws.onclose = (ev) => {
    stats.started = false;
    setStatus("closed" + (ev.reason ? ": " + ev.reason : ev.code === 1006 ? ": connection lost" : ""));
  };
}

function onText(msg) {
  if (msg.type === "hello") {
    bones = msg.bones; stats.viewer = msg.viewer;
    const sel = $("subject");
    sel.replaceChildren(...msg.subjects.map((n) => new Option(n, n)));
    startCamera();
  } else if (msg.type === "started") {
    stats.subject = msg.subject; stats.started = true; stats.modelSize = msg.model_size;
    stats.outputSize = msg.output_size;
    $("subject-name").textContent = msg.subject;
    setStatus("starting " + msg.subject);
  } else if (msg.type === "error") {
    showError(msg.message);
  }
}

async function startCamera() {
  setStatus("waiting for the camera");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } }, audio: false });
  } catch (e) {
    showError("no camera: " + e.name + " " + e.message +
              (isSecureContext ? "" : " (a browser allows the camera on https:// or http://127.0.0.1 only)"));
    setStatus("no camera");
    return;
  }
  video.srcObject = stream;
  await video.play();
  await new Promise((r) => (video.videoWidth ? r() : video.addEventListener("loadedmetadata", r, { once: true })));
  sendStart();
  if (!sending) { sending = true; setInterval(tick, 5); }
}

function sendStart() {
  const w = video.videoWidth, h = video.videoHeight, k = Math.min(1, MAX_SIDE / Math.max(w, h));
  frameSize = [Math.round(w * k / 2) * 2, Math.round(h * k / 2) * 2];
  grab.width = overlay.width = frameSize[0]; grab.height = overlay.height = frameSize[1];
  pending.clear(); sentAt.clear(); stats.latencies = []; shownTimes = []; stats.started = false;
  ws.send(JSON.stringify({ type: "start", subject: $("subject").value, width: frameSize[0],
                           height: frameSize[1], fps: 30 }));
}

let lastSendAt = 0;
function tick() {
  if (!stats.started || ws.readyState !== WebSocket.OPEN) return;
  const now = performance.now();
  for (const [id, t] of pending) if (now - t > STALE_MS) pending.delete(id);
  if (pending.size >= MAX_IN_FLIGHT || now - lastSendAt < 1000 / 30 - 2) return;
  lastSendAt = now;
  const id = nextId++ >>> 0;
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  pending.set(id, now);
  sentAt.set(id, now);
  if (sentAt.size > 256) sentAt.delete(sentAt.keys().next().value);
  grab.toBlob(async (blob) => {
    if (!blob || ws.readyState !== WebSocket.OPEN) { pending.delete(id); return; }
    const body = new Uint8Array(await blob.arrayBuffer());
    const msg = new Uint8Array(4 + body.length);
    new DataView(msg.buffer).setUint32(0, id);
    msg.set(body, 4);
    ws.send(msg);
    stats.sent++;
  }, "image/jpeg", JPEG_QUALITY);
}

async function onResult(buf) {
  const dv = new DataView(buf), id = dv.getUint32(0), n = dv.getUint32(4);
  const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n)));
  const t0 = sentAt.get(id);
  for (const k of pending.keys()) if (k <= id) pending.delete(k);   // shown or dropped
  const bitmap = await createImageBitmap(new Blob([new Uint8Array(buf, 8 + n)], { type: "image/jpeg" }));
  if (id < lastShownId) { bitmap.close(); return; }
  lastShownId = id;
  if (out.width !== bitmap.width || out.height !== bitmap.height) {
    out.width = bitmap.width; out.height = bitmap.height;       // the subject's own output size
  }
  out.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  const now = performance.now();
  stats.shown++; stats.lastMeta = meta;
  shownTimes.push(now);
  while (shownTimes.length && now - shownTimes[0] > 1000) shownTimes.shift();
  stats.fps = shownTimes.length;
  if (t0 !== undefined) {
    stats.latencies.push(now - t0);
    if (stats.latencies.length > 2000) stats.latencies.shift();
    $("latency").textContent = Math.round(now - t0);
  }
  $("fps").textContent = stats.fps.toFixed(1);
  const p95 = stats.p95();
  $("p95").textContent = p95 === null ? "-" : Math.round(p95);
  if (stats.status.startsWith("starting")) setStatus("live");
  drawSkeleton(meta.kp);
}

function drawSkeleton(kp) {
  const g = overlay.getContext("2d");
  g.clearRect(0, 0, overlay.width, overlay.height);
  if (!$("skeleton").checked || !kp || !kp.length) return;
  g.lineWidth = Math.max(2, overlay.width / 200); g.strokeStyle = "#3f6"; g.fillStyle = "#ff3";
  for (const [a, b] of bones) {
    if (kp[a * 3 + 2] <= 0 || kp[b * 3 + 2] <= 0) continue;
    g.beginPath(); g.moveTo(kp[a * 3], kp[a * 3 + 1]); g.lineTo(kp[b * 3], kp[b * 3 + 1]); g.stroke();
  }
  for (let j = 0; j < kp.length / 3; j++) {
    if (kp[j * 3 + 2] > 0) { g.beginPath(); g.arc(kp[j * 3], kp[j * 3 + 1], g.lineWidth * 1.5, 0, 7); g.fill(); }
  }
}

// ---- controls ----------------------------------------------------------------------------
$("subject").addEventListener("change", () => { if (frameSize) sendStart(); });
$("skeleton").addEventListener("change", () => drawSkeleton(stats.lastMeta && stats.lastMeta.kp));
$("renormalize").addEventListener("click", () => ws.send(JSON.stringify({ type: "renormalize" })));

let recorder = null, chunks = [];
$("record").addEventListener("click", () => {
  const button = $("record");
  if (recorder) { recorder.stop(); return; }
  const type = ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm", "video/mp4"]
    .find((t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t));
  if (!type) { showError("this browser cannot record a canvas"); return; }
  chunks = [];
  recorder = new MediaRecorder(out.captureStream(30), { mimeType: type });
  recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
  recorder.onstop = () => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob(chunks, { type }));
    a.download = `rtmotion-${stats.subject || "subject"}-${new Date().toISOString().replace(/[:.]/g, "-")}.` +
      (type.startsWith("video/mp4") ? "mp4" : "webm");
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    recorder = null; button.textContent = "record"; button.classList.remove("on");
  };
  recorder.start(1000);
  button.textContent = "stop recording"; button.classList.add("on");
});

connect();
