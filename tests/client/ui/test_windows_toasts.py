"""Windows toasts (services/desktop_notifications.py over a fake of the windows_toasts library and of
the registry): each toast carries its own room's link, and the launch Windows makes for a click on
one, an old one in the notification centre too, hands that link to the running client over the
real single-instance socket (ui/single_instance.py), which opens that room."""

from __future__ import annotations

import queue
import shlex
from types import SimpleNamespace

from client_kit import FakeRegistry

from messenger.client.services.desktop_notifications import DesktopNotifications
from messenger.client.services.windows_shell import APP_USER_MODEL_ID, PROTOCOLS_KEY
from messenger.client.ui.single_instance import SingleInstance, instance_name
from messenger.programs import desktop_command


class FakeToast:
    def __init__(self, text_fields, launch_action):
        self.text_fields, self.launch_action = text_fields, launch_action


class FakeToaster:
    """windows_toasts.InteractableWindowsToaster: shows toasts under an AppUserModelID, which only
    the installers' Start-menu shortcut makes known to Windows."""

    def __init__(self, applicationText, notifierAUMID, shown, refuse):
        self.aumid, self.shown, self.refuse = notifierAUMID, shown, refuse

    def show_toast(self, toast):
        if self.refuse or self.aumid != APP_USER_MODEL_ID:
            raise OSError(-2143420155, "the notification platform is unavailable")
        self.shown.append(toast)


def fake_toasts(shown: list, refuse: bool = False):
    """The part of the windows_toasts module the client uses."""
    return SimpleNamespace(Toast=FakeToast, InteractableWindowsToaster=lambda app, notifierAUMID: FakeToaster(
        app, notifierAUMID, shown, refuse))


def windows_opens(registry: FakeRegistry, link: str) -> list[str]:
    """What Windows runs for a click on a toast whose launch argument is `link` (protocol
    activation): the command registered for its scheme, %1 the link."""
    key = rf"{PROTOCOLS_KEY}\{link.split(':', 1)[0]}"
    assert registry.get(key, "URL Protocol") == "", "a URL protocol"
    return shlex.split(registry.get(rf"{key}\shell\open\command", "").replace("%1", link))


def test_each_windows_toast_carries_its_room_and_a_click_on_an_old_one_opens_that_room(tmp_path, qtbot):
    events = queue.Queue()
    registry, shown = FakeRegistry(), []
    notifications = DesktopNotifications(lambda room: events.put(("clicked", room)), lambda room: None,
                                         platform="win32", toasts=fake_toasts(shown), registry=registry)
    notifications.start()
    assert notifications.ready.is_set() and notifications.available
    assert notifications.show(7, "Kim", "회의 10분 전") and notifications.show(9, "Lee", "newest")
    old, newest = shown
    assert old.text_fields == ["Kim", "회의 10분 전"] and old.launch_action != newest.launch_action

    # The running client, and the launch Windows makes for a click on the older toast.
    name = instance_name(tmp_path / "data")
    running = SingleInstance(name)
    assert running.claim()
    running.asked.connect(notifications.open_link)
    try:
        command = windows_opens(registry, old.launch_action)
        assert command[:-1] == desktop_command(), "the desktop program opens the link"
        with qtbot.waitSignal(running.asked, timeout=10_000):
            assert not SingleInstance(name).claim(command[-1]), "it hands the link over and ends"
        assert events.get(timeout=10) == ("clicked", 7)
        with qtbot.waitSignal(running.asked, timeout=10_000):
            SingleInstance(name).claim(windows_opens(registry, newest.launch_action)[-1])
        assert events.get(timeout=10) == ("clicked", 9)
    finally:
        running.release()
    assert not notifications.open_link("https://chat.office/room/7") and events.empty()


def test_a_toast_windows_refuses_is_shown_by_the_tray():
    shown = []
    refused = DesktopNotifications(lambda room: None, lambda room: None, platform="win32",
                                   toasts=fake_toasts(shown, refuse=True), registry=FakeRegistry())
    refused.start()
    assert refused.available and not refused.show(1, "Kim", "hi"), "the tray shows what Windows refused"
    assert shown == []
