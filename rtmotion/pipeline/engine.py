"""The ONE place the pipeline creates generator runners.

`convert`, `live`, `bench` and `demo` all call `open_runner`, so wiring compiled engines
(AOTInductor packages, ONNX Runtime INT8, TensorRT; the engine cache under `--engine-dir`) means
changing this function only. Today it calls `rtmotion.runtime.get_backend`.

`available_backends()` is the list `bench` iterates: it reads `rtmotion.runtime.BACKENDS`, so
backends added there appear in the benchmark matrix without a change here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rtmotion import runtime
from rtmotion.devices import resolve_device
from rtmotion.runtime.base import GeneratorRunner

log = logging.getLogger(__name__)

DEFAULT_ENGINE_DIR = "engines"


def available_backends() -> tuple[str, ...]:
    """Backend names the runtime knows (data-driven: `rtmotion.runtime.BACKENDS`)."""
    return tuple(getattr(runtime, "BACKENDS", ("torch",)))


def open_runner(subject: Any, backend: str = "torch", precision: str = "fp32",
                device: str = "cpu", engine_dir: str | Path | None = DEFAULT_ENGINE_DIR,
                ) -> tuple[GeneratorRunner, str]:
    """An opened runner of `subject`'s generator, and a one-line description for summaries.

    Args:
        subject: a loaded `rtmotion.subject.Subject`.
        backend: a name from `available_backends()` (aliases as in `get_backend`).
        precision: "fp32", "fp16", "bf16" (torch), or what a compiled backend supports.
        device: "auto", "cpu", "cuda[:N]".
        engine_dir: where built engines are cached (accepted now; compiled backends use it once
            the engine work is merged).
    Raises:
        InputError for an unknown backend or an unsupported precision (one clear line).
    """
    dev = resolve_device(device)
    runner = runtime.get_backend(backend, subject, dev, precision=precision)
    runner.open()
    info = runner.describe()
    desc = f"{info.get('backend', backend)} {precision} on {info.get('device', dev)}"
    log.debug("generator runner: %s (engine dir %s)", desc, engine_dir)
    return runner, desc
