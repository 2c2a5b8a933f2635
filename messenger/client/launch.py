"""The tray client's process: `messenger` with no flag runs `run()`.

Before the client (`app.ClientApp`) starts: the log file, Qt's platform check, one instance
only, and the update the last run staged goes in; after it quits: the program starts again
when an update asked to.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QLibraryInfo, QTimer
from PySide6.QtWidgets import QApplication

from messenger.client.app import ClientApp
from messenger.client.qt_runtime import platform_problem
from messenger.client.services.autostart import Autostart, program_command
from messenger.client.services.discovery import browse
from messenger.client.services.dirs import APP_NAME, ClientDirs, client_dirs
from messenger.client.services.updater import Updater
from messenger.client.services.windows_shell import (
    claim_app_user_model_id,
    linked_room,
    listen_for_quit,
    record_installed_version,
)
from messenger.client.ui.crash import install_exception_hook
from messenger.client.ui.single_instance import SingleInstance, instance_name
from messenger.client.ui.tray import app_icon

log = logging.getLogger(__name__)

LOG_FILE_BYTES = 1_000_000


class PrivateLogFile(logging.handlers.RotatingFileHandler):
    """A log file (and each one after a rotation) readable by this account only: room names and
    errors say more than others need to know."""

    def _open(self):
        return open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors,
                    opener=lambda path, flags: os.open(path, flags, 0o600))


def configure_logging(dirs: ClientDirs) -> Path:
    """Log to a rotating file in the client's data folder (and warnings to stderr)."""
    path = dirs.data / "logs" / "client.log"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handler = PrivateLogFile(path, maxBytes=LOG_FILE_BYTES, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    root.addHandler(console)
    return path


def run(argv: list[str] | None = None) -> int:
    """Run the tray client until the user quits; returns the exit code."""
    dirs = client_dirs()
    problems = dirs.make_private()
    log_path = configure_logging(dirs)
    for problem in problems:
        log.warning("cannot make private: %s", problem)
    problem = platform_problem(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    if problem:  # Qt would abort with a message that names the wrong package
        log.error("%s", problem)
        return 1
    QApplication.setApplicationName(APP_NAME)
    claim_app_user_model_id()  # before any window: Windows routes notifications by this id
    app = QApplication([sys.argv[0], *(argv or [])])
    app.setQuitOnLastWindowClosed(False)  # the tray keeps it running
    app.setWindowIcon(app_icon())
    instance = SingleInstance(instance_name(dirs.data))
    # Started by a click on a toast (Windows: `messenger.exe office-messenger:room/42`): the room to open,
    # by the running client, or by this one once signed in.
    room_link = argv[0] if argv and linked_room(argv) is not None else ""
    if not instance.claim(room_link):
        log.info("another instance is running; it was asked to come forward")
        return 0
    install_exception_hook(log_path)
    install_dir = installed_program()
    # Before anything else (but as the only instance): the update downloaded last time goes in.
    if install_dir is not None and apply_staged_update(install_dir, dirs.data):
        # This process runs the files of the old version: the new one starts in its place.
        instance.release()
        start_again(argv)
        return 0
    client = ClientApp(dirs, install_dir=install_dir, autostart=Autostart(), discover=browse)
    instance.activated.connect(client.show_front)
    instance.asked.connect(client.desktop_notifications.open_link)
    if room_link:
        client.desktop_notifications.open_link(room_link)
    app.aboutToQuit.connect(client.shutdown)
    # Ctrl+C in a terminal: Python only sees signals between Qt events, so wake it now and then.
    signal.signal(signal.SIGINT, lambda *_: client.quit())
    signal.signal(signal.SIGTERM, lambda *_: client.quit())  # log-off, service managers, tests: a clean quit
    wake = QTimer(interval=500)
    wake.timeout.connect(lambda: None)
    wake.start()
    client.start()
    quit_window = listen_for_quit(client.quit)  # noqa: F841 - kept alive until the loop ends: installers close it
    log.info("client started (data in %s)", dirs.data)
    try:
        return app.exec()
    finally:
        instance.release()
        if client.restart_requested:
            start_again(argv)


def installed_program() -> Path | None:
    """The folder of the installed (frozen) program, which updates itself; None on the sources,
    where there is no install folder to update (updates are off there)."""
    return Path(sys.executable).parent if getattr(sys, "frozen", False) else None


def apply_staged_update(install_dir: Path, data_dir: Path) -> bool:
    """Undo a swap interrupted last time, then swap in an update staged by the last run;
    True if the program was updated (it must start again to run the new files). The swap
    renames files this process has loaded, which Windows allows too (only overwriting or
    deleting them is refused); the old ones stay mapped until this process ends."""
    state = Updater(install_dir, data_dir, "").apply_staged()
    if state.status == "applied":
        log.info("updated to %s", state.version)
        record_installed_version(install_dir, state.version)
    return state.status == "applied"


def start_again(argv: list[str] | None) -> None:
    """Start the program anew, on its own (it outlives this process)."""
    detached = {"creationflags": subprocess.DETACHED_PROCESS} if sys.platform == "win32" else {
        "start_new_session": True}
    subprocess.Popen([*program_command(), *(argv or [])], close_fds=True, **detached)
