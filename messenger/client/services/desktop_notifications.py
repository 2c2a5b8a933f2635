"""Desktop notifications that know their room, so that a click on any of them, the newest or one
left in the notification centre, opens the room it is about. Qt's tray messages cannot do that
(they carry no id; Qt reports any click as "the message was clicked"), so the tray shows a
notification only where neither of these is there (`show` returns False):

- Linux: the freedesktop notification service (org.freedesktop.Notifications on the session bus).
  The id each Notify returns is kept with its room, and the service's ActionInvoked signal names
  the id. The service also says when it holds notifications back (its `Inhibited` property: do not
  disturb on KDE Plasma and others); the client then asks for attention on the taskbar as well.
  Everything runs on one thread of this service's own; the callbacks are called there.
- Windows: toasts (the windows-toasts library over WinRT), under the AppUserModelID of the
  Start-menu shortcut. Each toast's launch argument is its room's link (windows_shell.room_link),
  opened by protocol activation: Windows starts `messenger.exe <link>`, which hands it to the
  running client (`open_link`). Focus Assist is read by notification_doctor (the taskbar flash).
"""

from __future__ import annotations

import collections
import html
import logging
import queue
import sys
import threading
from typing import Callable

from messenger.client.services.windows_shell import APP_USER_MODEL_ID, linked_room, register_room_links, room_link
from messenger.programs import desktop_command

log = logging.getLogger(__name__)

REMEMBERED = 500  # notifications whose clicks are still answered (the centre keeps older ones rarely)
DBUS_TIMEOUT_SECONDS = 2.0
POLL_SECONDS = 0.2  # how soon a notification is handed over while the thread waits for clicks
CLICKS_KEPT = 64
DEFAULT_ACTION = "default"  # the spec's name for a click on the notification itself


class DesktopNotifications:
    """The notification service of a Linux desktop; unavailable elsewhere."""

    def __init__(self, on_clicked: Callable[[int], None], on_held_back: Callable[[int], None], *,
                 app_name: str = "Messenger", open_label: str = "Open", platform: str = sys.platform,
                 toasts=None, registry=None):
        """`toasts` and `registry`: the windows_toasts module and the HKCU registry on Windows
        (default: the real ones; tests give fakes)."""
        self._on_clicked, self._on_held_back = on_clicked, on_held_back
        self._app_name, self._open_label, self._platform = app_name, open_label, platform
        self._toasts, self._registry = toasts, registry
        self._toaster = None  # Windows: the toast notifier, once started
        self._queue: queue.Queue = queue.Queue()  # notifications to show; None stops
        self._rooms: collections.OrderedDict[int, int] = collections.OrderedDict()  # notification id -> room
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()  # set once the service answered (or it is known to be missing)
        self.available = False
        self.service = ""  # its name and version, once it answered

    def start(self) -> None:
        """Look for the service on a thread of its own; `show` works once it answered."""
        if self._platform == "win32":
            self._start_toasts()
            return
        if not self._platform.startswith("linux"):
            self.ready.set()
            return
        self._thread = threading.Thread(target=self._run, name="desktop-notifications", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(DBUS_TIMEOUT_SECONDS * 2)

    def show(self, room_id: int, title: str, text: str) -> bool:
        """Hand a notification to the service; False when there is none (the caller shows it)."""
        if not self.available:
            return False
        if self._toaster is not None:
            return self._toast(room_id, title, text)
        self._queue.put((room_id, title, text))
        return True

    def open_link(self, link: str) -> bool:
        """A room link a toast was clicked by (Windows hands it to a new launch, which hands it
        here): its room is opened. False for anything else."""
        room_id = linked_room([link])
        if room_id is None:
            return False
        self._on_clicked(room_id)
        return True

    def _start_toasts(self) -> None:
        try:
            if self._toasts is None:
                import windows_toasts

                self._toasts = windows_toasts
            register_room_links(desktop_command(), self._registry)
            self._toaster = self._toasts.InteractableWindowsToaster(self._app_name, notifierAUMID=APP_USER_MODEL_ID)
        except (ImportError, OSError) as exc:  # no WinRT (Windows before 10), or the registry refused
            log.info("no Windows toasts: %s", exc)
        else:
            self.available = True
            self.service = "Windows toasts"
        self.ready.set()

    def _toast(self, room_id: int, title: str, text: str) -> bool:
        toast = self._toasts.Toast(text_fields=[title, text], launch_action=room_link(room_id))
        try:
            self._toaster.show_toast(toast)
        except OSError as exc:  # WinRT's errors (no shortcut with our AppUserModelID, ...)
            log.warning("Windows did not take a toast: %s", exc)
            return False
        return True

    def _run(self) -> None:
        from jeepney import DBusAddress, MatchRule, new_method_call
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import DBusErrorResponse, Properties, unwrap_msg

        service = DBusAddress("/org/freedesktop/Notifications", bus_name="org.freedesktop.Notifications",
                              interface="org.freedesktop.Notifications")
        clicks = MatchRule(type="signal", interface=service.interface, member="ActionInvoked",
                           path=service.object_path)
        try:
            with open_dbus_connection(bus="SESSION") as connection:
                def call(message):  # signals that come meanwhile go to the filter below
                    return unwrap_msg(connection.send_and_get_reply(message, timeout=DBUS_TIMEOUT_SECONDS))

                with connection.filter(clicks, bufsize=CLICKS_KEPT) as clicked:
                    try:
                        name, vendor, version, _spec = call(new_method_call(service, "GetServerInformation"))
                        markup = "body-markup" in call(new_method_call(service, "GetCapabilities"))[0]
                        call(message_bus.AddMatch(clicks))
                    except (TimeoutError, DBusErrorResponse) as exc:
                        log.info("no desktop notification service: %s", exc)
                        return
                    self.service = f"{name} {version} ({vendor})"
                    self.available = True
                    self.ready.set()
                    log.info("desktop notifications through %s", self.service)
                    while True:
                        while clicked:
                            self._clicked(*clicked.popleft().body)
                        try:
                            item = self._queue.get_nowait()
                        except queue.Empty:
                            try:
                                connection.recv_messages(timeout=POLL_SECONDS)  # into `clicked`
                            except TimeoutError:
                                pass
                            continue
                        if item is None:
                            return
                        room_id, title, text = item
                        if self._held_back(call, Properties(service)):
                            self._on_held_back(room_id)
                        body = html.escape(text, quote=False) if markup else text
                        notify = new_method_call(service, "Notify", "susssasa{sv}i", (
                            self._app_name, 0, "", title, body, [DEFAULT_ACTION, self._open_label],
                            {"category": ("s", "im.received")}, -1))
                        try:
                            [notification_id] = call(notify)
                        except (TimeoutError, DBusErrorResponse) as exc:
                            log.warning("the notification service did not take a notification: %s", exc)
                            continue
                        self._rooms[notification_id] = room_id
                        while len(self._rooms) > REMEMBERED:
                            self._rooms.popitem(last=False)
        # No session bus (KeyError: no address in the environment), or it went away.
        except (OSError, KeyError, ValueError) as exc:
            log.info("no session bus for desktop notifications: %s", exc)
        finally:
            self.available = False
            self.ready.set()

    def _clicked(self, notification_id: int, action: str) -> None:
        room_id = self._rooms.get(notification_id)
        if room_id is not None and action == DEFAULT_ACTION:
            self._on_clicked(room_id)

    @staticmethod
    def _held_back(call, properties) -> bool:
        """Whether the service holds notifications back now (do not disturb); False when it
        does not say."""
        from jeepney.wrappers import DBusErrorResponse

        try:
            [(_signature, inhibited)] = call(properties.get("Inhibited"))
        except (TimeoutError, DBusErrorResponse):
            return False
        return bool(inhibited)
