"""Why a notification did not show: checks of the desk's real state, in plain words.

`diagnose()` runs every check and returns one `Finding` each: fine, a problem, unknown (the
system would not say), or "does not apply here" (a Windows check on Linux and the other way
round). What the operating system says comes through `DesktopState`, the one boundary tests
replace; `SystemDesktop` reads the real thing:

- Windows: Focus Assist (the shell's quiet-hours state, WNF_SHEL_QUIETHOURS_ACTIVE_PROFILE_CHANGED,
  read with NtQueryWnfStateData: undocumented by Microsoft, the value every tool reads) and the
  documented SHQueryUserNotificationState (presentation mode, a full-screen app, quiet time);
  "notifications from apps" (HKCU ...\\PushNotifications ToastEnabled) and this app's own switch
  (HKCU ...\\Notifications\\Settings\\<AppUserModelID> Enabled); a Start-menu shortcut carrying the
  AppUserModelID, without which Windows drops a desktop program's toasts silently.
- Linux: a notification service on the session bus (org.freedesktop.Notifications), asked over
  D-Bus for its name, and a system tray.
- Everywhere: the app's own notifications setting and the rooms muted in the messenger.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from messenger.client.services.windows_shell import APP_USER_MODEL_ID

log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    OK = "ok"
    PROBLEM = "problem"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Finding:
    check: str  # a stable name: focus_assist, windows_app_switch, ...; the UI words it
    verdict: Verdict
    detail: str = ""  # what was seen (a service's name, room names, a mode)


# Windows' focus assist profiles (WNF) and SHQueryUserNotificationState's answers.
FOCUS_ASSIST = {0: "off", 1: "priority_only", 2: "alarms_only"}
QUNS = {1: "not_present", 2: "busy", 3: "fullscreen_d3d", 4: "presentation", 5: "accepts", 6: "quiet_time", 7: "app"}


class DesktopState(Protocol):
    """What the operating system says; None where it would not say."""

    platform: str

    def focus_assist(self) -> int | None: ...
    def user_notification_state(self) -> int | None: ...
    def windows_toasts_enabled(self) -> bool | None: ...
    def windows_app_enabled(self) -> bool | None: ...
    def shortcut_has_app_id(self) -> bool | None: ...
    def notification_service(self) -> str | None: ...
    def tray_available(self) -> bool: ...


def diagnose(state: DesktopState, *, notifications_on: bool, muted_rooms: list[str]) -> list[Finding]:
    """Every check, in the order a person would look."""
    windows = state.platform == "win32"
    linux = state.platform.startswith("linux")
    findings = [Finding("app_setting", Verdict.OK if notifications_on else Verdict.PROBLEM)]
    findings.append(Finding("muted_rooms", Verdict.PROBLEM if muted_rooms else Verdict.OK, ", ".join(muted_rooms)))
    if windows:
        findings += [_focus_assist(state), _switch("windows_toasts", state.windows_toasts_enabled()),
                     _switch("windows_app_switch", state.windows_app_enabled()),
                     _switch("windows_shortcut", state.shortcut_has_app_id())]
    else:
        findings += [Finding(name, Verdict.NOT_APPLICABLE)
                     for name in ("focus_assist", "windows_toasts", "windows_app_switch", "windows_shortcut")]
    if linux:
        service = state.notification_service()
        findings.append(Finding("linux_service", Verdict.OK if service else Verdict.PROBLEM, service or ""))
        findings.append(Finding("linux_tray", Verdict.OK if state.tray_available() else Verdict.PROBLEM))
    else:
        findings += [Finding("linux_service", Verdict.NOT_APPLICABLE), Finding("linux_tray", Verdict.NOT_APPLICABLE)]
    return findings


def toasts_held_back(state: DesktopState) -> bool:
    """Whether Windows holds the messenger's toasts back now (Focus Assist, quiet time, a
    presentation or a full-screen program): they go to the notification centre unseen. Asked at
    every notification, so a Windows without these calls (before 10) answers False."""
    try:
        return state.platform == "win32" and _focus_assist(state).verdict is Verdict.PROBLEM
    except (OSError, AttributeError) as exc:
        log.info("Focus Assist cannot be read: %s", exc)
        return False


def _switch(check: str, enabled: bool | None) -> Finding:
    return Finding(check, Verdict.UNKNOWN if enabled is None else Verdict.OK if enabled else Verdict.PROBLEM)


def _focus_assist(state: DesktopState) -> Finding:
    profile, shell = state.focus_assist(), state.user_notification_state()
    if profile:  # priority only or alarms only: the messenger is not on Windows' priority list
        return Finding("focus_assist", Verdict.PROBLEM, FOCUS_ASSIST.get(profile, str(profile)))
    if shell in (2, 3, 4, 6, 7):
        return Finding("focus_assist", Verdict.PROBLEM, QUNS[shell])
    if profile is None and shell is None:
        return Finding("focus_assist", Verdict.UNKNOWN)
    return Finding("focus_assist", Verdict.OK)


class SystemDesktop:
    """The real operating system (every read is guarded: a check that cannot read says None)."""

    # Windows Notification Facility state of Focus Assist's active profile.
    WNF_QUIET_HOURS = 0x0D83063EA3BF1C75
    NOTIFICATION_SETTINGS = r"Software\Microsoft\Windows\CurrentVersion\Notifications\Settings"
    PUSH_NOTIFICATIONS = r"Software\Microsoft\Windows\CurrentVersion\PushNotifications"
    DBUS_TIMEOUT_SECONDS = 2.0

    def __init__(self, tray_available: bool, platform: str = sys.platform):
        self.platform = platform
        self._tray = tray_available

    def tray_available(self) -> bool:
        return self._tray

    # -- Windows ------------------------------------------------------------------------------

    def focus_assist(self) -> int | None:
        if self.platform != "win32":
            return None
        import ctypes

        state_name = ctypes.c_uint64(self.WNF_QUIET_HOURS)
        change_stamp, profile, size = ctypes.c_ulong(), ctypes.c_int32(), ctypes.c_ulong(4)
        status = ctypes.windll.ntdll.NtQueryWnfStateData(ctypes.byref(state_name), None, None,
                                                         ctypes.byref(change_stamp), ctypes.byref(profile),
                                                         ctypes.byref(size))
        return profile.value if status == 0 else None

    def user_notification_state(self) -> int | None:
        if self.platform != "win32":
            return None
        import ctypes

        state = ctypes.c_int()
        return state.value if ctypes.windll.shell32.SHQueryUserNotificationState(ctypes.byref(state)) == 0 else None

    def windows_toasts_enabled(self) -> bool | None:
        if self.platform != "win32":
            return None
        value = _registry_dword(self.PUSH_NOTIFICATIONS, "ToastEnabled")
        return True if value is None else value != 0  # absent: never turned off

    def windows_app_enabled(self) -> bool | None:
        if self.platform != "win32":
            return None
        value = _registry_dword(rf"{self.NOTIFICATION_SETTINGS}\{APP_USER_MODEL_ID}", "Enabled")
        return True if value is None else value != 0

    def shortcut_has_app_id(self) -> bool | None:
        if self.platform != "win32":
            return None
        folders = [Path(os.environ[name]) / r"Microsoft\Windows\Start Menu\Programs"
                   for name in ("APPDATA", "PROGRAMDATA") if os.environ.get(name)]
        return any(shortcut_carries_app_id(path) for folder in folders if folder.is_dir()
                   for path in folder.rglob("*.lnk"))

    # -- Linux ----------------------------------------------------------------------------------

    def notification_service(self) -> str | None:
        """The name of the desktop's notification service (e.g. "dunst"), or None if the session
        bus has none (or there is no session bus)."""
        if not self.platform.startswith("linux"):
            return None
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import DBusErrorResponse

        address = DBusAddress("/org/freedesktop/Notifications", bus_name="org.freedesktop.Notifications",
                              interface="org.freedesktop.Notifications")
        try:
            with open_dbus_connection(bus="SESSION") as connection:
                reply = connection.send_and_get_reply(new_method_call(address, "GetServerInformation"),
                                                      timeout=self.DBUS_TIMEOUT_SECONDS)
        except (OSError, KeyError, TimeoutError, DBusErrorResponse) as exc:
            log.info("doctor: no notification service on the session bus (%s)", exc)
            return None
        if reply.header.message_type.name == "error":
            log.info("doctor: the notification service did not answer (%s)", reply.body)
            return None
        name, vendor, version, _spec = reply.body
        return f"{name} {version} ({vendor})"


def shortcut_carries_app_id(path: Path) -> bool:
    """Whether a .lnk file holds this app's AppUserModelID (its property store keeps the id as
    UTF-16 text, System.AppUserModel.ID)."""
    try:
        return APP_USER_MODEL_ID.encode("utf-16-le") in path.read_bytes()
    except OSError:
        return False


def _registry_dword(key_path: str, name: str) -> int | None:
    import winreg  # Windows only

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key_path) as key:
            return int(winreg.QueryValueEx(key, name)[0])
    except (OSError, ValueError):
        return None
