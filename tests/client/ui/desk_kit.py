"""Helpers for the tray client's tests and the screenshot script: simulated desks (a client
folder and an in-memory keyring each) and signing in through the real login window."""

from __future__ import annotations

from pathlib import Path

from client_kit import MemoryKeyring
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from harness import PASSWORD
from messenger.client.app import ClientApp
from messenger.client.services.dirs import ClientDirs
from messenger.client.services.settings import ClientSettings

# Quick reconnects and retries: a test waits seconds, not minutes, for a server to return.
FAST_REALTIME = {"reconnect_delay": 0.1, "reconnect_delay_max": 1.0}
FAST_OUTBOX = {"retry_delay": 0.05, "retry_delay_max": 0.5}
WAIT_MS = 15_000


class Desks:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.keyrings: dict[str, MemoryKeyring] = {}
        self.apps: list[ClientApp] = []

    def dirs(self, name: str) -> ClientDirs:
        return ClientDirs.under(self.root / name)

    def start(self, name: str = "desk", *, language: str = "en-US", server_url: str | None = None,
              local_server: str | None = None, start: bool = True, discover=None) -> ClientApp:
        """A tray client on desk `name` (its settings preset with `language`, `server_url`);
        `local_server`: where it looks for a server on "this computer" (None: nowhere, so that
        no test depends on what listens on the real default port); `discover`: what it finds on
        the network (nothing is browsed outside a namespace)."""
        dirs = self.dirs(name)
        preset = {"language": language}
        if server_url is not None:
            preset["server_url"] = server_url
        ClientSettings(dirs.config / ClientSettings.FILE_NAME).update(**preset)
        app = ClientApp(dirs, keyring_backend=self.keyrings.setdefault(name, MemoryKeyring()),
                        realtime_options=FAST_REALTIME, outbox_options=FAST_OUTBOX, local_server_url=local_server,
                        discover=discover)
        self.apps.append(app)
        if start:
            app.start()
        return app

    def shut_down_all(self) -> None:
        for app in self.apps:
            app.shutdown()


def sign_in(qtbot, app: ClientApp, server_url: str, username: str, password: str = PASSWORD):
    """Fill the login window and click "Sign in"; returns the main window once it is up."""
    qtbot.waitUntil(lambda: app.login_window is not None and app.login_window.isVisible(), timeout=WAIT_MS)
    login = app.login_window
    qtbot.waitUntil(login.sign_in.isEnabled, timeout=WAIT_MS)
    login.server.setText(server_url)
    login.username.setText(username)
    login.password.setText(password)
    with qtbot.waitSignal(app.signed_in, timeout=WAIT_MS):
        QTest.mouseClick(login.sign_in, Qt.MouseButton.LeftButton)
    window = app.main_window
    qtbot.waitUntil(lambda: window.connection == "connected", timeout=WAIT_MS)
    return window


def open_room(qtbot, window, room_id: int) -> None:
    """Open a room in the main window and wait for its first page."""
    window.open_room(room_id)
    qtbot.waitUntil(lambda: window.room_shown(room_id), timeout=WAIT_MS)


def activate(qtbot, window) -> None:
    """Make `window` the active one (the user is looking at it)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
