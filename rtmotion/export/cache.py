"""The engine cache: built artifacts + JSON sidecars, checked before every load.

Layout (default folder `engines/`, `--engine-dir`):

    engines/<subject>-<digest>/<kind>-<precision>-<device tag>-b<batch>-<W>x<H>.<ext>
    engines/<subject>-<digest>/<same name>.json       the sidecar
    engines/<subject>-<digest>/<same name>.lock       the build lock (empty file)

The sidecar records what the artifact was built from and for: the subject digest, the sha256
of the ONNX graph it came from (when it came from one), backend and its version, the machine
fingerprint (`rtmotion.export.machine`: host, torch and CUDA versions, CPU model + ISA flags or
GPU name + compute capability), precision, shapes, build time, and the sha256 and size of the
artifact itself.

`EngineCache.ensure(spec, build)` returns a verified artifact:
- no artifact or sidecar: build;
- a sidecar whose recorded key differs from this machine's (another machine, another torch,
  another subject...): one log line "rebuilding <file>: <field> is <recorded>, here <now>",
  then build;
- an artifact whose sha256 or size differs from its sidecar's (corrupt, truncated, or left
  half-replaced by a crash): one log line "rebuilding <file>: damaged ...", then build. An
  engine is never loaded before its hash is checked.
Builds hold an exclusive `fcntl.flock` on the .lock file, and the cache is re-checked once the
lock is held, so two processes asking for the same engine build it once; the artifact and then
its sidecar are each written to a temporary name and renamed into place (`rtmotion.atomic`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtmotion.atomic import atomic_path, check_writable
from rtmotion.errors import OutputError
from rtmotion.export.machine import file_sha256

log = logging.getLogger(__name__)

SIDECAR_FORMAT = "rtmotion-engine"
SIDECAR_VERSION = 1


@dataclass
class EngineSpec:
    """What to build, and the fields a cached engine must match to be reused.

    Attributes:
        folder: the subject's folder in the cache (`EngineCache.subject_dir`).
        stem: file name without extension, e.g. "aoti-fp32-cpu-b1-128x128".
        suffix: ".onnx", ".pt2", ".plan".
        key: JSON-able fields that must equal the sidecar's (subject digest, onnx sha256,
            backend and version, machine fingerprint, precision, shapes...).
    """

    folder: Path
    stem: str
    suffix: str
    key: dict[str, Any]

    @property
    def path(self) -> Path:
        return self.folder / f"{self.stem}{self.suffix}"

    @property
    def sidecar(self) -> Path:
        return self.folder / f"{self.stem}.json"

    @property
    def lock(self) -> Path:
        return self.folder / f"{self.stem}.lock"


@dataclass
class CachedEngine:
    """A verified artifact: its path, its sidecar's contents, and whether this call built it."""

    path: Path
    sidecar: dict[str, Any]
    built: bool
    reason: str = ""
    info: dict[str, Any] = field(default_factory=dict)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """A sidecar's contents, or None when missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def stale_reason(spec: EngineSpec, sidecar: dict[str, Any] | None) -> str | None:
    """Why a cached engine cannot be used (None: it can). Checks the sidecar's key, then the
    artifact's size and sha256."""
    if not spec.path.is_file() and sidecar is None:
        return "not built yet"
    if sidecar is None:
        return "its sidecar is missing or damaged"
    if sidecar.get("format") != SIDECAR_FORMAT or sidecar.get("version") != SIDECAR_VERSION:
        return f"sidecar format {sidecar.get('format')!r} v{sidecar.get('version')} is not this rtmotion's"
    recorded = sidecar.get("key") or {}
    for name, want in _jsonable(spec.key).items():
        got = recorded.get(name)
        if got != want:
            if isinstance(want, dict) and isinstance(got, dict):
                for sub, w in want.items():
                    if got.get(sub) != w:
                        return f"built for {name}.{sub} {_short(got.get(sub))}, here {_short(w)}"
            return f"built for {name} {_short(got)}, here {_short(want)}"
    if not spec.path.is_file():
        return "the engine file is missing"
    size = spec.path.stat().st_size
    if size != sidecar.get("artifact_bytes"):
        return (f"damaged: the engine file has {size} bytes, its sidecar says "
                f"{sidecar.get('artifact_bytes')} (truncated?)")
    if file_sha256(spec.path) != sidecar.get("artifact_sha256"):
        return "damaged: the engine file's sha256 differs from its sidecar's"
    return None


class EngineCache:
    """Built engines under one folder (see the module docstring)."""

    def __init__(self, root: str | Path = "engines") -> None:
        self.root = Path(root)

    def subject_dir(self, subject_name: str, digest: str) -> Path:
        return self.root / f"{subject_name}-{digest[:12]}"

    @contextlib.contextmanager
    def _locked(self, spec: EngineSpec) -> Iterator[None]:
        check_writable(spec.lock)
        with open(spec.lock, "a+b") as f:
            t0 = time.monotonic()
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("waiting for another process building %s", spec.path.name)
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
                log.info("lock on %s after %.1f s", spec.path.name, time.monotonic() - t0)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def lookup(self, spec: EngineSpec) -> tuple[dict[str, Any] | None, str | None]:
        """(sidecar, None) when the cached engine is usable, else (sidecar or None, reason)."""
        sidecar = read_sidecar(spec.sidecar)
        return sidecar, stale_reason(spec, sidecar)

    def ensure(self, spec: EngineSpec,
               build: Callable[[Path], dict[str, Any] | None]) -> CachedEngine:
        """The verified engine for `spec`, built (under the lock) when missing or stale.

        Args:
            spec: what to build and the key it must match.
            build: `build(tmp_path) -> extra sidecar fields` writes the artifact at `tmp_path`
                (a temporary name beside the final one, same suffix); raises to abort (nothing
                is left under the final name).
        """
        sidecar, reason = self.lookup(spec)
        if reason is None:
            log.debug("using cached engine %s", spec.path)
            return CachedEngine(spec.path, sidecar or {}, built=False)
        with self._locked(spec):
            # Another process may have built it while this one waited for the lock.
            sidecar, reason = self.lookup(spec)
            if reason is None:
                log.info("using %s (built by another process meanwhile)", spec.path)
                return CachedEngine(spec.path, sidecar or {}, built=False)
            if reason != "not built yet":
                log.warning("rebuilding %s: %s", spec.path, reason)
            else:
                log.info("building %s", spec.path)
            t0 = time.perf_counter()
            with atomic_path(spec.path, suffix=spec.suffix) as tmp:
                extra = build(tmp) or {}
                if not tmp.is_file() or tmp.stat().st_size == 0:
                    raise OutputError(spec.path, "the build wrote no engine",
                                      "see the log above for the builder's error")
                digest, size = file_sha256(tmp), tmp.stat().st_size
            seconds = time.perf_counter() - t0
            record = {
                "format": SIDECAR_FORMAT,
                "version": SIDECAR_VERSION,
                "artifact": spec.path.name,
                "artifact_sha256": digest,
                "artifact_bytes": size,
                "build_seconds": round(seconds, 2),
                "built": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "key": _jsonable(spec.key),
                **_jsonable(extra),
            }
            with atomic_path(spec.sidecar, suffix=".json") as tmp:
                tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            log.info("built %s in %.1f s", spec.path, seconds)
            return CachedEngine(spec.path, record, built=True,
                                reason=reason if reason != "not built yet" else "")

    def clean(self, subject_dir: Path | None = None) -> int:
        """Remove built engines (of one subject folder, or all); keeps README files. Returns
        the number of files removed."""
        targets = [subject_dir] if subject_dir is not None else (
            [p for p in self.root.iterdir() if p.is_dir()] if self.root.is_dir() else [])
        removed = 0
        for folder in targets:
            if folder is None or not folder.is_dir():
                continue
            removed += sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder)
        return removed
