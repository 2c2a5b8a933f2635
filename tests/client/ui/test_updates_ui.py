"""The updater in the tray client: a real signed (tufup) repository served by a real server, a
tiny fake installed program as the install folder; what the settings dialog and the tray show."""

import random
import shutil
import sys

import pytest
from client_kit import MemoryKeyring
from desk_kit import FAST_OUTBOX, FAST_REALTIME
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from messenger import __version__
from messenger.client.app import ClientApp
from messenger.client.launch import apply_staged_update, installed_program
from messenger.client.services import updater as updater_module
from messenger.client.services.settings import ClientSettings
from messenger.client.services.updater import installed_version
from updates.repository import init, publish

LONG_WAIT_MS = 60_000  # a check, a download and an unpack


def make_bundle(folder, version: str):
    """A tiny fake installed program: an unchanging 'library' and a per-version file."""
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "core.bin").write_bytes(random.Random(7).randbytes(200_000))
    (folder / "messenger.py").write_text(f"print('messenger {version}')\n")
    return folder


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Releases 1.0.0 and 1.1.0 (stable) and 1.2.0a1 (canary)."""
    root = tmp_path_factory.mktemp("release")
    init(root / "repo", root / "keys")
    for version in ("1.0.0", "1.1.0", "1.2.0a1"):
        publish(root / "repo", root / "keys", make_bundle(root / f"bundle-{version}", version), version)
    return root


@pytest.fixture
def site(published, tmp_path, fresh_server):
    """A server serving the repository, and version 1.0.0 installed in a folder of its own."""
    shutil.copytree(published / "repo", tmp_path / "server-data" / "updates")
    server = fresh_server(data_dir=tmp_path / "server-data")
    install = tmp_path / "Programs" / "messenger"
    shutil.copytree(published / "bundle-1.0.0", install)
    return server, install, published / "repo" / "metadata" / "root.json"


def start_installed(desks, site, server_url: str, **settings) -> ClientApp:
    """The installed client (its updater on), its server and other settings preset."""
    _, install, trust_root = site
    dirs = desks.dirs("kim")
    ClientSettings(dirs.config / ClientSettings.FILE_NAME).update(language="en-US", server_url=server_url, **settings)
    app = ClientApp(dirs, keyring_backend=MemoryKeyring(), realtime_options=FAST_REALTIME,
                    outbox_options=FAST_OUTBOX, install_dir=install, update_trust_root=trust_root)
    desks.apps.append(app)
    shown = []
    app.updates.changed.connect(lambda: shown.append(app.updates.status))
    app.start()
    return app, shown


def test_a_release_is_found_downloaded_and_offered_as_a_restart_then_canary_finds_the_preview(
        site, desks, qtbot):
    server, install, _ = site
    app, shown = start_installed(desks, site, server.url)

    qtbot.waitUntil(lambda: app.updates.ready, timeout=LONG_WAIT_MS)
    assert "update 1.1.0 available" in shown
    assert any(line.startswith("downloading ") and line.endswith("%") for line in shown)
    dialog = app.open_settings()
    assert dialog.update_status.text() == "update 1.1.0 ready — restart to update"
    assert dialog.restart.isVisibleTo(dialog) and dialog.check_now.isEnabled()
    assert app.tray.restart_action.isVisible() and app.tray.restart_action.text() == "Restart to update"

    # A new channel applies from the next check: "Check now" here.
    dialog.update_channel.setCurrentIndex(dialog.update_channel.findData("canary"))
    QTest.mouseClick(dialog.check_now, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.update_status.text() == "update 1.2.0a1 ready — restart to update",
                    timeout=LONG_WAIT_MS)
    assert app.settings.update_channel == "canary"
    assert "update 1.2.0a1 available" in shown

    QTest.mouseClick(dialog.restart, Qt.MouseButton.LeftButton)
    assert app.restart_requested  # run() starts the program again once this one is gone
    # What the next start does before anything else.
    assert apply_staged_update(install, desks.dirs("kim").data)
    assert installed_version(install) == "1.2.0a1"
    assert not apply_staged_update(install, desks.dirs("kim").data)  # nothing more: the start goes on


def test_a_failed_check_is_shown_and_the_client_keeps_running(site, desks, qtbot):
    server, _, _ = site
    app, _ = start_installed(desks, site, "http://127.0.0.1:9")  # nothing listens there

    qtbot.waitUntil(lambda: app.updates.state is not None, timeout=LONG_WAIT_MS)
    dialog = app.open_settings()
    assert dialog.update_status.text().startswith("update check failed: ")
    assert not dialog.restart.isVisibleTo(dialog) and not app.tray.restart_action.isVisible()
    assert app.login_window is not None and app.login_window.isVisible()

    app.settings.server_url = server.url  # the right server now: the next check finds the release
    QTest.mouseClick(dialog.check_now, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: app.updates.ready, timeout=LONG_WAIT_MS)
    assert dialog.update_status.text() == "update 1.1.0 ready — restart to update"


def test_before_a_server_is_chosen_nothing_is_checked_then_choosing_one_checks(site, desks, qtbot):
    server, _, _ = site
    app, shown = start_installed(desks, site, "")

    qtbot.waitUntil(lambda: app.updates.state is not None, timeout=LONG_WAIT_MS)
    assert app.open_settings().update_status.text() == "not checked yet"

    app.settings.server_url = server.url  # as signing in does
    qtbot.waitUntil(lambda: app.updates.ready, timeout=LONG_WAIT_MS)
    assert "update 1.1.0 available" in shown


def test_a_per_machine_install_sends_the_user_to_it(site, desks, qtbot, monkeypatch):
    server, install, _ = site
    # Tests run as root here, which writes anywhere: pretend the program folder is not ours.
    monkeypatch.setattr(updater_module, "_writable", lambda folder: folder not in (install, install.parent))
    app, shown = start_installed(desks, site, server.url)

    qtbot.waitUntil(lambda: app.updates.state is not None, timeout=LONG_WAIT_MS)
    assert app.open_settings().update_status.text() == "update 1.1.0 available, ask IT"
    assert not app.updates.ready and not any(line.startswith("downloading") for line in shown)


def test_from_the_sources_updates_are_off_and_said_so(desks, qtbot):
    app = desks.start("kim")

    dialog = app.open_settings()

    assert dialog.update_status.text() == "off: running from the sources"
    assert not dialog.check_now.isEnabled() and not dialog.restart.isVisibleTo(dialog)
    assert __version__ in [label.text() for label in dialog.findChildren(type(dialog.update_status))]


def test_only_the_installed_program_updates_itself(monkeypatch, tmp_path):
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert installed_program() is None  # Python on the sources: no install folder of ours
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "Messenger" / "messenger.exe"))
    assert installed_program() == tmp_path / "Messenger"
