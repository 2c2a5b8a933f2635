"""Fixtures for the tray client's Qt tests: the offscreen platform, a client folder and an
in-memory keyring per simulated desk, and a TCP relay for server outages."""

import gc
import os
import sys
from pathlib import Path

# Before pytest-qt makes the QApplication: no display here, and none needed.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The client services' test kit (MemoryKeyring, Relay) lives beside this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "services"))

import pytest
from client_kit import Relay
from desk_kit import Desks


@pytest.fixture(autouse=True)
def collect_garbage_only_between_tests(qapp):
    """Python's cycle collector once ran inside a nested Qt event loop (qtbot.waitUntil) while
    Qt was deleting a closed dialog, and the process crashed (seen 2 times in 6 full runs).
    Here it runs only after Qt's deferred deletions are done. The app itself may need the same
    care: see the issue note."""
    gc.disable()
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    QCoreApplication.processEvents()
    gc.collect()
    gc.enable()


@pytest.fixture
def desks(qtbot, tmp_path):
    """`desks.start("kim")` starts a tray client with the folder and keyring of desk "kim"
    (the same name again is the same computer starting the client again); every client is
    shut down at the end of the test."""
    made = Desks(tmp_path)
    yield made
    made.shut_down_all()


@pytest.fixture
def relay():
    """`relay(target_url)` makes a TCP relay (it can refuse connections and follow a server
    restarted on a new port); all are closed at the end of the test."""
    made = []

    def make(target_url: str) -> Relay:
        made.append(Relay(target_url))
        return made[-1]

    yield make
    for item in made:
        item.close()
