"""Which processes run from an install folder, so an update never swaps files under one of them.

A PyInstaller onedir program reads its own files long after it started (later imports, Qt
plugins): a `messenger-cli --serve`, a `messenger-cli chat` or the tray client still running
from the old files would fail at its next import if an update swapped them. So every process of
a frozen install marks the folder as in use for as long as it runs (`hold()`, at start), and
`alone()` says whether the caller is its only user, keeping others from starting meanwhile:

- Windows: a named mutex per install folder (Global\\, so a service in session 0 and the tray
  client of a signed-in user see each other). Each process keeps a handle open; the object
  existing before the applier creates it means another process has it. The applier owns it while
  it swaps, and a process starting meanwhile waits for that ownership to end.
- Elsewhere: `<install>.in-use` beside the folder (inside, it would travel into the bundles built
  from dist/), a shared flock per process; the applier needs the exclusive lock, and starting
  processes wait for their shared one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".in-use"
START_WAIT_SECONDS = 60  # a swap takes seconds; a process starting meanwhile waits this long at most
ERROR_ALREADY_EXISTS = 183
WAIT_OBJECT_0, WAIT_ABANDONED = 0x0, 0x80

_held: "InstallUse | None" = None


def mutex_name(install_dir: Path) -> str:
    """One name per install folder, whatever its spelling (Windows paths ignore case)."""
    folder = os.path.normcase(os.path.abspath(install_dir))
    return "Global\\messenger-install-" + hashlib.sha256(folder.encode("utf-8")).hexdigest()[:32]


class Win32Mutexes:
    """The four kernel32 calls, the boundary tests replace with a fake."""

    def __init__(self):
        import ctypes
        from ctypes import wintypes

        self._ctypes = ctypes
        self.kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        self.kernel32.CreateMutexW.restype = wintypes.HANDLE
        self.kernel32.CreateMutexW.argtypes = [ctypes.c_void_p, wintypes.BOOL, wintypes.LPCWSTR]
        self.kernel32.WaitForSingleObject.argtypes = [wintypes.HANDLE, wintypes.DWORD]
        self.kernel32.ReleaseMutex.argtypes = [wintypes.HANDLE]
        self.kernel32.CloseHandle.argtypes = [wintypes.HANDLE]

    def create(self, name: str, owned: bool) -> tuple[int | None, bool]:
        """(handle or None, whether the mutex existed before: another process has it). Access
        denied (a service's mutex) gives no handle and counts as existing."""
        handle = self.kernel32.CreateMutexW(None, owned, name)
        error = self._ctypes.get_last_error()
        return handle or None, handle is None or not handle or error == ERROR_ALREADY_EXISTS

    def wait(self, handle: int, seconds: float) -> bool:
        return self.kernel32.WaitForSingleObject(handle, int(seconds * 1000)) in (WAIT_OBJECT_0, WAIT_ABANDONED)

    def release(self, handle: int) -> None:
        self.kernel32.ReleaseMutex(handle)

    def close(self, handle: int) -> None:
        self.kernel32.CloseHandle(handle)


class InstallUse:
    """This process's mark on the install folder `install_dir`."""

    def __init__(self, install_dir: Path, *, platform: str = sys.platform, mutexes=None):
        self.install_dir = Path(install_dir)
        self.windows = platform == "win32"
        self._mutexes = mutexes if mutexes is not None or not self.windows else Win32Mutexes()
        self._handle = None
        self._fd: int | None = None

    @property
    def lock_file(self) -> Path:
        return self.install_dir.with_name(self.install_dir.name + LOCK_SUFFIX)

    def hold(self, wait_seconds: float = START_WAIT_SECONDS) -> None:
        """Mark the folder in use by this process, after waiting out an update being swapped in."""
        if self.windows:
            self._handle, _ = self._mutexes.create(mutex_name(self.install_dir), False)
            if self._handle is not None and self._mutexes.wait(self._handle, wait_seconds):
                self._mutexes.release(self._handle)  # no swap under way (or it just ended)
            return
        import fcntl

        try:
            self._fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return  # a folder this user cannot write is not updated by this user either
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    log.warning("install in use: an update swap in %s takes too long; starting anyway", self.install_dir)
                    return
                time.sleep(0.1)

    @contextmanager
    def alone(self):
        """Yields whether no other process of this install runs; while it is True, a process
        that starts waits (in `hold()`) for the block to end. A process that does not hold the
        folder (a test, an updater of another folder) lets go of it afterwards."""
        held = self._handle is not None or self._fd is not None
        if self.windows:
            if self._handle is not None:
                self._mutexes.close(self._handle)
            self._handle, others = self._mutexes.create(mutex_name(self.install_dir), True)
            try:
                yield not others
            finally:
                if not others:
                    self._mutexes.release(self._handle)
                if not held:
                    self.close()
            return
        import fcntl

        if self._fd is None:
            try:
                self._fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                yield True  # nothing to lock with: the updater finds the folder unwritable itself
                return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            alone = False
        try:
            yield alone
        finally:
            if held:
                fcntl.flock(self._fd, fcntl.LOCK_SH)  # back to an ordinary user of the folder
            else:
                self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._mutexes.close(self._handle)
            self._handle = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def hold(install_dir: Path) -> InstallUse:
    """At the start of every process of a frozen install: this process uses it until it ends."""
    global _held
    _held = InstallUse(install_dir)
    _held.hold()
    return _held


def for_folder(install_dir: Path) -> InstallUse:
    """This process's mark on `install_dir`, or a new one (a folder this process does not run from)."""
    if _held is not None and _held.install_dir == Path(install_dir):
        return _held
    return InstallUse(install_dir)
