"""One tray client per user and client folder: a second launch brings the first forward.

The first instance listens on a local socket (a named pipe on Windows) named after the
user and the client's data folder; a later launch finds it there, asks it to show its
window (and hands over what it was started for: a toast's room link), and exits.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 500


def instance_name(data_dir: Path) -> str:
    """The socket name for this user and client folder (two test homes never collide)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    digest = hashlib.sha256(f"{user}\n{Path(data_dir).resolve()}".encode()).hexdigest()[:16]
    return f"messenger-{digest}"


class SingleInstance(QObject):
    activated = Signal()  # another launch asked this one to come forward
    asked = Signal(str)  # then what it was started for, if anything (one line: a room link)

    def __init__(self, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self.server: QLocalServer | None = None

    def claim(self, request: str = "") -> bool:
        """True: this is the first instance (and now listens). False: another one runs and
        has been asked to show itself and given `request`."""
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        if probe.waitForConnected(CONNECT_TIMEOUT_MS):
            if request:
                probe.write(request.encode() + b"\n")
                probe.waitForBytesWritten(CONNECT_TIMEOUT_MS)
            probe.disconnectFromServer()
            return False
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            # A socket file left by a crashed instance: nobody answered above, so take it over.
            QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                log.warning("single instance: cannot listen on %s (%s)", self.name, server.errorString())
                return True
        server.newConnection.connect(self._on_connection)
        self.server = server
        return True

    def release(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server.deleteLater()
            self.server = None

    def _on_connection(self) -> None:
        # Whoever connects is a later launch of the same client: a connection is the request to
        # come forward; what it wrote before it disconnected (at once) says what for.
        while self.server is not None and self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
                socket.waitForDisconnected(CONNECT_TIMEOUT_MS)
            request = bytes(socket.readAll().data()).decode(errors="replace").strip()
            socket.deleteLater()
            self.activated.emit()
            if request:
                self.asked.emit(request)
