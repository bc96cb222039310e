"""`rtmotion serve`'s server in-process with a Python WebSocket client: the safety rules
(token, Host, Origin, sizes, garbage), several viewers, and resources freed on close.

The page itself, in a real browser, is tested in test_browser.py."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import numpy as np
import pytest

aiohttp = pytest.importorskip("aiohttp", reason="aiohttp (extra 'serve') is not installed")

from aiohttp.test_utils import TestServer  # noqa: E402

from rtmotion.engine_request import EAGER_CPU  # noqa: E402
from rtmotion.serve import protocol  # noqa: E402
from rtmotion.serve.server import ServeConfig, build_app  # noqa: E402
from rtmotion.subject import load_subject  # noqa: E402


@pytest.fixture(scope="module")
def demo():
    return load_subject("demo-ada")


@pytest.fixture(scope="module")
def dancer_jpegs() -> list[bytes]:
    """JPEG frames of the synthetic dancer, as a page would send them (256x256)."""
    import cv2

    from rtmotion.synthetic import motion_angles, render_sequence

    frames, _ = render_sequence("bruno", angles=motion_angles("dance", 1.0, 30, seed=1), size=(256, 256))
    return [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes() for f in frames]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def _server(config: ServeConfig) -> TestServer:
    server = TestServer(build_app(config), host="127.0.0.1")
    await server.start_server()
    return server


def _viewer_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith("rtmotion-viewer") or t.name in ("rtmotion-pose", "rtmotion-generate",
                                                                  "rtmotion-capture")]


START = json.dumps({"type": "start", "subject": "demo-ada", "width": 256, "height": 256, "fps": 30})


async def _drive(ws, jpegs: list[bytes], results: int, first_id: int = 1) -> list[tuple[int, dict, bytes]]:
    """Send frames at about 30 fps until `results` results came back; the results."""
    got: list[tuple[int, dict, bytes]] = []
    fid = first_id

    async def sender() -> None:
        nonlocal fid
        while len(got) < results:
            await ws.send_bytes(protocol.HEADER.pack(fid) + jpegs[fid % len(jpegs)])
            fid += 1
            await asyncio.sleep(1 / 30)

    task = asyncio.create_task(sender())
    try:
        while len(got) < results:
            msg = await ws.receive(timeout=60)
            if msg.type == aiohttp.WSMsgType.BINARY:
                got.append(protocol.decode_result(msg.data))
            elif msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"connection ended: {msg}")
    finally:
        task.cancel()
    return got


def test_a_viewer_gets_the_subject_back_and_closing_frees_it(demo, dancer_jpegs, caplog) -> None:
    caplog.set_level(logging.INFO, logger="rtmotion.serve")
    config = ServeConfig(subjects={"demo-ada": demo}, engine=EAGER_CPU)

    async def go() -> None:
        server = await _server(config)
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(server.make_url("/ws"))
            hello = await ws.receive_json()
            assert hello["type"] == "hello" and hello["subjects"] == ["demo-ada"] and hello["bones"]
            await ws.send_str(START)
            started = await ws.receive_json()
            assert started["type"] == "started" and started["camera"] == [256, 256]
            # The subject's full frame (its camera frame's size, as `rtmotion live` shows it).
            assert started["output_size"] == list(demo.crop.frame_size)
            got = await _drive(ws, dancer_jpegs, 8)
            ids = [g[0] for g in got]
            assert ids == sorted(ids)
            image = protocol.decode_jpeg(got[-1][2])
            assert image.shape[:2] == tuple(started["output_size"])[::-1]
            assert got[-1][1]["state"] == "person" and len(got[-1][1]["kp"]) == 25 * 3
            assert _viewer_threads()
            await ws.close()
        t0 = time.monotonic()
        while (_viewer_threads() or config.viewers) and time.monotonic() - t0 < 10:
            await asyncio.sleep(0.05)
        assert not _viewer_threads() and not config.viewers, "a closed page must free its pipeline"
        await server.close()

    run(go())
    assert any("viewer 1 gone" in r.message for r in caplog.records)


def test_two_viewers_each_their_own_session(demo, dancer_jpegs) -> None:
    config = ServeConfig(subjects={"demo-ada": demo}, engine=EAGER_CPU)

    async def one(s, url) -> list:
        ws = await s.ws_connect(url)
        await ws.receive_json()
        await ws.send_str(START)
        await ws.receive_json()
        got = await _drive(ws, dancer_jpegs, 5)
        await ws.close()
        return got

    async def go() -> None:
        server = await _server(config)
        async with aiohttp.ClientSession() as s:
            a, b = await asyncio.gather(one(s, server.make_url("/ws")), one(s, server.make_url("/ws")))
            assert len(a) == 5 and len(b) == 5
        await server.close()

    run(go())


async def _expect_closed(ws, code: int, words: str) -> None:
    while True:
        msg = await ws.receive(timeout=30)
        if msg.type == aiohttp.WSMsgType.TEXT:
            data = json.loads(msg.data)
            if data["type"] == "error":
                assert words in data["message"], data
            continue
        if msg.type == aiohttp.WSMsgType.BINARY:
            continue
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING), msg
        assert ws.close_code == code, (ws.close_code, msg)
        return


@pytest.mark.parametrize("send,code,words", [
    (("str", "hello there"), 1008, "not JSON"),
    (("str", '{"type": "rm -rf"}'), 1008, "unknown message type"),
    (("bytes", b"\x00\x00\x00\x01not a jpeg"), 1008, "frame before a start"),
    (("str", '{"type": "start", "width": 99999, "height": 99999}'), 1008, "outside the limits"),
    (("str", '{"type": "start", "subject": "../../etc", "width": 64, "height": 64}'), 1008, "unknown subject"),
    (("bytes", b"\x00" * (protocol.MAX_FRAME_BYTES + 10)), 1009, ""),
])
def test_garbage_closes_that_connection_only(demo, send, code, words, caplog) -> None:
    caplog.set_level(logging.INFO, logger="rtmotion.serve")
    config = ServeConfig(subjects={"demo-ada": demo}, engine=EAGER_CPU)

    async def go() -> None:
        server = await _server(config)
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(server.make_url("/ws"))
            await ws.receive_json()
            kind, data = send
            await (ws.send_str(data) if kind == "str" else ws.send_bytes(data))
            await _expect_closed(ws, code, words)
            # The server goes on: a new page connects and is greeted.
            ws2 = await s.ws_connect(server.make_url("/ws"))
            assert (await ws2.receive_json())["type"] == "hello"
            await ws2.close()
        await server.close()

    run(go())
    assert any("viewer 1 closed" in r.message for r in caplog.records), "the reason is logged"


def test_frames_that_lie_about_their_size_or_do_not_decode(demo) -> None:
    import cv2

    config = ServeConfig(subjects={"demo-ada": demo}, engine=EAGER_CPU)
    small = cv2.imencode(".jpg", np.zeros((32, 32, 3), np.uint8))[1].tobytes()
    # A JPEG header saying 256x256 with a broken body: passes the header check, fails to decode.
    broken = cv2.imencode(".jpg", np.zeros((256, 256, 3), np.uint8))[1].tobytes()[:400]

    async def go() -> None:
        server = await _server(config)
        async with aiohttp.ClientSession() as s:
            for body, words in ((small, "declared"), (broken, "decode")):
                ws = await s.ws_connect(server.make_url("/ws"))
                await ws.receive_json()
                await ws.send_str(START)
                await ws.receive_json()
                await ws.send_bytes(protocol.HEADER.pack(1) + body)
                await _expect_closed(ws, 1008, words)
        await server.close()

    run(go())


def test_message_flood_is_refused(demo) -> None:
    config = ServeConfig(subjects={"demo-ada": demo}, engine=EAGER_CPU)

    async def go() -> None:
        server = await _server(config)
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(server.make_url("/ws"))
            await ws.receive_json()
            for _ in range(int(protocol.MAX_BURST) + 50):
                await ws.send_str('{"type": "stop"}')
            await _expect_closed(ws, 1008, "faster than")
        await server.close()

    run(go())


def test_token_host_origin_and_viewer_limit(demo) -> None:
    async def status(s, server, path, headers=None) -> int:
        async with s.get(server.make_url(path), headers=headers or {}) as r:
            return r.status

    async def go() -> None:
        tok = ServeConfig(subjects={"demo-ada": demo}, token="s3cret-token", loopback=False)
        server = await _server(tok)
        async with aiohttp.ClientSession() as s:
            assert await status(s, server, "/ws") == 403
            assert await status(s, server, "/ws?token=wrong") == 403
            ws = await s.ws_connect(server.make_url("/ws?token=s3cret-token"))
            assert (await ws.receive_json())["type"] == "hello"
            await ws.close()
        await server.close()

        local = ServeConfig(subjects={"demo-ada": demo}, max_viewers=1)
        server = await _server(local)
        async with aiohttp.ClientSession() as s:
            assert await status(s, server, "/") == 200
            assert await status(s, server, "/", {"Host": "attacker.example"}) == 403
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await s.ws_connect(server.make_url("/ws"), headers={"Origin": "http://attacker.example"})
            ws = await s.ws_connect(server.make_url("/ws"),
                                    headers={"Origin": f"http://127.0.0.1:{server.port}"})
            assert (await ws.receive_json())["type"] == "hello"
            busy = await s.ws_connect(server.make_url("/ws"))
            await _expect_closed(busy, 1013, "busy")
            await ws.close()
        await server.close()

    run(go())


def test_cli_refuses_an_open_address_without_token(capsys) -> None:
    from rtmotion.cli import main

    assert main(["serve", "-t", "demo-ada", "--host", "0.0.0.0"]) == 2
    assert "--token" in capsys.readouterr().err


def test_a_closed_viewer_hands_its_freed_memory_back(demo, dancer_jpegs, monkeypatch) -> None:
    """Every finished viewer trims glibc's arenas (resident memory otherwise climbs over the first
    dozen page open/close cycles: docs/BENCHMARKS.md); on glibc the trim is there."""
    import platform

    from rtmotion.serve import server as server_module

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert server_module.release_freed_memory() is True
    calls: list[int] = []
    real = server_module.release_freed_memory
    monkeypatch.setattr(server_module, "release_freed_memory", lambda: (calls.append(1), real())[1])
    config = ServeConfig(subjects={"demo-ada": demo}, engine=EAGER_CPU)

    async def go() -> None:
        server = await _server(config)
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(server.make_url("/ws"))
            await ws.receive_json()
            await ws.send_str(START)
            await ws.receive_json()
            await _drive(ws, dancer_jpegs, 2)
            await ws.close()
        t0 = time.monotonic()
        while (config.viewers or config.cleanups) and time.monotonic() - t0 < 30:
            await asyncio.sleep(0.05)
        await server.close()

    run(go())
    assert calls == [1]
