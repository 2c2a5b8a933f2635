"""Local files written so that a crash never leaves half of one behind, and kept private."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

# Windows refuses to replace a file that another process (a virus scanner, a backup
# tool) holds open for a moment; a few short retries ride that out.
_REPLACE_RETRIES = 5
_REPLACE_WAIT_SECONDS = 0.05


def write_atomic(path: Path | str, data: bytes | str, mode: int = 0o600) -> None:
    """Replace `path` with `data` (str is written as UTF-8) in one step.

    Readers see the old content or the new one, never a mix: the data goes to a temporary
    file in the same folder (created with `mode`, so a secret is never readable by others,
    even briefly), is flushed and fsync'd, then renamed over `path` with `os.replace`.
    Missing parent folders are created, readable by the owner only.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A unique temporary name: two threads writing the same file must not share one.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def _replace(tmp: Path, path: Path) -> None:
    for attempt in range(_REPLACE_RETRIES):
        try:
            os.replace(tmp, path)
            return
        except PermissionError:
            if sys.platform != "win32" or attempt == _REPLACE_RETRIES - 1:
                raise
            time.sleep(_REPLACE_WAIT_SECONDS)


def sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows has no directory handles to sync)."""
    if sys.platform == "win32":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private(folder: Path | str) -> list[str]:
    """Take group and other permissions off `folder` and everything in it (POSIX; on Windows
    folders are protected by their ACLs instead). Symbolic links are left as they are. Returns
    what could not be changed, as "path: reason" lines."""
    if os.name != "posix":
        return []
    problems = []
    for path in [Path(folder), *Path(folder).rglob("*")]:
        try:
            status = path.lstat()
            if not path.is_symlink() and status.st_mode & 0o077:
                os.chmod(path, status.st_mode & 0o7700)
        except OSError as error:
            problems.append(f"{path}: {error.strerror}")
    return problems
