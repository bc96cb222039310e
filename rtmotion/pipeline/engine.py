"""The ONE place the pipeline creates generator runners: `rtmotion.export.open_engine`.

`convert`, `live`, `bench` and `demo` all call `open_runner`: a compiled engine (ONNX Runtime
fp32/INT8, AOTInductor, TensorRT) is built into the engine cache under `--engine-dir` on first
use and loaded from it afterwards; `auto` picks the fastest built for this machine and says why.
A GPU backend that was asked for and cannot run is an error, never a silent fall back to the CPU.

`available_backends()` is the list `bench` iterates (`rtmotion.runtime.BACKENDS`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from rtmotion import runtime
from rtmotion.export import EngineChoice, open_engine
from rtmotion.runtime.base import GeneratorRunner
from rtmotion.subject import Subject

log = logging.getLogger(__name__)

DEFAULT_ENGINE_DIR = "engines"


def available_backends() -> tuple[str, ...]:
    """Backend names the runtime knows (data-driven: `rtmotion.runtime.BACKENDS`)."""
    return tuple(runtime.BACKENDS)


def open_runner(subject: Subject, backend: str = "torch", precision: str = "fp32",
                device: str = "cpu", engine_dir: str | Path | None = DEFAULT_ENGINE_DIR,
                threads: int = 0) -> tuple[GeneratorRunner, str]:
    """An opened runner of `subject`'s generator, and a one-line description for summaries.

    Args:
        subject: a loaded `rtmotion.subject.Subject`.
        backend: "auto", "torch", "onnxruntime", "aoti", "tensorrt" (aliases as in `get_backend`).
        precision: "auto", "fp32", "fp16", "bf16", "int8" (backend permitting).
        device: "auto", "cpu", "cuda[:N]".
        engine_dir: the engine cache (compiled engines are built here on first use).
        threads: CPU threads of ONNX Runtime / AOTInductor (0: the library default).
    Raises:
        InputError / MissingDependencyError: a combination that cannot run here (one line).
    """
    runner, choice = open_engine(subject, backend, precision, device,
                                 Path(engine_dir or DEFAULT_ENGINE_DIR), threads)
    runner.open()
    log.info("generator: %s", choice.reason)
    return runner, describe_choice(choice)


def describe_choice(choice: EngineChoice) -> str:
    """"onnxruntime int8 on cpu" (the summary's backend line)."""
    return f"{choice.backend} {choice.precision} on {choice.device}"
