"""Write-to-temporary-then-rename, so a failed run never leaves a half-written file under the
final name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rtmotion.errors import OutputError


def check_writable(path: str | Path) -> Path:
    """Fail early (before any work) if `path` cannot be created.

    Raises OutputError if the parent folder is missing and cannot be made, is not writable, or
    `path` is an existing directory.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "is a directory, expected a file name", "give a file path")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(path, f"cannot create folder {parent}: {e.strerror or e}") from None
    if not os.access(parent, os.W_OK):
        raise OutputError(path, f"folder {parent} is not writable", "choose another output path")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary name keeps `path`'s suffix (or `suffix`) so format-by-extension writers
    (PyAV, numpy) still work. On an exception the temporary file is removed.
    """
    path = check_writable(path)
    suffix = suffix if suffix is not None else path.suffix
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{suffix}",
                                        dir=path.parent)
    except OSError as e:
        raise OutputError(path, f"cannot create a file in {path.parent}: {e.strerror or e}",
                          "choose another output path") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
