"""The hidden window installers close (windows_shell.quit_window_procedure): its messages, on Linux."""

from pathlib import Path

from client_kit import FakeRegistry

from messenger.client.services import windows_shell
from messenger.client.services.windows_shell import (
    WM_CLOSE,
    WM_ENDSESSION,
    WM_QUERYENDSESSION,
    listen_for_quit,
    quit_window_procedure,
)

WM_TIMER = 0x0113


def test_wm_close_from_an_installer_quits_the_client_once():
    quits, passed = [], []
    procedure = quit_window_procedure(lambda: quits.append(1), lambda *args: passed.append(args) or 7)
    assert procedure(1, WM_CLOSE, 0, 0) == 0
    assert procedure(1, WM_CLOSE, 0, 0) == 0  # the installer asks again while it waits
    assert quits == [1] and passed == []


def test_the_restart_manager_may_end_the_session_and_then_the_client_quits():
    quits = []
    procedure = quit_window_procedure(lambda: quits.append(1), lambda *args: 7)
    assert procedure(1, WM_QUERYENDSESSION, 0, 1) == 1 and quits == []
    assert procedure(1, WM_ENDSESSION, 0, 0) == 0 and quits == []  # the session goes on after all
    procedure(1, WM_ENDSESSION, 1, 0)
    assert quits == [1]


def test_other_messages_go_to_the_default_procedure_and_nothing_is_created_off_windows():
    procedure = quit_window_procedure(lambda: None, lambda hwnd, message, wparam, lparam: message + 1)
    assert procedure(1, WM_TIMER, 0, 0) == WM_TIMER + 1
    assert listen_for_quit(lambda: None) is None
    nsi = Path(__file__).resolve().parents[3] / "installer" / "messenger.nsi"
    assert f'"{windows_shell.QUIT_WINDOW_CLASS}"' in nsi.read_text(encoding="utf-8")  # the class the installer finds


def test_apps_and_features_shows_the_version_the_client_updated_itself_to():
    install = r"C:/Users/kim/AppData/Local/Programs/Messenger"
    registry = FakeRegistry({(windows_shell.UNINSTALL_KEY, "InstallLocation"): install,
                             (windows_shell.UNINSTALL_KEY, "DisplayVersion"): "1.0.0"})
    assert windows_shell.record_installed_version(install, "1.1.0", platform="win32", registry=registry)
    assert registry.get(windows_shell.UNINSTALL_KEY, "DisplayVersion") == "1.1.0"
    # Another folder (a copy, an MSI install elsewhere) is not the setup EXE's entry.
    assert not windows_shell.record_installed_version("D:/Messenger", "1.2.0", platform="win32", registry=registry)
    assert registry.get(windows_shell.UNINSTALL_KEY, "DisplayVersion") == "1.1.0"
    assert not windows_shell.record_installed_version(install, "1.2.0", platform="linux", registry=registry)
