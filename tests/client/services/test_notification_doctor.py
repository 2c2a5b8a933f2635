"""The notification doctor: each condition faked at the OS boundary (DesktopState), and the
Linux checks run for real against a private D-Bus session bus."""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass

import pytest

from messenger.client.services.notification_doctor import (
    Finding,
    SystemDesktop,
    Verdict,
    diagnose,
    shortcut_carries_app_id,
)
from messenger.client.services.windows_shell import APP_USER_MODEL_ID


@dataclass
class FakeDesktop:
    """A desk where everything lets notifications through, unless a test says otherwise."""

    platform: str = "win32"
    focus: int | None = 0
    shell: int | None = 5  # QUNS_ACCEPTS_NOTIFICATIONS
    toasts: bool | None = True
    app_switch: bool | None = True
    shortcut: bool | None = True
    service: str | None = "dunst 1.9 (knopwob)"
    tray: bool = True

    def focus_assist(self):
        return self.focus

    def user_notification_state(self):
        return self.shell

    def windows_toasts_enabled(self):
        return self.toasts

    def windows_app_enabled(self):
        return self.app_switch

    def shortcut_has_app_id(self):
        return self.shortcut

    def notification_service(self):
        return self.service

    def tray_available(self):
        return self.tray


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

@pytest.fixture
def session_bus(monkeypatch):
    """A dbus-daemon of the test's own; DBUS_SESSION_BUS_ADDRESS points at it."""
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                              stdout=subprocess.PIPE, text=True)
    address = daemon.stdout.readline().strip()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    yield address
    daemon.terminate()
    daemon.wait(10)


def serve_notifications(address: str, ready: threading.Event, stop: threading.Event) -> None:
    """A minimal org.freedesktop.Notifications service that answers GetServerInformation."""
    from jeepney import HeaderFields, MessageType, new_method_return
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus=address) as connection:
        connection.send_and_get_reply(message_bus.RequestName("org.freedesktop.Notifications"))
        ready.set()
        while not stop.is_set():
            try:
                message = connection.receive(timeout=0.2)
            except TimeoutError:
                continue
            if message.header.message_type is MessageType.method_call and \
                    message.header.fields.get(HeaderFields.member) == "GetServerInformation":
                connection.send(new_method_return(message, "ssss", ("test-notifier", "office", "1.0", "1.2")))


def test_on_linux_the_notification_service_is_asked_over_the_session_bus(session_bus):
    desktop = SystemDesktop(tray_available=True, platform="linux")
    assert desktop.notification_service() is None  # a bus, but nobody there
    assert findings(desktop)["linux_service"].verdict is Verdict.PROBLEM

    ready, stop = threading.Event(), threading.Event()
    service = threading.Thread(target=serve_notifications, args=(session_bus, ready, stop), daemon=True)
    service.start()
    try:
        assert ready.wait(10)
        assert desktop.notification_service() == "test-notifier 1.0 (office)"
        assert findings(desktop)["linux_service"] == Finding("linux_service", Verdict.OK, "test-notifier 1.0 (office)")
    finally:
        stop.set()
        service.join(5)


def test_on_linux_without_a_session_bus_there_is_no_notification_service(monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    assert SystemDesktop(tray_available=True, platform="linux").notification_service() is None
    assert SystemDesktop(tray_available=True, platform="win32").notification_service() is None
