"""Desktop notifications through the freedesktop service, for real over a private session bus: a
click on any notification, the newest or an older one, names its own room; do not disturb is seen.
(Windows toasts: tests/client/ui/test_windows_toasts.py.)"""

from __future__ import annotations

import queue

import pytest
from client_kit import NotificationService, wait_until

from messenger.client.services.desktop_notifications import DesktopNotifications


@pytest.fixture
def events():
    return queue.Queue()


def started(events, platform: str = "linux") -> DesktopNotifications:
    notifications = DesktopNotifications(lambda room: events.put(("clicked", room)),
                                         lambda room: events.put(("held back", room)),
                                         open_label="열기", platform=platform)
    notifications.start()
    assert notifications.ready.wait(10)
    return notifications


def test_a_click_on_an_older_notification_opens_its_own_room(session_bus, events):
    with NotificationService(session_bus) as service:
        notifications = started(events)
        try:
            assert notifications.available and notifications.service == "test-notifier 1.0 (office)"
            assert notifications.show(7, "Kim", "회의 10분 전 <b>")
            assert notifications.show(9, "Lee", "newest")
            wait_until(lambda: len(service.shown) == 2)
            first, newest = service.shown
            # The body is markup for this service: escaped; a click on the notification is "default".
            assert first[1:] == ("Kim", "회의 10분 전 &lt;b&gt;", ["default", "열기"])
            service.click(first[0])  # the older one, from the notification centre
            assert events.get(timeout=10) == ("clicked", 7)
            service.click(newest[0])
            assert events.get(timeout=10) == ("clicked", 9)
            service.click(newest[0], action="other")  # not a click on the notification itself
            service.click(999)  # another program's notification
            service.click(first[0])
            assert events.get(timeout=10) == ("clicked", 7), "only clicks on our own notifications count"
        finally:
            notifications.stop()
    assert events.empty()


def test_do_not_disturb_is_told_and_the_notification_still_goes_to_the_centre(session_bus, events):
    with NotificationService(session_bus, inhibited=True) as service:
        notifications = started(events)
        try:
            assert notifications.show(3, "Park", "hello")
            assert events.get(timeout=10) == ("held back", 3)
            wait_until(lambda: len(service.shown) == 1)
            service.inhibited = False
            assert notifications.show(4, "Park", "again")
            wait_until(lambda: len(service.shown) == 2)
            assert events.empty()
        finally:
            notifications.stop()


def test_without_a_service_the_tray_shows_them(session_bus, events, monkeypatch, tmp_path):
    nobody = started(events)  # a bus, but no notification service on it
    assert not nobody.available and not nobody.show(1, "Kim", "hi")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    assert not started(events).available
    with NotificationService(session_bus):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session_bus)
        assert not started(events, platform="win32").available, "Windows without windows-toasts: the tray shows them"
