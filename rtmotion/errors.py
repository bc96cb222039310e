"""Error classes. Every user-facing failure is one of these: the CLI prints `str(err)` on one
line and exits non-zero, so messages must name the file, say what is wrong and what to do."""

from __future__ import annotations

from pathlib import Path


class RtmotionError(Exception):
    """Base class of errors the CLI reports as one clear line (exit code `exit_code`)."""

    exit_code = 1


class InputError(RtmotionError):
    """A bad input file or argument: missing, empty, truncated, not a video, no person..."""

    exit_code = 2

    def __init__(self, path: str | Path | None, problem: str, hint: str = "") -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        self.hint = hint
        where = f"{self.path}: " if self.path else ""
        tail = f" ({hint})" if hint else ""
        super().__init__(f"{where}{problem}{tail}")


class OutputError(RtmotionError):
    """An output that cannot be written (unwritable folder, a directory in the way...)."""

    exit_code = 3

    def __init__(self, path: str | Path, problem: str, hint: str = "") -> None:
        self.path = str(path)
        tail = f" ({hint})" if hint else ""
        super().__init__(f"{self.path}: {problem}{tail}")


class CheckpointError(InputError):
    """A checkpoint or subject bundle of another model, another version, or damaged."""


class MissingDependencyError(RtmotionError):
    """An optional package is not installed; the message names the extra to install."""

    exit_code = 4

    def __init__(self, package: str, extra: str | tuple[str, ...], purpose: str) -> None:
        extras = (extra,) if isinstance(extra, str) else tuple(extra)
        how = " or ".join(f"'rtmotion[{e}]'" for e in extras)
        if not extras:  # a dependency of rtmotion itself: the install is incomplete
            how = f"{package} (rtmotion itself depends on it)"
        elif len(extras) > 1:
            how += " (the one matching torch's CUDA)"
        super().__init__(
            f"{package} is not installed, but {purpose} needs it "
            f"(install it with: pip install {how})"
        )


class StageError(RtmotionError):
    """A pipeline stage failed; carries the stage name so the caller knows where."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        self.stage = stage
        self.cause = cause
        super().__init__(f"stage '{stage}' failed: {cause}")
