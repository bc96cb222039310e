"""`rtmotion live`: drive a subject from a webcam (or a video file played as a camera)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from rtmotion.commands.args import (
    add_device,
    add_engine_options,
    add_no_detail,
    add_normalize_mode,
    add_person,
    add_subject,
    add_torch_threads,
    engine_request,
    size_type,
)

NAME = "live"
HELP = "drive a subject live from a webcam (or a video played as one), with a preview window"
DESCRIPTION = (
    "Capture -> pose -> subject, each in its own thread with latest-frame-wins hand-offs, so the "
    "picture stays current when a stage is slow (older frames are dropped and counted). The "
    "preview shows fps and capture-to-display latency; keys: q quit, r re-estimate the pose "
    "normalization, s snapshot, t toggle side by side. --source FILE plays a video at its own "
    "frame rate as a camera would (for machines without a camera, and for tests)."
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_subject(parser)
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, default=None, help="webcam number (/dev/videoN); default 0")
    src.add_argument("--source", metavar="FILE", help="play a video file as the camera")
    parser.add_argument("--loop", action="store_true", help="with --source: start again at the end")
    parser.add_argument("--poses", metavar="FILE.npz",
                        help="with --source: use this pose file (by frame) instead of MediaPipe")
    parser.add_argument("--size", type=size_type(), default=None, help="camera frame size WIDTHxHEIGHT")
    parser.add_argument("--fps", type=float, default=None, help="camera frame rate to ask for")
    parser.add_argument("--no-preview", action="store_true", help="no window (headless)")
    parser.add_argument("--side-by-side", action="store_true", help="start with side by side shown")
    add_no_detail(parser)
    parser.add_argument("--virtual-camera", action="store_true",
                        help="also send the result to a virtual webcam (pyvirtualcam, extra 'live')")
    parser.add_argument("--record", metavar="FILE", help="record the result to a video file")
    parser.add_argument("--snapshot-dir", default=".", help="where the s key saves PNGs")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--warmup", type=int, default=5, metavar="N",
                        help="the first N frames shown are warm-up (first MediaPipe and generator "
                             "calls): reported apart, not in the latency and stage figures")
    add_normalize_mode(parser)
    add_person(parser, "subject follows (chosen on the first frame)")
    add_engine_options(parser, threads=False)
    add_device(parser)
    add_torch_threads(parser)
    parser.add_argument("--json", metavar="REPORT", help="also write the summary as JSON")


def run(args: argparse.Namespace) -> int:
    import contextlib
    import time
    from pathlib import Path

    from rtmotion.atomic import atomic_path, check_writable
    from rtmotion.errors import InputError, OutputError
    from rtmotion.io import VIDEO_SUFFIXES
    from rtmotion.io.camera import FileCamera, OpenCVCamera
    from rtmotion.io.timed_writer import TimedVideoWriter
    from rtmotion.io.writer import REALTIME_PRESET
    from rtmotion.pipeline.live import LiveOptions, preview_output_size, run_live
    from rtmotion.pose.posefile import PoseSequence
    from rtmotion.subject import load_subject, resolve_subject_path, write_png

    if args.warmup < 0:
        raise InputError(None, f"--warmup {args.warmup}", "give 0 or more frames")
    if args.seconds is not None and args.seconds <= 0:
        raise InputError(None, f"--seconds {args.seconds}", "give a positive number of seconds")
    if (args.loop or args.poses) and not args.source:
        raise InputError(None, "--loop and --poses need --source FILE")
    if args.source and (args.size or args.fps):
        raise InputError(None, "--size and --fps are for --camera", "a --source file plays at its own size and rate")
    if args.record:
        if Path(args.record).suffix.lower() not in VIDEO_SUFFIXES:
            raise OutputError(args.record, "unsupported video file type",
                              f"give a name ending in {', '.join(VIDEO_SUFFIXES)}")
        check_writable(args.record)
    if args.torch_threads < 1:
        raise InputError(None, f"--torch-threads {args.torch_threads}", "give 1 or more")
    if args.json:
        check_writable(args.json)
    subject = load_subject(resolve_subject_path(args.subject), device="cpu")
    poses = PoseSequence.load(args.poses) if args.poses else None
    if args.source:
        source = FileCamera(args.source, loop=args.loop)
        if poses is not None and poses.size != source.size:
            raise InputError(args.poses, f"poses are for {poses.size[0]}x{poses.size[1]} frames, "
                             f"{args.source} is {source.size[0]}x{source.size[1]}",
                             "give the pose file extracted from that video")
    else:
        source = OpenCVCamera(0 if args.camera is None else args.camera, size=args.size, fps=args.fps)
        source.open()  # a missing camera fails here, with the list of cameras that exist
    w, h = subject.crop.frame_size  # the result is the subject's whole camera frame
    sinks = []
    with contextlib.ExitStack() as stack:
        preview = None
        if not args.no_preview:
            from rtmotion.io.preview import PreviewWindow

            preview = PreviewWindow(f"rtmotion live: {subject.name}").open()
            stack.callback(preview.close)
            sinks.append(lambda image, frame: preview.show(image))
        vcam = None
        if args.virtual_camera:
            from rtmotion.io.virtual_camera import VirtualCamera

            vcam = VirtualCamera(w, h, float(source.fps or 30))
            stack.callback(vcam.close)
            sinks.append(lambda image, frame: vcam.send(frame.result))
        if args.record:
            rec = stack.enter_context(TimedVideoWriter(args.record, source.fps or 30,
                                                        preset=REALTIME_PRESET))
            sinks.append(lambda image, frame: rec.write(frame.result, frame.t_capture))
        snap_dir = Path(args.snapshot_dir)

        def snapshot(image) -> str:
            p = snap_dir / f"rtmotion-snapshot-{time.strftime('%Y%m%d-%H%M%S')}-{time.perf_counter_ns() % 1000:03d}.png"
            write_png(p, image)
            log.info("snapshot %s", p)
            return str(p)

        opts = LiveOptions(engine=engine_request(args), mode=args.mode, poses=poses, person=args.person,
                           seconds=args.seconds, side_by_side=args.side_by_side,
                           torch_threads=args.torch_threads, warmup_frames=args.warmup,
                           detail=not args.no_detail)
        if preview is not None and vcam is None and not args.record:
            # Only shown: composed at the preview's size, not the camera's (cheaper).
            opts.output_size = preview_output_size((w, h), opts.display_height)
        report = run_live(subject, source, sinks, opts, on_snapshot=snapshot)
        report.recording = args.record
        report.virtual_camera = vcam.device if vcam is not None else None
    # The recording is finalized (renamed onto its name) when the ExitStack closed it above.
    if args.json:
        with atomic_path(args.json, suffix=".json") as tmp:
            tmp.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    sys.stdout.write("\n".join(report.lines()) + "\n")  # the summary (stdout; -q only quiets logs)
    return 0
