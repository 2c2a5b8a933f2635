"""The client's identity in the Windows shell (taskbar grouping, toast notifications), and the
hidden window through which installers ask it to quit.

Windows routes a desktop program's notifications through the Start-menu shortcut whose
AppUserModelID matches the running process's. The installers give their shortcut
APP_USER_MODEL_ID (build/installers.py reads it from here); the client claims the same id at
start with `claim_app_user_model_id()`, before it creates any window or tray icon.
"""

from __future__ import annotations

import sys

APP_USER_MODEL_ID = "Office.Messenger"


def claim_app_user_model_id() -> bool:
    """Set this process's AppUserModelID on Windows; True if it was set (False elsewhere)."""
    if sys.platform != "win32":
        return False
    import ctypes

    result = ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID(ctypes.c_wchar_p(APP_USER_MODEL_ID))
    return result == 0  # S_OK


# The installers find a running client by this window class (installer/messenger.nsi) and ask it
# to quit with WM_CLOSE; Windows Installer's Restart Manager sends WM_QUERYENDSESSION and
# WM_ENDSESSION to the same window. A never-shown top-level window: FindWindow and the Restart
# Manager see it, the user does not.
QUIT_WINDOW_CLASS = "Office.Messenger.Client"
WM_CLOSE, WM_QUERYENDSESSION, WM_ENDSESSION = 0x0010, 0x0011, 0x0016


def quit_window_procedure(on_quit, default):
    """The window procedure: WM_CLOSE and an ended session quit the client (once); everything
    else goes to `default` (DefWindowProcW). `on_quit` runs on the GUI thread, inside Qt's loop."""
    asked = []

    def procedure(hwnd, message, wparam, lparam):
        if message == WM_QUERYENDSESSION:
            return 1  # yes, it may end: nothing unsaved (the outbox is on disk)
        if message == WM_CLOSE or message == WM_ENDSESSION:
            if (message == WM_CLOSE or wparam) and not asked:
                asked.append(True)
                on_quit()
            return 0  # not DefWindowProc: the window goes with the process, so FindWindow waits for its end
        return default(hwnd, message, wparam, lparam)

    return procedure


def listen_for_quit(on_quit):
    """Windows: create the hidden window that installers ask to quit; returns what must be kept
    alive (the window procedure), or None elsewhere or if Windows refused."""
    if sys.platform != "win32":
        return None
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.WinDLL("user32", use_last_error=True)
    kernel32 = ctypes.WinDLL("kernel32")
    LRESULT = ctypes.c_ssize_t
    WNDPROC = ctypes.WINFUNCTYPE(LRESULT, wintypes.HWND, wintypes.UINT, wintypes.WPARAM, wintypes.LPARAM)

    class WNDCLASSW(ctypes.Structure):
        _fields_ = [("style", wintypes.UINT), ("lpfnWndProc", WNDPROC), ("cbClsExtra", ctypes.c_int),
                    ("cbWndExtra", ctypes.c_int), ("hInstance", wintypes.HINSTANCE), ("hIcon", wintypes.HICON),
                    ("hCursor", wintypes.HANDLE), ("hbrBackground", wintypes.HBRUSH),
                    ("lpszMenuName", wintypes.LPCWSTR), ("lpszClassName", wintypes.LPCWSTR)]

    user32.DefWindowProcW.restype = LRESULT
    user32.DefWindowProcW.argtypes = [wintypes.HWND, wintypes.UINT, wintypes.WPARAM, wintypes.LPARAM]
    user32.CreateWindowExW.restype = wintypes.HWND
    user32.CreateWindowExW.argtypes = [wintypes.DWORD, wintypes.LPCWSTR, wintypes.LPCWSTR, wintypes.DWORD,
                                       ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, wintypes.HWND,
                                       wintypes.HMENU, wintypes.HINSTANCE, wintypes.LPVOID]
    kernel32.GetModuleHandleW.restype = wintypes.HMODULE
    procedure = WNDPROC(quit_window_procedure(on_quit, user32.DefWindowProcW))
    instance = kernel32.GetModuleHandleW(None)
    window_class = WNDCLASSW(lpfnWndProc=procedure, hInstance=instance, lpszClassName=QUIT_WINDOW_CLASS)
    if not user32.RegisterClassW(ctypes.byref(window_class)):
        return None
    if not user32.CreateWindowExW(0, QUIT_WINDOW_CLASS, "Messenger", 0, 0, 0, 0, 0, None, None, instance, None):
        return None
    return procedure


# The setup EXE's entry in Apps & features (installer/messenger.nsi UNINSTALL_KEY).
UNINSTALL_KEY = r"Software\Microsoft\Windows\CurrentVersion\Uninstall\Messenger"


# A toast names its room by a link of this scheme (its launch argument, protocol activation):
# Windows opens it with the program registered for the scheme, `messenger.exe office-messenger:room/42`,
# for a click on the toast on screen or on an old one in the notification centre, whether the
# client runs (that second launch hands the link to it: ui/single_instance.py) or not. Clicks
# through the toast's Activated event would reach only a running client, and not from the centre.
ROOM_LINK_SCHEME = "office-messenger"
PROTOCOLS_KEY = r"Software\Classes"


def room_link(room_id: int) -> str:
    return f"{ROOM_LINK_SCHEME}:room/{room_id}"


def linked_room(argv: list[str]) -> int | None:
    """The room of a command line that is only a room link (as Windows passes it), else None."""
    if len(argv) != 1:
        return None
    scheme, _, rest = argv[0].partition(":")
    kind, _, number = rest.strip("/").partition("/")
    if scheme.lower() != ROOM_LINK_SCHEME or kind != "room" or not number.isdecimal():
        return None
    return int(number)


def register_room_links(command: list[str], registry=None) -> None:
    """Make `command` (the desktop program) open room links for this user (HKCU: no admin rights;
    written at every start, so it follows the program when it moves or updates)."""
    import subprocess

    registry = CurrentUserRegistry() if registry is None else registry
    key = rf"{PROTOCOLS_KEY}\{ROOM_LINK_SCHEME}"
    registry.set(key, "", "URL:Messenger room")
    registry.set(key, "URL Protocol", "")
    registry.set(rf"{key}\shell\open\command", "", subprocess.list2cmdline(command) + ' "%1"')


class CurrentUserRegistry:
    """HKCU values through winreg: the boundary tests replace with a dict."""

    def get(self, key: str, name: str) -> str | None:
        import winreg  # Windows only

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key) as handle:
                return str(winreg.QueryValueEx(handle, name)[0])
        except OSError:
            return None

    def set(self, key: str, name: str, value: str) -> None:
        import winreg  # Windows only

        with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, key, 0, winreg.KEY_SET_VALUE) as handle:
            winreg.SetValueEx(handle, name, 0, winreg.REG_SZ, value)


def record_installed_version(install_dir, version: str, *, platform: str = sys.platform, registry=None) -> bool:
    """After the client updated itself: Apps & features shows the new version, if this folder is
    the one the setup EXE installed (its entry's InstallLocation). True if the entry was changed."""
    if platform != "win32":
        return False
    import os

    registry = CurrentUserRegistry() if registry is None else registry
    location = registry.get(UNINSTALL_KEY, "InstallLocation")
    if location is None or os.path.normcase(os.path.abspath(location)) != os.path.normcase(os.path.abspath(install_dir)):
        return False
    registry.set(UNINSTALL_KEY, "DisplayVersion", version)
    return True
