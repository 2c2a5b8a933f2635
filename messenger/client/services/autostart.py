"""Start the tray client when the user logs in (the "start at login" setting).

- Windows: the value `Messenger` under HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run,
  the quoted path of the installed program. A per-machine MSI may also write an HKLM Run value
  named `Messenger` (IT's choice for every user): it is left alone, shown as `machine_wide`,
  and a second start of the program only brings the first one forward.
- Linux: an XDG autostart entry, $XDG_CONFIG_HOME/autostart/messenger.desktop.
- macOS: a LaunchAgent, ~/Library/LaunchAgents/<LABEL>.plist.

The command is the frozen desktop program (`messenger.exe`, windowed on Windows), or `python -m messenger` when running from the sources.
No Qt here: the settings dialog applies the setting, and the app reconciles it at start.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from pathlib import Path

from messenger.core.files import write_atomic
from messenger.programs import desktop_command

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "Messenger"
DESKTOP_FILE = "messenger.desktop"
LABEL = "com.messenger.client"
# Characters that make the Desktop Entry spec's Exec argument need quotes.
EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def program_command() -> list[str]:
    """What starts the tray client: the frozen windowed program (messenger.exe, also when this
    is messenger-cli), or this Python on the sources."""
    return desktop_command()


def windows_command_line(command: list[str]) -> str:
    """The Run value: the program's path always in quotes (a path with spaces unquoted would
    start C:\\Program), then the arguments with Windows' own quoting."""
    program, *arguments = command
    return " ".join([f'"{program}"', *([subprocess.list2cmdline(arguments)] if arguments else [])])


def desktop_exec(command: list[str]) -> str:
    """The Exec= value of a desktop entry, quoted and escaped as the Desktop Entry spec says
    (argument quoting, then the string escape of backslashes, and %% for a literal %)."""
    def argument(text: str) -> str:
        if EXEC_RESERVED & set(text):
            text = '"' + "".join("\\" + c if c in '"`$\\' else c for c in text) + '"'
        return text.replace("%", "%%")

    return " ".join(argument(part) for part in command).replace("\\", "\\\\")


def desktop_entry(command: list[str]) -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=Messenger",
        f"Exec={desktop_exec(command)}",
        "X-GNOME-Autostart-enabled=true",
        "NoDisplay=true",
        "",
    ])


def launch_agent(command: list[str]) -> bytes:
    return plistlib.dumps({"Label": LABEL, "ProgramArguments": list(command), "RunAtLoad": True,
                           "ProcessType": "Interactive"})


class Autostart:
    """Start at login for this user; `home`/`config_home` point elsewhere (tests, a portable
    install), `platform` picks the mechanism (default: this system's)."""

    def __init__(self, command: list[str] | None = None, *, platform: str = sys.platform,
                 home: Path | None = None, config_home: Path | None = None):
        self.command = command or program_command()
        self.platform = platform
        self.home = Path(home) if home else Path.home()
        xdg = config_home or os.environ.get("XDG_CONFIG_HOME") or self.home / ".config"
        self.config_home = Path(xdg)

    @property
    def path(self) -> Path | None:
        """The file that makes it start (None on Windows: a registry value)."""
        if self.platform == "win32":
            return None
        if self.platform == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        return self.config_home / "autostart" / DESKTOP_FILE

    def enable(self) -> None:
        """Start at login from now on (rewritten each time: the program may have moved)."""
        if self.platform == "win32":
            self._set_run_value(windows_command_line(self.command))
        elif self.platform == "darwin":
            write_atomic(self.path, launch_agent(self.command), mode=0o644)
        else:
            write_atomic(self.path, desktop_entry(self.command), mode=0o644)

    def disable(self) -> None:
        if self.platform == "win32":
            self._set_run_value(None)
        else:
            self.path.unlink(missing_ok=True)

    def is_enabled(self) -> bool:
        if self.platform == "win32":
            return self._run_value("HKEY_CURRENT_USER") is not None
        return self.path.exists()

    @property
    def machine_wide(self) -> bool:
        """Whether the installer made it start for every user (HKLM): not ours to undo."""
        return self.platform == "win32" and self._run_value("HKEY_LOCAL_MACHINE") is not None

    @staticmethod
    def _run_value(hive: str) -> str | None:
        import winreg  # Windows only

        try:
            with winreg.OpenKey(getattr(winreg, hive), RUN_KEY) as key:
                return winreg.QueryValueEx(key, RUN_VALUE)[0]
        except OSError:
            return None

    @staticmethod
    def _set_run_value(command_line: str | None) -> None:
        import winreg  # Windows only

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            if command_line is not None:
                winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, command_line)
                return
            try:
                winreg.DeleteValue(key, RUN_VALUE)
            except FileNotFoundError:
                pass
