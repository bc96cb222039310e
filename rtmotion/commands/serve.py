"""`rtmotion serve`: a local web page where your webcam drives the subject, live."""

from __future__ import annotations

import argparse
import logging
import sys

from rtmotion.commands.args import add_device, add_engine_options, add_normalize_mode, add_torch_threads

NAME = "serve"
HELP = "a local web page where your webcam drives the subject live (several viewers at once)"
DESCRIPTION = (
    "Starts a web server; the page asks for the camera, sends its frames over a WebSocket and "
    "shows the subject dancing back, with the pose skeleton, a subject picker, fps, capture-to-"
    "display latency and a record button. Each page runs the same live pipeline as `rtmotion "
    "live` (latest frame wins; stale frames are dropped, never queued) with its own session. "
    "It listens on 127.0.0.1; another --host needs --token (the printed URL carries it). A "
    "browser gives the camera to https:// pages and to http://127.0.0.1 only: for a page opened "
    "from another machine give --tls-cert and --tls-key."
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-t", "--subject", action="append", required=True, metavar="SUBJECT",
                        help="subject bundle folder or shipped name; repeat for the page's picker "
                             "(the first is the default)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (anything but loopback needs --token)")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    parser.add_argument("--token", default=None,
                        help="secret the page must present (?token=...); required off loopback")
    parser.add_argument("--max-viewers", type=int, default=4, help="pages served at once")
    parser.add_argument("--tls-cert", metavar="PEM", help="HTTPS certificate (with --tls-key)")
    parser.add_argument("--tls-key", metavar="PEM", help="HTTPS private key (with --tls-cert)")
    add_normalize_mode(parser)
    add_engine_options(parser, threads=False)
    add_device(parser)
    add_torch_threads(parser)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    import torch

    from rtmotion.commands.args import engine_request
    from rtmotion.errors import InputError
    from rtmotion.serve.server import ServeConfig, build_app, is_loopback, page_url, serve, tls_context
    from rtmotion.subject import load_subject, resolve_subject_path

    if not 0 <= args.port <= 65535:
        raise InputError(None, f"--port {args.port}", "give 0..65535")
    if args.max_viewers < 1:
        raise InputError(None, f"--max-viewers {args.max_viewers}", "give 1 or more")
    if args.torch_threads < 1:
        raise InputError(None, f"--torch-threads {args.torch_threads}", "give 1 or more")
    loopback = is_loopback(args.host)
    if not loopback and not args.token:
        raise InputError(None, f"--host {args.host} without --token",
                         "a server other machines can reach needs a secret: add --token SECRET")
    if args.token is not None and len(args.token) < 8:
        raise InputError(None, "--token is shorter than 8 characters", "give a longer secret")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise InputError(None, "--tls-cert and --tls-key go together")
    tls = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    subjects = {}
    for spec in args.subject:
        subject = load_subject(resolve_subject_path(spec), device="cpu")
        if subject.name in subjects:
            raise InputError(spec, f"a second subject named {subject.name!r}", "give each subject once")
        subjects[str(subject.name)] = subject
    # One setting for the whole process: every viewer's stages share the cores without fighting.
    torch.set_num_threads(int(args.torch_threads))
    config = ServeConfig(subjects=subjects, engine=engine_request(args), mode=args.mode,
                         token=args.token, loopback=loopback, max_viewers=args.max_viewers)
    app = build_app(config)

    def ready(urls: list[str]) -> None:
        for url in urls:
            sys.stdout.write(f"rtmotion serve: open {page_url(url, args.token)}\n")
        sys.stdout.write(f"  subjects: {', '.join(subjects)}; Ctrl-C stops\n")
        sys.stdout.flush()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(app, args.host, args.port, tls=tls, stop=stop, on_ready=ready)

    asyncio.run(main())
    log.info("rtmotion serve stopped")
    return 0
