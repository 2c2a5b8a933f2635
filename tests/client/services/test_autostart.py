"""Start at login: the real XDG autostart file, the LaunchAgent written into a temporary home,
the Windows Run value's quoting, and the installer's presets taken on a first start."""

import plistlib
import sys

from messenger.client.services import autostart as autostart_module
from messenger.client.services.autostart import (
    LABEL,
    Autostart,
    desktop_exec,
    program_command,
    windows_command_line,
)
from messenger.client.services.settings import ClientSettings, installer_presets

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
    assert program_command() == [sys.executable]


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


def test_installer_presets_fill_a_first_start_only(tmp_path):
    settings = ClientSettings(tmp_path / "settings.json")
    presets = {"server_url": "https://chat.office:5000", "update_channel": "canary"}

    assert settings.take_presets(presets) == presets
    assert (settings.server_url, settings.update_channel) == ("https://chat.office:5000", "canary")

    settings.update(server_url="https://other.office", update_channel="stable")
    assert settings.take_presets({"server_url": "https://new.office", "update_channel": "canary"}) == {}
    assert (settings.server_url, settings.update_channel) == ("https://other.office", "stable")


def test_a_setting_chosen_before_the_server_wins_and_a_bad_preset_is_skipped(tmp_path, caplog):
    settings = ClientSettings(tmp_path / "settings.json")
    settings.update_channel = "stable"  # chosen by the user, before any server

    taken = settings.take_presets({"server_url": "ftp://nope", "update_channel": "canary"})

    assert taken == {} and settings.server_url == "" and settings.update_channel == "stable"
    assert "ignoring installer preset server_url" in caplog.text
