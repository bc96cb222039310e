"""`rtmotion serve`'s web server: the page, and one WebSocket per viewer (aiohttp).

    app = build_app(ServeConfig(subjects={"demo-ada": subject}, engine=EAGER_CPU))
    asyncio.run(serve(app, "127.0.0.1", 8765))

Safe by default:
- it listens on 127.0.0.1; another address needs a token (`ServeConfig.token`), which the page
  presents as `?token=` (the URL the server prints carries it); compared in constant time;
- on a loopback address without a token, only loopback Host headers are served (a page of
  another site that rebinds its DNS name to 127.0.0.1 gets 403), and a WebSocket whose Origin
  is another site than the page's host is refused (a page elsewhere cannot drive the server);
- request bodies, text and frame messages, frame sizes and frame rates are bounded
  (`rtmotion.serve.protocol`); a message that breaks a rule closes that connection with a
  logged reason (and a close code the page shows), never the server;
- at most `max_viewers` pipelines run at once; a page past that is told the server is busy.

A closed tab (close frame, or a TCP reset) ends its handler at once; a connection that just
goes silent is dropped by the heartbeat (`HEARTBEAT_S`); either way its pipeline stops and its
session and MediaPipe are freed within one stage's work.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rtmotion.engine_request import EAGER_CPU, EngineRequest
from rtmotion.lazy import require
from rtmotion.pose.skeleton import BODY25
from rtmotion.serve import protocol
from rtmotion.serve.protocol import ProtocolError, RateLimit
from rtmotion.serve.viewer import Viewer
from rtmotion.subject import Subject

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
HEARTBEAT_S = 5.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: close codes (RFC 6455): policy violation, too big, try again later
CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_BUSY = 1008, 1009, 1013

_SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: "
                                "mediastream:; connect-src 'self' ws: wss:; style-src 'self'; "
                                "script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
                                "base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(self), microphone=()",
}
CONFIG: Any = None   # aiohttp AppKeys, made with the first app (aiohttp is imported lazily)
NUMBERS: Any = None
_FILES = {"/": ("index.html", "text/html"), "/app.js": ("app.js", "text/javascript"),
          "/style.css": ("style.css", "text/css")}


def aiohttp_web() -> Any:
    """aiohttp.web, or the error naming the extra that installs it."""
    require("aiohttp", extra="serve", purpose="rtmotion serve (the web server)")
    from aiohttp import web

    return web


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


@dataclass
class ServeConfig:
    """What the server serves and how.

    Attributes:
        subjects: name -> loaded subject, in picker order (the first is the default).
        engine: the generator runtime of every viewer's session.
        mode: pose normalization mode.
        token: the secret a page must present (None: none; only allowed on loopback).
        loopback: the server listens on a loopback address only (the Host check applies).
        max_viewers: pipelines at once.
        extractor: the per-frame pose estimator.
    """

    subjects: dict[str, Subject]
    engine: EngineRequest = EAGER_CPU
    mode: str = "auto"
    token: str | None = None
    loopback: bool = True
    max_viewers: int = 4
    extractor: str = "mediapipe"
    viewers: dict[int, Viewer] = field(default_factory=dict)
    cleanups: set[Any] = field(default_factory=set)


def build_app(config: ServeConfig) -> Any:
    """The aiohttp application: the page's files and `/ws`."""
    web = aiohttp_web()
    global CONFIG, NUMBERS
    if CONFIG is None:
        CONFIG, NUMBERS = web.AppKey("config", ServeConfig), web.AppKey("numbers", itertools.count)
    app = web.Application(client_max_size=64 * 1024, middlewares=[_guard(config)])
    app[CONFIG] = config
    app[NUMBERS] = itertools.count(1)
    for path in _FILES:
        app.router.add_get(path, _static)
    app.router.add_get("/ws", _websocket)
    app.on_shutdown.append(_close_viewers)
    return app


def _guard(config: ServeConfig) -> Any:
    web = aiohttp_web()

    @web.middleware
    async def guard(request: Any, handler: Any) -> Any:
        host = urlsplit(f"//{request.host}").hostname or ""
        if config.loopback and config.token is None and not is_loopback(host):
            log.warning("refused a request for Host %r (a loopback server answers loopback names only)",
                        request.host[:80])
            raise web.HTTPForbidden(text="this server answers loopback names only\n")
        response = await handler(request)
        for k, v in _SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    return guard


async def _static(request: Any) -> Any:
    web = aiohttp_web()
    name, ctype = _FILES[request.path]
    return web.Response(body=(STATIC / name).read_bytes(), content_type=ctype, charset="utf-8")


def _refusal(request: Any, config: ServeConfig) -> tuple[int, str] | None:
    """(HTTP status, reason) when this WebSocket request must be refused before it opens."""
    if config.token is not None:
        given = request.query.get("token", "")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), config.token.encode("utf-8")):
            return 403, "missing or wrong token"
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
        return 403, f"cross-site origin {origin[:80]!r}"
    return None


async def _websocket(request: Any) -> Any:
    web = aiohttp_web()
    from aiohttp import WSCloseCode, WSMsgType

    config: ServeConfig = request.app[CONFIG]
    peer = request.remote
    refused = _refusal(request, config)
    if refused is not None:
        log.warning("refused a viewer from %s: %s", peer, refused[1])
        raise web.HTTPForbidden(text=refused[1] + "\n")
    ws = web.WebSocketResponse(max_msg_size=protocol.MAX_FRAME_BYTES, heartbeat=HEARTBEAT_S,
                               compress=False)
    await ws.prepare(request)
    number = next(request.app[NUMBERS])
    if len(config.viewers) >= config.max_viewers:
        log.warning("viewer %d from %s refused: %d viewers already", number, peer, len(config.viewers))
        await ws.send_json({"type": "error", "message": f"server busy ({config.max_viewers} viewers)"})
        await ws.close(code=CLOSE_BUSY, message=b"server busy")
        return ws

    closing: list[str] = []

    async def send(message: bytes) -> None:
        if not ws.closed:
            await ws.send_bytes(message)

    async def on_end(reason: str) -> None:
        closing.append(reason)
        log.warning("viewer %d closed: %s", number, reason)
        await _close(ws, CLOSE_POLICY, reason)

    names = list(config.subjects)
    viewer = Viewer(number, config.subjects, config.engine, config.mode, send, on_end,
                    extractor=config.extractor)
    config.viewers[number] = viewer
    rate = RateLimit()
    log.info("viewer %d connected from %s", number, peer)
    reason = "page closed"
    try:
        await ws.send_json({"type": "hello", "viewer": number, "subjects": names,
                            "bones": [list(b) for b in BODY25.bones], "limits": protocol.limits()})
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                if not rate.take():
                    raise ProtocolError(f"frames faster than {protocol.MAX_RATE:.0f} per second")
                size = viewer.size
                if size is None:
                    raise ProtocolError("frame before a start message")
                viewer.push(*protocol.parse_frame(msg.data, size))
            elif msg.type == WSMsgType.TEXT:
                if not rate.take():
                    raise ProtocolError(f"messages faster than {protocol.MAX_RATE:.0f} per second")
                parsed = protocol.parse_text(msg.data, names)
                if isinstance(parsed, protocol.Start):
                    await ws.send_json(await viewer.start(parsed))
                elif parsed["type"] == "stop":
                    await viewer.stop()
                    await ws.send_json({"type": "stopped"})
                else:
                    viewer.renormalize()
            elif msg.type == WSMsgType.ERROR:
                exc = ws.exception()
                too_big = "size" in str(exc).lower() or getattr(exc, "code", None) == WSCloseCode.MESSAGE_TOO_BIG
                reason = f"message over {protocol.MAX_FRAME_BYTES} bytes" if too_big else f"error: {exc}"
                log.warning("viewer %d closed: %s", number, reason)
                break
    except ProtocolError as e:
        reason = str(e)
        log.warning("viewer %d closed: %s", number, reason)
        await _close(ws, CLOSE_POLICY, reason)
    except (ConnectionError, asyncio.CancelledError) as e:
        reason = f"connection lost ({type(e).__name__})"
        if isinstance(e, asyncio.CancelledError):
            raise
    finally:
        # aiohttp cancels a handler whose connection is lost: the cleanup runs as a task of its
        # own, shielded, so a closed tab always frees its pipeline and leaves the viewer list.
        cleanup = asyncio.ensure_future(_finish(config, number, viewer, closing, reason))
        config.cleanups.add(cleanup)
        cleanup.add_done_callback(config.cleanups.discard)
        await asyncio.shield(cleanup)
    return ws


async def _finish(config: ServeConfig, number: int, viewer: Viewer, closing: list[str],
                  reason: str) -> None:
    try:
        await viewer.close()
    finally:
        config.viewers.pop(number, None)
    await asyncio.to_thread(release_freed_memory)
    log.info("viewer %d gone (%s): %d frames received, %d results sent, %d replaced unsent",
             number, closing[0] if closing else reason, viewer.received, viewer.sent, viewer.out_dropped)


def release_freed_memory() -> bool:
    """Hand the memory a closed viewer freed back to the system (glibc's `malloc_trim`; False
    where there is none). Each viewer's threads allocate from glibc's per-thread arenas, which
    keep what was freed: without this, resident memory climbs over the first dozen page
    open/close cycles before it levels off (docs/BENCHMARKS.md), though nothing leaks."""
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        import ctypes
        import ctypes.util

        try:
            _MALLOC_TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _MALLOC_TRIM = False
    if _MALLOC_TRIM is False:
        return False
    _MALLOC_TRIM(0)
    return True


_MALLOC_TRIM: Any = None


async def _close(ws: Any, code: int, reason: str) -> None:
    """Tell the page why (an error message it can show), then close with `code`."""
    if ws.closed:
        return
    try:
        await ws.send_json({"type": "error", "message": reason})
        await ws.close(code=code, message=reason[:120].encode("utf-8", "replace"))
    except (ConnectionError, RuntimeError):
        pass


async def _close_viewers(app: Any) -> None:
    config: ServeConfig = app[CONFIG]
    for viewer in list(config.viewers.values()):
        await viewer.close()
    if config.cleanups:
        await asyncio.gather(*config.cleanups, return_exceptions=True)


def tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """An HTTPS context from a certificate and key file (a browser allows the camera on
    http://127.0.0.1 and https:// only: a page opened from another machine needs this)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


async def serve(app: Any, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                stop: asyncio.Event | None = None, on_ready: Any = None) -> None:
    """Serve `app` on host:port until `stop` is set (or the task is cancelled), then close every
    viewer. `on_ready(urls)` is called with the page's URL(s) once listening (port 0: the port the
    system picked)."""
    web = aiohttp_web()
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=tls, backlog=32)
        await site.start()
        scheme = "https" if tls is not None else "http"
        urls = []
        for addr in runner.addresses:
            h, p = addr[0], addr[1]
            h = f"[{h}]" if ":" in h else h
            urls.append(f"{scheme}://{h}:{p}/")
        if on_ready is not None:
            on_ready(urls)
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()


def page_url(url: str, token: str | None) -> str:
    """The URL a person opens (with the token, when there is one)."""
    from urllib.parse import quote

    return url if token is None else f"{url}?token={quote(token, safe='')}"

