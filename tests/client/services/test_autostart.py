"""Start at login: the real XDG autostart file, the LaunchAgent written into a temporary home,
the Windows Run value's quoting, the installer's presets (defaults at every start) and IT's policies."""

import plistlib
import sys
from pathlib import Path

import pytest

from messenger.client.services import autostart as autostart_module
from messenger.client.services.autostart import (
    LABEL,
    Autostart,
    desktop_exec,
    program_command,
    windows_command_line,
)
from messenger.client.services.settings import ClientSettings, installer_presets, policies

SPACED = ["/opt/My Apps/메신저 1.0/messenger"]


def exec_arguments(entry: str) -> list[str]:
    """Read Exec= back as the Desktop Entry spec says a launcher does: the string unescape
    (\\\\ is \\), then arguments split on spaces outside double quotes, where \\ escapes
    " ` $ and \\; then %% is %."""
    [line] = [line for line in entry.splitlines() if line.startswith("Exec=")]
    value = line[len("Exec="):].replace("\\\\", "\\")
    arguments, current, quoted, chars = [], "", False, iter(value)
    for char in chars:
        if quoted and char == "\\":
            current += next(chars)
        elif char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            arguments.append(current)
            current = ""
        else:
            current += char
    return [part.replace("%%", "%") for part in [*arguments, current]]


def test_the_linux_entry_is_created_in_xdg_config_home_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    autostart = Autostart(SPACED, platform="linux")
    assert not autostart.is_enabled()

    autostart.enable()

    entry = tmp_path / "xdg" / "autostart" / "messenger.desktop"
    assert autostart.path == entry and autostart.is_enabled()
    text = entry.read_text(encoding="utf-8")
    assert text.startswith("[Desktop Entry]\n") and "Type=Application\n" in text
    assert 'Exec="/opt/My Apps/메신저 1.0/messenger"\n' in text
    assert exec_arguments(text) == SPACED
    assert oct(entry.stat().st_mode & 0o777) == "0o644"

    autostart.disable()
    assert not entry.exists() and not autostart.is_enabled()
    autostart.disable()  # nothing left to remove: no error


def test_exec_quoting_keeps_every_special_character():
    command = ["/home/kim/it's $HOME/a\\b/\"messenger\"", "-m", "100%"]
    assert exec_arguments("Exec=" + desktop_exec(command)) == command
    assert desktop_exec(["/usr/bin/python3", "-m", "messenger"]) == "/usr/bin/python3 -m messenger"


def test_from_the_sources_the_entry_runs_python_on_the_package(tmp_path, monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert program_command() == [sys.executable, "-m", "messenger"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    # Frozen, the desktop program beside this one (messenger-cli, too, starts messenger at login).
    assert program_command() == [str(Path(sys.executable).with_name("messenger"))]


def test_the_macos_launch_agent_is_written_in_the_home_folder(tmp_path):
    autostart = Autostart(["/Applications/Messenger.app/Contents/MacOS/messenger"], platform="darwin",
                          home=tmp_path)
    autostart.enable()

    path = tmp_path / "Library" / "LaunchAgents" / f"{LABEL}.plist"
    assert autostart.path == path and autostart.is_enabled()
    agent = plistlib.loads(path.read_bytes())
    assert agent == {"Label": LABEL, "ProgramArguments": ["/Applications/Messenger.app/Contents/MacOS/messenger"],
                     "RunAtLoad": True, "ProcessType": "Interactive"}
    autostart.disable()
    assert not path.exists()


def test_the_windows_run_value_quotes_the_program_path():
    assert windows_command_line([r"C:\Program Files\Messenger\messenger.exe"]) == (
        r'"C:\Program Files\Messenger\messenger.exe"')
    assert windows_command_line([r"C:\Users\kim\AppData\Local\Programs\Messenger\messenger.exe", "--minimized",
                                 "a b"]) == (
        r'"C:\Users\kim\AppData\Local\Programs\Messenger\messenger.exe" --minimized "a b"')


def test_the_windows_branch_loads_on_linux_and_is_not_machine_wide_here():
    assert Autostart(platform="linux").machine_wide is False
    assert autostart_module.RUN_KEY == r"Software\Microsoft\Windows\CurrentVersion\Run"
    assert installer_presets() == {}  # no registry here


class FakeRegistry:
    """The registry as winreg would read it: {(hive, key): {value name: value}}."""

    def __init__(self, keys: dict):
        self.keys = keys

    def __call__(self, hive: str, key: str) -> dict:
        return dict(self.keys.get((hive, key), {}))


EXE_INSTALL = FakeRegistry({("HKEY_CURRENT_USER", r"Software\Messenger"): {
    "ServerUrl": "https://chat.office:5000 ", "UpdateChannel": "canary", "StartAtLogin": 1, "InstallDir": "C:\\x"}})


def test_installer_presets_are_the_defaults_of_what_the_user_has_not_chosen_at_every_start(tmp_path):
    presets = installer_presets("win32", EXE_INSTALL)
    assert presets == {"server_url": "https://chat.office:5000", "update_channel": "canary", "start_at_login": True}
    settings = ClientSettings(tmp_path / "settings.json")
    settings.use_machine_values(presets, {})
    assert (settings.server_url, settings.update_channel, settings.start_at_login) == (
        "https://chat.office:5000", "canary", True)
    assert not (tmp_path / "settings.json").exists()  # nothing chosen, nothing written

    settings.update(server_url="https://other.office", start_at_login=False)
    again = ClientSettings(tmp_path / "settings.json")  # the next start, after a reinstall with other presets
    again.use_machine_values({"server_url": "https://new.office", "update_channel": "stable",
                              "start_at_login": True}, {})
    assert (again.server_url, again.update_channel, again.start_at_login) == (
        "https://other.office", "stable", False)


def test_the_per_user_install_comes_before_the_machine_and_a_bad_preset_is_skipped(tmp_path, caplog):
    registry = FakeRegistry({
        ("HKEY_LOCAL_MACHINE", r"Software\Messenger"): {"ServerUrl": "https://machine.office", "UpdateChannel": "x"},
        ("HKEY_CURRENT_USER", r"Software\Messenger"): {"ServerUrl": "https://mine.office"}})
    presets = installer_presets("win32", registry)
    assert presets == {"server_url": "https://mine.office", "update_channel": "x"}
    settings = ClientSettings(tmp_path / "settings.json")
    settings.use_machine_values({**presets, "server_url": "ftp://nope"}, {})
    assert settings.server_url == "" and settings.update_channel == "stable"
    assert "ignoring installer preset server_url" in caplog.text
    assert installer_presets("linux", registry) == {} and policies("linux", registry) == {}


def test_policies_win_over_the_user_and_cannot_be_changed(tmp_path):
    registry = FakeRegistry({("HKEY_LOCAL_MACHINE", r"Software\Policies\Messenger"): {
        "ServerUrl": "https://it.office", "UpdateChannel": "stable", "StartAtLogin": 0}})
    settings = ClientSettings(tmp_path / "settings.json")
    settings.update(server_url="https://mine.office", update_channel="canary")
    changes = []
    settings.add_listener(lambda name, value: changes.append((name, value)))

    settings.use_machine_values({"start_at_login": True}, policies("win32", registry))

    assert (settings.server_url, settings.update_channel, settings.start_at_login) == (
        "https://it.office", "stable", False)
    assert settings.locked == {"server_url", "update_channel", "start_at_login"}
    assert sorted(changes) == [("server_url", "https://it.office"), ("update_channel", "stable")]
    with pytest.raises(ValueError, match="policy"):
        settings.update_channel = "canary"
    settings.update(server_url="https://it.office", notifications=False)  # a form saving every field
    assert settings.notifications is False and settings.server_url == "https://it.office"
