"""The engine cache: built artifacts + JSON sidecars, checked before every load.

Layout (default folder: `rtmotion.engine_request.default_engine_dir()`, the user's cache
~/.cache/rtmotion/engines shared by every working folder; `--engine-dir` picks another):

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
A build that fails (the builder raises: a compiler error, a parity or NaN check, a package
that ends the process that loads it) leaves nothing under the final name and writes
`<same name>.failed.json`: the reason (one line), the machine (the key's fingerprint), the
rtmotion version and the time. `ensure(..., skip_failed=True)` (what `--backend auto` uses)
then raises `KnownBuildFailure` at once instead of paying the compile and the checks again on
every start; the record is ignored once its key no longer matches (another machine, torch,
TensorRT or subject) or rtmotion's version changed, removed by `rtmotion build --clean`
(`EngineCache.clean`), and replaced by a successful build. An explicit request
(`skip_failed=False`, e.g. `--backend aoti`) always tries again.

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

from rtmotion import __version__
from rtmotion.atomic import atomic_path, check_writable
from rtmotion.engine_request import default_engine_dir
from rtmotion.errors import OutputError, RtmotionError
from rtmotion.export.machine import file_sha256

log = logging.getLogger(__name__)

SIDECAR_FORMAT = "rtmotion-engine"
SIDECAR_VERSION = 1
FAILURE_FORMAT = "rtmotion-engine-failure"


class EngineBuildError(RtmotionError):
    """Building an engine failed (parse, compile, load or check); the cache remembers it."""


class KnownBuildFailure(RtmotionError):
    """This engine failed to build on this machine before (`ensure(skip_failed=True)`)."""

    def __init__(self, spec: EngineSpec, record: dict[str, Any]) -> None:  # noqa: D107
        self.record = record
        super().__init__(
            f"{spec.path.name} failed to build on this machine before ({record.get('failed')}: "
            f"{record.get('reason')}); not tried again until `rtmotion build SUBJECT --clean` "
            f"or another rtmotion version")


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

    @property
    def failure(self) -> Path:
        return self.folder / f"{self.stem}.failed.json"


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


def _machine_summary(key: dict[str, Any]) -> str:
    m = key.get("machine") or {}
    what = m.get("gpu") or m.get("cpu_model") or "?"
    return f"{m.get('host', '?')}: {what}, torch {m.get('torch', '?')}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


def read_failure(spec: EngineSpec) -> dict[str, Any] | None:
    """The failure record of `spec` when it still applies (same key: machine, versions,
    subject...; same rtmotion version), else None."""
    rec = read_sidecar(spec.failure)
    if rec is None or rec.get("format") != FAILURE_FORMAT:
        return None
    if rec.get("rtmotion") != __version__ or rec.get("key") != _jsonable(spec.key):
        return None
    return rec


def record_failure(spec: EngineSpec, exc: BaseException) -> dict[str, Any]:
    """Write `spec`'s failure record (reason, machine, versions, time) and return it."""
    rec = {"format": FAILURE_FORMAT, "artifact": spec.path.name, "reason": _one_line(exc),
           "machine": _machine_summary(spec.key), "rtmotion": __version__,
           "failed": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "key": _jsonable(spec.key)}
    try:
        with atomic_path(spec.failure, suffix=".json") as tmp:
            tmp.write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
    except (OSError, RtmotionError) as e:  # remembering is a convenience: never hide the cause
        log.warning("could not record the failed build of %s: %s", spec.path.name, e)
    return rec


class EngineCache:
    """Built engines under one folder (see the module docstring)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_engine_dir()
        #: what this cache object built (artifact path, seconds), in order: a run's summary
        #: reports build time apart from its speed
        self.builds: list[tuple[Path, float]] = []

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

    def ensure(self, spec: EngineSpec, build: Callable[[Path], dict[str, Any] | None],
               skip_failed: bool = False) -> CachedEngine:
        """The verified engine for `spec`, built (under the lock) when missing or stale.

        Args:
            spec: what to build and the key it must match.
            build: `build(tmp_path) -> extra sidecar fields` writes the artifact at `tmp_path`
                (a temporary name beside the final one, same suffix); raises to abort (nothing
                is left under the final name, and the failure is recorded).
            skip_failed: raise KnownBuildFailure without building when this build failed on
                this machine before (`--backend auto`); False tries again (an explicit request).
        Raises:
            KnownBuildFailure: skip_failed and a failure record that still applies.
            EngineBuildError: the build raised something that is not an RtmotionError (the
                cause is chained); RtmotionErrors (ParityError...) pass through unchanged.
        """
        sidecar, reason = self.lookup(spec)
        if reason is None:
            log.debug("using cached engine %s", spec.path)
            return CachedEngine(spec.path, sidecar or {}, built=False)
        if skip_failed and (failed := read_failure(spec)) is not None:
            raise KnownBuildFailure(spec, failed)
        with self._locked(spec):
            # Another process may have built it while this one waited for the lock.
            sidecar, reason = self.lookup(spec)
            if reason is None:
                log.info("using %s (built by another process meanwhile)", spec.path)
                return CachedEngine(spec.path, sidecar or {}, built=False)
            if skip_failed and (failed := read_failure(spec)) is not None:
                raise KnownBuildFailure(spec, failed)
            if reason != "not built yet":
                log.warning("rebuilding %s: %s", spec.path, reason)
            else:
                log.info("building %s", spec.path)
            t0 = time.perf_counter()
            try:
                with atomic_path(spec.path, suffix=spec.suffix) as tmp:
                    extra = build(tmp) or {}
                    if not tmp.is_file() or tmp.stat().st_size == 0:
                        raise OutputError(spec.path, "the build wrote no engine",
                                          "see the log above for the builder's error")
                    digest, size = file_sha256(tmp), tmp.stat().st_size
            except Exception as e:  # noqa: BLE001 - remembered, then raised again
                rec = record_failure(spec, e)
                log.warning("building %s failed (%s); recorded in %s", spec.path.name,
                            rec["reason"], spec.failure.name)
                if isinstance(e, RtmotionError):
                    raise
                raise EngineBuildError(f"building {spec.path.name} failed: {rec['reason']}") from e
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
            spec.failure.unlink(missing_ok=True)
            log.info("built %s in %.1f s", spec.path, seconds)
            self.builds.append((spec.path, seconds))
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
