"""The two programs of a built install, side by side over one `_internal` folder.

- `messenger` (`messenger.exe`): the desktop client. On Windows a windowed program (no console
  flashes at sign-in, and closing a console cannot kill it); the shortcut, the Run value, the
  restart after an update and notifications all start this one.
- `messenger-cli` (`messenger-cli.exe`): a console program for everything printed or served:
  `--serve`, `admin`, `chat`, `update`, `local`, `--self-test`, `--version`.

On Linux and macOS both are console programs and run every command; on Windows the windowed one
has nowhere to print, so it refuses any command and says to use messenger-cli.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

DESKTOP = "messenger"
CONSOLE = "messenger-cli"
CONSOLE_ONLY = (f"{DESKTOP}.exe is the desktop client and has no console: run commands with "
                f"{CONSOLE}.exe from the same folder, e.g. \"{CONSOLE}.exe --serve\" or \"{CONSOLE}.exe admin --help\"")
EXIT_CONSOLE_ONLY = 2


def file_name(program: str, platform: str = sys.platform) -> str:
    return f"{program}.exe" if platform == "win32" else program


def desktop_command(executable: str = sys.executable, frozen: bool | None = None,
                    platform: str = sys.platform) -> list[str]:
    """What starts the desktop client: the windowed program next to this one when frozen (even
    when this is messenger-cli), else this Python on the sources."""
    frozen = getattr(sys, "frozen", False) if frozen is None else frozen
    if frozen:
        return [str(Path(executable).with_name(file_name(DESKTOP, platform)))]
    return [executable, "-m", "messenger"]


def console_command(executable: str = sys.executable, frozen: bool | None = None,
                    platform: str = sys.platform) -> list[str]:
    """What runs a command with a console (a server for `local`): messenger-cli when frozen."""
    frozen = getattr(sys, "frozen", False) if frozen is None else frozen
    if frozen:
        return [str(Path(executable).with_name(file_name(CONSOLE, platform)))]
    return [executable, "-m", "messenger"]


def is_windowed(executable: str = sys.executable, frozen: bool | None = None, platform: str = sys.platform) -> bool:
    """Whether this process is the Windows build's windowed messenger.exe (no console)."""
    frozen = getattr(sys, "frozen", False) if frozen is None else frozen
    return frozen and platform == "win32" and Path(executable).name.lower() == file_name(DESKTOP, platform)


def refuse_console_command(show: Callable[[str], object] | None = None) -> int:
    """The windowed program was given a command: say where it runs (a message box, since there is
    no console to print to) and return the exit status for it."""
    (show or _message_box)(CONSOLE_ONLY)
    return EXIT_CONSOLE_ONLY


def _message_box(text: str) -> None:
    if sys.platform != "win32":  # windll is Windows' only (and mypy reads what follows for Windows only)
        raise OSError("a message box is shown on Windows only")
    import ctypes

    MB_ICONINFORMATION = 0x40
    ctypes.windll.user32.MessageBoxW(None, text, "Messenger", MB_ICONINFORMATION)
