"""Argument types and options shared by the commands (stdlib only, and `rtmotion.engine_request`,
which is stdlib only too: `rtmotion --help` stays fast).

- sizes "WIDTHxHEIGHT" (or one number for a square where a command allows it), frame rates;
- `--device` (auto | cpu | cuda | cuda:N, checked by `rtmotion.devices.resolve_device` in `run`);
- `--kernels` (numpy | torch | cupy: which implementation computes maps / flow / warp);
- `--backend` / `--precision` / `--engine-dir` / `--threads` (which runtime runs the generator:
  torch, ONNX Runtime, compiled engines built on first use), read back as one `EngineRequest`
  by `engine_request(args)`.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from rtmotion.engine_request import (
    BACKEND_CHOICES,
    CACHE_DIR_HELP,
    PRECISION_CHOICES,
    EngineRequest,
    default_calibration_dir,
    default_engine_dir,
)
from rtmotion.pose.person_rule import PERSON_PROBLEM, PERSON_RULES, parse_person  # noqa: F401 (PERSON_RULES re-exported)

_SIZE_RE = re.compile(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*")

KERNEL_CHOICES: tuple[str, ...] = ("auto", "numpy", "torch", "cupy")
#: Pose normalization modes: a copy of `rtmotion.pose.normalize.MODES` (importing that would load
#: torch when the parser is built); tests/pipeline/test_convert.py keeps the two equal.
NORMALIZE_MODES: tuple[str, ...] = ("auto", "edn", "retarget", "upper")
DEVICE_HELP = "where to run: auto (a CUDA GPU when there is one), cpu, cuda or cuda:N"


def parse_size(text: str, *, lo: int = 2, hi: int = 8192, square: bool = False) -> tuple[int, int]:
    """"WxH" (or "N" for N x N when `square`) -> (width, height) in pixels.

    ValueError "not WIDTHxHEIGHT" / "out of range" (each side lo..hi) for anything else.
    """
    m = _SIZE_RE.fullmatch(text)
    if not m or (m.group(2) is None and not square):
        raise ValueError("not WIDTHxHEIGHT" + (" or SIZE" if square else ""))
    w = int(m.group(1))
    h = int(m.group(2) or w)
    if not (lo <= w <= hi and lo <= h <= hi):
        raise ValueError(f"out of range (width and height must be {lo}..{hi} pixels)")
    return w, h


def size_type(*, lo: int = 2, hi: int = 8192, square: bool = False) -> Callable[[str], tuple[int, int]]:
    """An argparse `type=` for sizes (see `parse_size`): a bad value is argparse's usage error."""
    def convert(text: str) -> tuple[int, int]:
        try:
            return parse_size(text, lo=lo, hi=hi, square=square)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"{text!r}: {e}, e.g. 256x256") from None
    convert.__name__ = "size"  # argparse names the type in its error message
    return convert


def parse_fps(text: str) -> Fraction:
    """"30", "29.97", "30000/1001" -> a positive Fraction (ValueError otherwise)."""
    try:
        v = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError("not a number") from None
    if "/" not in text:
        v = v.limit_denominator(1001)
    if v <= 0:
        raise ValueError("out of range")
    return v


def fps_type(text: str) -> Fraction:
    """An argparse `type=` for frame rates (see `parse_fps`)."""
    try:
        return parse_fps(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"fps {text!r}: {e}, e.g. 30 or 30000/1001") from None


def add_normalize_mode(parser: argparse.ArgumentParser, *flags: str) -> None:
    """`--mode` (plus any extra `flags`, e.g. "-m"): how source poses map to the target."""
    parser.add_argument("--mode", *flags, choices=NORMALIZE_MODES, default="auto",
                        help="pose normalization mode (auto, EDN's global, bone retargeting, "
                             "upper body)")


#: The shipped demo subject (rtmotion/data/subjects/): what `rtmotion bench` runs when no -t.
DEMO_SUBJECT = "demo-ada"


def person_type(text: str) -> str | int:
    """`--person`: `rtmotion.pose.person_rule.parse_person` (argparse names the flag itself)."""
    try:
        return parse_person(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {PERSON_PROBLEM}") from None


def add_person(parser: argparse.ArgumentParser, what: str = "poses come from") -> None:
    """`--person`: who drives when the video shows several people."""
    parser.add_argument("--person", type=person_type, default="auto", metavar="auto|largest|center|N",
                        help=f"when the video shows several people, whom the {what}: auto (the "
                             "most central and largest, default), largest, center, or N (the "
                             "N-th from the left). People are found on a few frames near the "
                             "start and followed in a crop; with one person nothing changes")


def add_subject(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """`-t/--subject`: the subject a command drives (a bundle folder or a shipped name);
    not `required`: None when not given (the command says what it uses instead)."""
    parser.add_argument("-t", "--subject", required=required, default=None,
                        help="subject bundle folder or the name of a shipped subject"
                             + ("" if required else f" (default: the shipped demo subject {DEMO_SUBJECT})"))


def add_no_detail(parser: argparse.ArgumentParser) -> None:
    """--no-detail: the person only enlarged, without the keyframes' full-resolution detail
    (`rtmotion.pipeline.detail`)."""
    parser.add_argument("--no-detail", action="store_true",
                        help="do not add the keyframes' full-resolution detail to the person "
                             "(the model frame only enlarged: a few ms less per frame at a "
                             "large output)")


def add_torch_threads(parser: argparse.ArgumentParser) -> None:
    """`--torch-threads`: torch intra-op threads per pipeline stage while it runs."""
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads per stage (1: the stages share the cores without fighting)")


def add_device(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """`--device`: checked when the command runs (an absent GPU is a clear error, not a fall back)."""
    parser.add_argument("--device", default=default, help=DEVICE_HELP)


def add_kernels(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """`--kernels`: the implementation of conditioning maps, pose flow and warp."""
    parser.add_argument("--kernels", choices=KERNEL_CHOICES, default=default,
                        help="kernel implementation (auto: CuPy with a CUDA GPU, else numpy for "
                             "maps and torch for flow and warp)")


def add_engine_options(parser: argparse.ArgumentParser, backend: str = EngineRequest.backend,
                       precision: str = EngineRequest.precision, threads: bool = True) -> None:
    """`--backend`, `--precision`, `--engine-dir`, `--threads`: which runtime runs the generator
    (read back with `engine_request`).

    A compiled engine is built on first use into the engine cache and reused after; a GPU
    backend that cannot run here is an error, never a silent fall back to the CPU.
    """
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default=backend,
                        help="generator runtime (auto: the fastest built for this machine: "
                             "TensorRT, then AOTInductor or torch on CUDA; on the CPU the fastest "
                             "measured of ONNX Runtime fp32/INT8 and AOTInductor)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default=precision,
                        help="generator precision (fp16/bf16 need CUDA; int8 needs a calibration "
                             "set from `rtmotion calibrate`; auto picks per backend)")
    add_engine_dir(parser)
    if threads:
        parser.add_argument("--threads", type=int, default=EngineRequest.threads,
                            help="CPU threads of ONNX Runtime / AOTInductor (0: the library default)")


def add_engine_dir(parser: argparse.ArgumentParser) -> None:
    """`--engine-dir`: the engine cache folder (default: the user's, read from the environment
    when the parser is built)."""
    parser.add_argument("--engine-dir", type=Path, default=default_engine_dir(),
                        help="engine cache folder: engines are built here on first use and reused "
                             f"from any working folder (the cache root is {CACHE_DIR_HELP})")


def add_calibration_dir(parser: argparse.ArgumentParser, *flags: str, help: str) -> None:
    """`--calibration-dir` (or `flags`): the root of calibration sets (default: the user's
    cache, beside the engines)."""
    parser.add_argument(*(flags or ("--calibration-dir",)), type=Path,
                        default=default_calibration_dir(), help=help)


def engine_request(args: argparse.Namespace, **fixed: Any) -> EngineRequest:
    """The `EngineRequest` a command line asked for: the ONE place one is built from options.

    Reads --backend, --precision, --device, --engine-dir and --threads where the command has
    them; `fixed` sets fields the command decides itself (e.g. bench's matrix); the rest keep
    EngineRequest's defaults."""
    given = {name: getattr(args, name) for name in _REQUEST_FIELDS
             if getattr(args, name, None) is not None}
    return EngineRequest(**{**given, **fixed})


_REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(EngineRequest))
