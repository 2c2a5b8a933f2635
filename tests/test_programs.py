"""The two programs of an install (messenger/programs.py): which one starts what, and the
windowed one's refusal of console commands."""

import subprocess
import sys

import pytest

from messenger import cli, programs

WINDOWS_INSTALL = r"C:\Users\kim\AppData\Local\Programs\Messenger"


def test_the_desktop_client_is_always_the_windowed_program_beside_this_one():
    for this in ("messenger.exe", "messenger-cli.exe"):
        command = programs.desktop_command(f"/opt/Messenger/{this}", frozen=True, platform="win32")
        assert command == ["/opt/Messenger/messenger.exe"]
    assert programs.desktop_command("/opt/messenger/messenger-cli", frozen=True, platform="linux") == [
        "/opt/messenger/messenger"]
    assert programs.console_command("/opt/Messenger/messenger.exe", frozen=True, platform="win32") == [
        "/opt/Messenger/messenger-cli.exe"]
    assert programs.desktop_command("/usr/bin/python3", frozen=False) == ["/usr/bin/python3", "-m", "messenger"]


@pytest.mark.parametrize(("executable", "frozen", "platform", "windowed"), [
    (WINDOWS_INSTALL + r"\messenger.exe", True, "win32", True),
    (WINDOWS_INSTALL + r"\MESSENGER.EXE", True, "win32", True),
    (WINDOWS_INSTALL + r"\messenger-cli.exe", True, "win32", False),
    ("/opt/messenger/messenger", True, "linux", False),  # both are console programs there
    (r"C:\Python311\python.exe", False, "win32", False),
])
def test_only_the_frozen_windows_desktop_program_is_windowed(executable, frozen, platform, windowed):
    # PureWindowsPath semantics are not needed: the name is the part after the last separator.
    executable = executable.replace("\\", "/")
    assert programs.is_windowed(executable, frozen=frozen, platform=platform) is windowed


def test_the_windowed_program_refuses_a_command_and_names_messenger_cli(monkeypatch):
    shown = []
    monkeypatch.setattr(programs, "_message_box", shown.append)
    monkeypatch.setattr(cli, "is_windowed", lambda: True)
    assert cli.main(["--serve"]) == programs.EXIT_CONSOLE_ONLY == 2
    assert shown == [programs.CONSOLE_ONLY] and "messenger-cli.exe --serve" in shown[0]
    for command in (["admin", "list-users"], ["chat", "rooms"], ["update", "check"], ["--version"]):
        assert cli.main(command) == 2
    assert len(shown) == 5


def test_the_windowed_program_takes_a_toasts_room_link_to_the_tray_client(monkeypatch):
    """Windows starts `messenger.exe office-messenger:room/42` for a click on a toast."""
    from messenger.client import launch
    from messenger.client.services.windows_shell import linked_room, room_link

    started = []
    monkeypatch.setattr(cli, "is_windowed", lambda: True)
    monkeypatch.setattr(launch, "run", lambda argv=None: started.append(argv) or 0)
    assert cli.main([room_link(42)]) == 0 and started == [["office-messenger:room/42"]]
    assert linked_room(["OFFICE-MESSENGER:room/42/"]) == 42
    for argv in (["office-messenger:room/x"], ["office-messenger:user/4"], ["https:room/4"], [room_link(4), "--serve"], []):
        assert linked_room(argv) is None, argv
    monkeypatch.setattr(programs, "_message_box", lambda text: None)
    assert cli.main(["office-messenger:room/x"]) == programs.EXIT_CONSOLE_ONLY, "nothing else gets past"


def test_the_console_program_runs_commands():
    done = subprocess.run([sys.executable, "-m", "messenger", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("messenger "), done.stderr


def test_a_frozen_build_says_whether_its_programs_are_signed(tmp_path, monkeypatch):
    from messenger import SIGNED_FILE, build_signature

    assert build_signature(tmp_path) is None  # the sources: no build to sign
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert build_signature(tmp_path) == "unsigned build (no Authenticode signature)"
    (tmp_path / SIGNED_FILE).write_text("O=Office,CN=Messenger\n")  # what build/build.py --sign-pfx writes
    assert build_signature(tmp_path) == "Authenticode-signed by O=Office,CN=Messenger"
