"""`rtmotion inspect`: look at the conditioning maps, the pose flow, or the warp it makes."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rtmotion.commands.args import add_kernels, size_type

NAME = "inspect"
HELP = "visualise conditioning maps, pose flow or pose-flow warping of a pose file as a video"
DESCRIPTION = """\
Show what the generator is given, from a pose file (.npz), as a preview video:
  maps  the conditioning maps (one channel per bone, face points; see rtmotion.kernels.maps_numpy),
        each channel in its own colour;
  flow  the pose flow from each frame's pose to the next (hue = direction, brightness =
        length; full brightness at --flow-scale pixels);
  warp  needs --video (the video the poses belong to): panels [frame t-1 | frame t-1 warped
        by the pose flow to pose t | frame t]; the mean error with and without the warp is
        logged at the end.
Poses are scaled from the pose file's frame size to --size (default: the pose file's size;
for warp, the video's size).
"""

log = logging.getLogger(__name__)

WHATS = ("maps", "flow", "warp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--poses", "-p", type=Path, required=True, help="pose file (.npz)")
    parser.add_argument("--output", "-o", type=Path, required=True, help="preview video to write (.mp4)")
    parser.add_argument("--what", "-w", choices=WHATS, default="maps", help="what to show")
    parser.add_argument("--video", type=Path, help="the video the poses came from (needed for --what warp)")
    parser.add_argument("--size", type=size_type(), metavar="WxH",
                        help="preview size (default: the input's)")
    add_kernels(parser)
    parser.add_argument("--hands", action="store_true", help="add the estimated-hands channel to the maps")
    parser.add_argument("--no-face", action="store_true", help="leave out the face channel of the maps")
    parser.add_argument("--sigma-frac", type=float, default=0.012,
                        help="bone line width of the maps, fraction of the height")
    parser.add_argument("--flow-scale", type=float, default=None,
                        help="flow length (px) shown at full brightness (default 5%% of the height)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many output frames")


def run(args: argparse.Namespace) -> int:
    from rtmotion.atomic import check_writable
    from rtmotion.errors import InputError, OutputError
    from rtmotion.io import VIDEO_SUFFIXES
    from rtmotion.pose.posefile import PoseSequence

    if args.output.suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(args.output, "the preview must be a video file", "name it *.mp4")
    if args.what == "warp" and args.video is None:
        raise InputError(None, "--what warp needs the video the poses belong to", "give --video VIDEO")
    if args.what != "warp" and args.video is not None:
        log.warning("--video is only used with --what warp")
    if not args.sigma_frac > 0:
        raise InputError(None, f"--sigma-frac must be > 0, got {args.sigma_frac}")
    if args.flow_scale is not None and not args.flow_scale > 0:
        raise InputError(None, f"--flow-scale must be > 0, got {args.flow_scale}")
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(None, f"--max-frames must be >= 1, got {args.max_frames}")
    check_writable(args.output)
    seq = PoseSequence.load(args.poses)
    if seq.skeleton != "body25" or (seq.joint_names and tuple(seq.joint_names) != _body25_joints()):
        raise InputError(args.poses, f"poses use skeleton '{seq.skeleton}', the maps need 'body25'",
                         "extract or convert the poses to the body25 joint order")
    if len(seq) == 0:
        raise InputError(args.poses, "the pose file has no frames")
    if args.what == "flow" and len(seq) < 2:
        raise InputError(args.poses, "the flow needs at least two frames")
    kernels = _kernels(args.kernels)
    if args.what == "warp":
        _write_warp(args, seq, kernels)
        return 0
    size = args.size or seq.size
    kps = scale_keypoints(seq.keypoints, seq.size, size)
    if args.what == "maps":
        _write_maps(args, kps, size, seq.fps, kernels)
    else:
        _write_flow(args, kps, size, seq.fps, kernels)
    return 0


def _body25_joints() -> tuple[str, ...]:
    from rtmotion.pose.skeleton import BODY25_JOINTS

    return BODY25_JOINTS


def _kernels(choice: str) -> str:
    if choice != "auto":
        if choice == "cupy":
            from rtmotion.kernels.cupy_kernels import cupy_available, import_cupy

            import_cupy()  # MissingDependencyError names the extra
            if not cupy_available():
                from rtmotion.errors import InputError

                raise InputError(None, "--kernels cupy needs a CUDA GPU, none was found",
                                 "use --kernels torch or numpy")
        return choice
    from rtmotion.kernels.cupy_kernels import cupy_available

    return "cupy" if cupy_available() else "auto"


def scale_keypoints(kp, src_size: tuple[int, int], dst_size: tuple[int, int]):
    """Keypoints (..., K, 3) from pixels of a `src_size` frame to pixels of a `dst_size` frame.

    Pixel centres are at integer coordinates on both sides, so a coordinate maps as
    ``(x + 0.5) * W' / W - 0.5``. Missing joints stay (0, 0, 0).
    """
    import numpy as np

    out = np.array(kp, dtype=np.float32, copy=True)
    if tuple(src_size) == tuple(dst_size):
        return out
    sx = dst_size[0] / src_size[0]
    sy = dst_size[1] / src_size[1]
    out[..., 0] = (out[..., 0] + 0.5) * sx - 0.5
    out[..., 1] = (out[..., 1] + 0.5) * sy - 0.5
    out[out[..., 2] <= 0] = 0.0
    return out


def channel_colors(n_bones: int, extra: int):
    """float32 (C, 3) colours in [0, 1]: bones around the hue wheel, detail channels white/yellow."""
    import colorsys

    import numpy as np

    cols = [colorsys.hsv_to_rgb(i / max(n_bones, 1), 0.85, 1.0) for i in range(n_bones)]
    cols += [(1.0, 1.0, 1.0), (1.0, 0.9, 0.2)][:extra]
    return np.asarray(cols, np.float32)


def maps_to_rgb(maps, colors):
    """(C, H, W) maps in [0, 1] -> uint8 RGB (H, W, 3): per pixel the brightest coloured channel."""
    import numpy as np

    rgb = np.zeros(maps.shape[1:] + (3,), np.float32)
    for m, c in zip(maps, colors):
        if m.any():
            np.maximum(rgb, m[..., None] * c, out=rgb)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def flow_to_rgb(flow, scale: float):
    """(H, W, 2) flow in px -> uint8 RGB: hue = direction, value = min(length / scale, 1)."""
    import cv2
    import numpy as np

    fx, fy = flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32)
    mag, ang = cv2.cartToPolar(fx, fy, angleInDegrees=True)
    hsv = np.empty(flow.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = (ang / 2).astype(np.uint8)           # OpenCV hue is 0..179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / scale * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _chunks(n: int, size: int):
    for i in range(0, n, size):
        yield i, min(i + size, n)


def _write_maps(args, kps, size, fps, kernels: str) -> None:
    from rtmotion.io import VideoWriter
    from rtmotion.kernels import pose_maps_batch
    from rtmotion.kernels.maps_numpy import PoseMapConfig
    from rtmotion.progress import progress

    cfg = PoseMapConfig(size=size, sigma_frac=args.sigma_frac, face=not args.no_face, hands=args.hands)
    colors = channel_colors(len(cfg.skel.bones), cfg.num_channels - len(cfg.skel.bones))
    n = len(kps) if args.max_frames is None else min(len(kps), args.max_frames)
    be = "numpy" if kernels == "auto" else kernels
    with VideoWriter(args.output, fps, size) as writer, progress(total=n, desc="maps") as bar:
        for i, j in _chunks(n, 16):
            maps = pose_maps_batch(kps[i:j], cfg, kernels=be)   # B x C x H x W
            for m in maps:
                writer.write(maps_to_rgb(m, colors))
            bar.update(j - i)
    log.info("wrote %d frames of %d-channel conditioning maps (%dx%d) to %s", n, cfg.num_channels,
             size[0], size[1], args.output)


def _write_flow(args, kps, size, fps, kernels: str) -> None:
    from rtmotion.io import VideoWriter
    from rtmotion.kernels import PoseFlowConfig, pose_flow_batch
    from rtmotion.progress import progress

    cfg = PoseFlowConfig()
    scale = args.flow_scale or 0.05 * size[1]
    n = len(kps) - 1 if args.max_frames is None else min(len(kps) - 1, args.max_frames)
    be = "torch" if kernels == "auto" else kernels
    peak = 0.0
    with VideoWriter(args.output, fps, size) as writer, progress(total=n, desc="flow") as bar:
        for i, j in _chunks(n, 8):
            flows = pose_flow_batch(kps[i:j], kps[i + 1:j + 1], size, cfg, kernels=be)  # B x H x W x 2
            for f in flows:
                peak = max(peak, float((f**2).sum(-1).max()) ** 0.5)
                writer.write(flow_to_rgb(f, scale))
            bar.update(j - i)
    log.info("wrote %d flow frames to %s (largest flow %.1f px; full brightness at %.1f px)",
             n, args.output, peak, scale)


def _write_warp(args, seq, kernels: str) -> None:
    import contextlib

    import cv2
    import numpy as np

    from rtmotion.errors import InputError
    from rtmotion.io import VideoInfo, VideoReader, VideoWriter
    from rtmotion.kernels import PoseFlowConfig, pose_flow_batch, warp_numpy
    from rtmotion.progress import progress

    info = VideoInfo.from_path(args.video)
    vsize = (info.width, info.height)
    if tuple(seq.size) != vsize:
        log.warning("%s: poses are for %dx%d frames, the video is %dx%d; scaling the poses",
                    args.poses, seq.size[0], seq.size[1], vsize[0], vsize[1])
    size = args.size or vsize
    kps = scale_keypoints(seq.keypoints, seq.size, size)
    cfg = PoseFlowConfig()
    be = "torch" if kernels == "auto" else kernels
    w, h = size
    n_out = len(kps) - 1 if args.max_frames is None else min(len(kps) - 1, args.max_frames)
    if n_out < 1:
        raise InputError(args.poses, "the warp needs at least two frames")
    err_warp, err_plain, count = 0.0, 0.0, 0
    prev = None
    with VideoWriter(args.output, seq.fps, (3 * w, h)) as writer, \
            contextlib.closing(VideoReader(args.video)) as reader, progress(total=n_out, desc="warp") as bar:
        for frame in reader:
            t = frame.index
            if t > n_out:
                break
            img = frame.image
            if (img.shape[1], img.shape[0]) != size:
                img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            if prev is not None:
                flow = pose_flow_batch(kps[t - 1:t], kps[t:t + 1], size, cfg, kernels=be)[0]
                warped = warp_numpy(prev, flow)
                err_warp += float(np.abs(warped.astype(np.float32) - img).mean())
                err_plain += float(np.abs(prev.astype(np.float32) - img).mean())
                count += 1
                writer.write(np.concatenate([_label(prev, "t-1"), _label(warped, "t-1 warped to t"),
                                             _label(img, "t")], axis=1))
                bar.update(1)
            prev = img
    if count == 0:
        raise InputError(args.video, "the video has fewer than two frames")
    if count < n_out:
        log.warning("%s: the video ended after %d frames, the poses have %d", args.video, count + 1, len(kps))
    log.info("wrote %d warp frames to %s; mean |frame t - frame t-1| = %.2f, "
             "mean |frame t - warped t-1| = %.2f (uint8 levels)", count, args.output,
             err_plain / count, err_warp / count)


def _label(img, text: str):
    import cv2

    out = img.copy()
    scale = max(img.shape[0] / 512, 0.35)
    cv2.putText(out, text, (4, int(14 * scale * 1.6)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                1, cv2.LINE_AA)
    return out
