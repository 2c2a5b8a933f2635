"""The notification doctor: each condition faked at the OS boundary (DesktopState), and the
Linux checks run for real against a private D-Bus session bus."""

from __future__ import annotations

import os

import pytest
from client_kit import FakeDesktop, NotificationService

from messenger.client.services.notification_doctor import (
    Finding,
    SystemDesktop,
    Verdict,
    diagnose,
    shortcut_carries_app_id,
    toasts_held_back,
)
from messenger.client.services.windows_shell import APP_USER_MODEL_ID


def findings(state, notifications_on=True, muted_rooms=()) -> dict[str, Finding]:
    return {f.check: f for f in diagnose(state, notifications_on=notifications_on, muted_rooms=list(muted_rooms))}


@pytest.mark.parametrize("platform", ["win32", "linux"])
def test_a_desk_where_nothing_stops_notifications_is_all_fine_and_says_what_does_not_apply(platform):
    found = findings(FakeDesktop(platform=platform))
    windows = {"focus_assist", "windows_toasts", "windows_app_switch", "windows_shortcut"}
    linux = {"linux_service", "linux_tray"}
    mine, other = (windows, linux) if platform == "win32" else (linux, windows)
    assert {name for name, f in found.items() if f.verdict is Verdict.OK} == mine | {"app_setting", "muted_rooms"}
    assert {name for name, f in found.items() if f.verdict is Verdict.NOT_APPLICABLE} == other


@pytest.mark.parametrize("change,check,detail", [
    ({"focus": 1}, "focus_assist", "priority_only"),
    ({"focus": 2}, "focus_assist", "alarms_only"),
    ({"focus": None, "shell": 4}, "focus_assist", "presentation"),
    ({"shell": 3}, "focus_assist", "fullscreen_d3d"),
    ({"shell": 6}, "focus_assist", "quiet_time"),
    ({"toasts": False}, "windows_toasts", ""),
    ({"app_switch": False}, "windows_app_switch", ""),
    ({"shortcut": False}, "windows_shortcut", ""),
    ({"platform": "linux", "service": None}, "linux_service", ""),
    ({"platform": "linux", "tray": False}, "linux_tray", ""),
])
def test_each_condition_that_stops_notifications_is_named(change, check, detail):
    found = findings(FakeDesktop(**change))
    assert found[check] == Finding(check, Verdict.PROBLEM, detail)
    assert [f.check for f in found.values() if f.verdict is Verdict.PROBLEM] == [check]


def test_what_windows_would_not_say_is_unknown_not_fine():
    found = findings(FakeDesktop(focus=None, shell=None, toasts=None, app_switch=None, shortcut=None))
    assert {f.check for f in found.values() if f.verdict is Verdict.UNKNOWN} == {
        "focus_assist", "windows_toasts", "windows_app_switch", "windows_shortcut"}


def test_the_apps_own_switch_and_muted_rooms_are_checked_everywhere():
    found = findings(FakeDesktop(platform="linux"), notifications_on=False, muted_rooms=["총무팀", "ops"])
    assert found["app_setting"].verdict is Verdict.PROBLEM
    assert found["muted_rooms"] == Finding("muted_rooms", Verdict.PROBLEM, "총무팀, ops")


def test_a_shortcut_is_recognised_by_the_app_id_in_its_property_store(tmp_path):
    ours, other = tmp_path / "Messenger.lnk", tmp_path / "Other.lnk"
    ours.write_bytes(b"L\x00\x00\x00" + os.urandom(64) + APP_USER_MODEL_ID.encode("utf-16-le") + b"\x00\x00")
    other.write_bytes(b"L\x00\x00\x00" + os.urandom(64) + "Other.App".encode("utf-16-le"))
    assert shortcut_carries_app_id(ours) and not shortcut_carries_app_id(other)
    assert not shortcut_carries_app_id(tmp_path / "missing.lnk")


# -- for real on Linux: a private session bus -------------------------------------------------------

def test_on_linux_the_notification_service_is_asked_over_the_session_bus(session_bus):
    desktop = SystemDesktop(tray_available=True, platform="linux")
    assert desktop.notification_service() is None  # a bus, but nobody there
    assert findings(desktop)["linux_service"].verdict is Verdict.PROBLEM

    with NotificationService(session_bus):
        assert desktop.notification_service() == "test-notifier 1.0 (office)"
        assert findings(desktop)["linux_service"] == Finding("linux_service", Verdict.OK, "test-notifier 1.0 (office)")


def test_on_linux_without_a_session_bus_there_is_no_notification_service(monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    assert SystemDesktop(tray_available=True, platform="linux").notification_service() is None
    assert SystemDesktop(tray_available=True, platform="win32").notification_service() is None


@pytest.mark.parametrize("desktop,held_back", [
    (FakeDesktop(), False),
    (FakeDesktop(focus=1), True),  # Focus Assist: priority only
    (FakeDesktop(focus=2), True),  # alarms only
    (FakeDesktop(shell=6), True),  # quiet time after an update or a first sign-in
    (FakeDesktop(shell=4), True),  # presenting
    (FakeDesktop(focus=None, shell=None), False),  # Windows would not say: the toast is tried
    (FakeDesktop(platform="linux", focus=2), False),
])
def test_toasts_are_known_to_be_held_back_by_focus_assist_and_quiet_states(desktop, held_back):
    assert toasts_held_back(desktop) is held_back


def test_a_windows_without_the_focus_assist_calls_is_not_held_back():
    class OldWindows(FakeDesktop):
        def focus_assist(self):
            raise AttributeError("function 'NtQueryWnfStateData' not found")

    assert toasts_held_back(OldWindows()) is False
