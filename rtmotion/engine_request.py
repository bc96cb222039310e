"""What a caller asks of the generator's runtime: `EngineRequest`, and the facts it is checked
against (the backend x precision table, the engine cache folder). Standard library only, so
the command line parser can build its choices from here without loading torch.

    request = EngineRequest(backend="auto", precision="auto", device="auto")  # the CLI's default
    session = open_session(subject, request)            # rtmotion.pipeline.session

The fields stay strings as the user typed them ("auto", an alias such as "ort"); the one place
that resolves them is `rtmotion.export.open_engine` (it builds what is missing into
`engine_dir`, picks for "auto", and says why).

Two defaults, both defined here:
- `EngineRequest()`: what a command runs when the user names nothing (`auto` everywhere: the
  fastest engine built for this machine, built on first use into the user's engine cache,
  `default_engine_dir()`, shared by every working folder);
- `EAGER_CPU`: what a library call runs when its caller names nothing: the eager PyTorch
  generator in fp32 on the CPU (nothing is built, nothing is written, the same on every machine).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The generator runtimes, in the order `rtmotion bench --backends all` runs them.
BACKENDS: tuple[str, ...] = ("torch", "onnxruntime", "aoti", "tensorrt")
#: Other names users type for them.
BACKEND_ALIASES: dict[str, str] = {"ort": "onnxruntime", "onnx": "onnxruntime", "pytorch": "torch",
                                   "trt": "tensorrt", "aotinductor": "aoti"}
#: Every precision a generator is run in.
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16", "int8")
#: The backend x precision table: what each backend builds and runs (its usual one first).
BACKEND_PRECISIONS: dict[str, tuple[str, ...]] = {
    "torch": ("fp32", "fp16", "bf16"),
    "onnxruntime": ("fp32", "int8"),
    "aoti": ("fp32", "fp16", "bf16"),
    "tensorrt": ("fp16", "fp32", "int8"),
}
#: Precisions that need a CUDA device.
CUDA_PRECISIONS: tuple[str, ...] = ("fp16", "bf16")
#: The command line's choices ("auto" first).
BACKEND_CHOICES: tuple[str, ...] = ("auto", *BACKENDS)
PRECISION_CHOICES: tuple[str, ...] = ("auto", *PRECISIONS)
#: The environment variable that moves rtmotion's per-user cache (engines, calibration sets).
CACHE_DIR_ENV = "RTMOTION_CACHE_DIR"
#: How the command line's help names the default cache folders.
CACHE_DIR_HELP = f"${CACHE_DIR_ENV}, else $XDG_CACHE_HOME/rtmotion, else ~/.cache/rtmotion"


def user_cache_dir() -> Path:
    """rtmotion's per-user cache folder, read from the environment at each call:
    $RTMOTION_CACHE_DIR when set, else $XDG_CACHE_HOME/rtmotion (an absolute XDG path only, as
    the XDG base directory spec asks), else ~/.cache/rtmotion. Not created here."""
    own = os.environ.get(CACHE_DIR_ENV, "").strip()
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "rtmotion"
    return Path.home() / ".cache" / "rtmotion"


def default_engine_dir() -> Path:
    """The engine cache folder when none is given (`user_cache_dir() / "engines"`): compiled
    engines are built there on first use and reused by every working folder of this user."""
    return user_cache_dir() / "engines"


def default_calibration_dir() -> Path:
    """The root of calibration sets when none is given (`user_cache_dir() / "calibration"`; a
    subject's INT8 calibration set: DIR/<subject>/<W>x<H>.npz), beside the engines it feeds."""
    return user_cache_dir() / "calibration"


@dataclass(frozen=True)
class EngineRequest:
    """Which runtime runs a subject's generator, as asked (resolved by `open_engine`).

    Attributes:
        backend: "auto" or one of BACKENDS (aliases in BACKEND_ALIASES accepted).
        precision: "auto" or one of PRECISIONS (BACKEND_PRECISIONS says which backend runs which).
        device: "auto", "cpu", "cuda" or "cuda:N" (`rtmotion.devices.resolve_device`).
        engine_dir: the engine cache folder (None: `default_engine_dir()`, read when the
            request is made).
        threads: CPU intra-op threads of ONNX Runtime / AOTInductor (0: the library default).
    """

    backend: str = "auto"
    precision: str = "auto"
    device: str = "auto"
    engine_dir: Path = None  # type: ignore[assignment]  # None -> default_engine_dir()
    threads: int = 0

    def __post_init__(self) -> None:
        # Paths and devices arrive as str, Path or torch.device: keep one type per field.
        object.__setattr__(self, "engine_dir",
                           Path(self.engine_dir) if self.engine_dir else default_engine_dir())
        object.__setattr__(self, "device", str(self.device))
        object.__setattr__(self, "threads", int(self.threads or 0))

    def but(self, **changes: Any) -> EngineRequest:
        """A copy with some fields changed (`request.but(backend="onnxruntime")`)."""
        return dataclasses.replace(self, **changes)

    def threads_or(self, threads: int | None) -> EngineRequest:
        """This request, with `threads` intra-op threads when it names none (0) and `threads`
        is given. The pipelines run each stage on its own core (torch's threads set to 1):
        their generator then keeps to one thread too, instead of taking the core another stage
        works on (live on the 2-core dev CPU: capture-to-display p95 135-139 ms with one
        ONNX Runtime thread, 152-159 ms with its default two; docs/BENCHMARKS.md "Live
        pacing")."""
        if self.threads or not threads:
            return self
        return self.but(threads=int(threads))

    def __str__(self) -> str:
        return f"{self.backend}/{self.precision} on {self.device}"


#: What a library call runs when its caller names no engine (module docstring).
EAGER_CPU = EngineRequest(backend="torch", precision="fp32", device="cpu")


def canonical_backend_name(name: str) -> str | None:
    """The table's name of a backend name or alias ("ort" -> "onnxruntime"); None if unknown."""
    key = BACKEND_ALIASES.get(str(name).lower(), str(name).lower())
    return key if key in BACKENDS else None
