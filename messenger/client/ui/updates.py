"""The updater as the tray client shows it: one status line, a check on request, a restart.

The updater's checks and downloads run on its own threads; every report hops to the GUI thread
through the bridge before it changes anything here. A release found is downloaded at once in
the background; it is swapped in at the next start (`Restart to update`).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from messenger import __version__
from messenger.client.i18n import tr
from messenger.client.services.updater import Updater, UpdateState
from messenger.client.ui.bridge import Bridge

CHECK_EVERY_SECONDS = 4 * 3600


class Updates(QObject):
    changed = Signal()  # the status line (and whether a restart would update) changed
    restart_requested = Signal()

    def __init__(self, updater: Updater | None, bridge: Bridge, parent: QObject | None = None):
        """`updater` None: running from the sources, where there is no install folder to update."""
        super().__init__(parent)
        self.updater = updater
        self.bridge = bridge
        self.state: UpdateState | None = None  # None until the first check ends
        self.percent = 0
        self.checking = False

    @property
    def enabled(self) -> bool:
        return self.updater is not None

    @property
    def version(self) -> str:
        return self.updater.current_version if self.updater is not None else __version__

    @property
    def ready(self) -> bool:
        """A release is downloaded: restarting installs it."""
        return self.state is not None and self.state.status == "staged"

    @property
    def status(self) -> str:
        if self.updater is None:
            return tr("update.off")
        if self.checking:
            return tr("update.checking")
        if self.state is None or not self.updater.server_url:
            return tr("update.not_checked")  # no server chosen yet: nothing to ask
        status, version = self.state.status, self.state.version
        if status == "failed":
            return tr("update.failed", reason=self.state.reason)
        if status == "downloading":
            return tr("update.downloading", percent=self.percent)
        if status in ("available", "ask_it", "staged"):
            return tr(f"update.{status}", version=version)
        return tr("update.up_to_date")

    def start(self, every_seconds: float = CHECK_EVERY_SECONDS) -> None:
        """Check now, then every `every_seconds`."""
        if self.updater is not None:
            self.checking = True
            self.changed.emit()
            self.updater.start_periodic(every_seconds, on_state=lambda state: self.bridge.post(self._checked, state))

    def check_now(self) -> None:
        if self.updater is None or self.checking or self._downloading:
            return
        self.checking = True
        self.changed.emit()
        self.bridge.run(self.updater.check).then(self._checked)

    def stop(self) -> None:
        if self.updater is not None:
            self.updater.stop()

    @property
    def _downloading(self) -> bool:
        return self.state is not None and self.state.status == "downloading"

    def _checked(self, state: UpdateState) -> None:
        self.checking = False
        if self._downloading:
            return  # a periodic check waited for the download; the download reports its own end
        self._show(state)
        if state.status == "available":
            self.percent = 0
            self._show(UpdateState("downloading", state.version))
            self.updater.download_in_background(
                lambda done, total: self._progress(done, total),
                lambda finished: self.bridge.post(self._show, finished))

    def _progress(self, done: int, total: int) -> None:
        """On the download thread: report whole percents only."""
        percent = min(100, done * 100 // total) if total else 0
        if percent != self.percent:
            self.percent = percent
            self.bridge.post(self.changed.emit)

    def _show(self, state: UpdateState) -> None:
        self.state = state
        self.changed.emit()
