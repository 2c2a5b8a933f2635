"""Signed updates end to end: a real tufup repository, served by a real server over loopback,
applied by the client updater; tampering, rollback and expiry are refused without a crash."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from messenger.client.services import updater as updater_module
from messenger.client.services.updater import Updater, installed_version
from updates.repository import _repository, init, publish

VERSIONS = ("1.0.0", "1.1.0", "1.2.0a1")


def make_bundle(folder: Path, version: str) -> Path:
    """A tiny fake onedir bundle: an unchanging 'library', a per-version program file."""
    folder.mkdir(parents=True)
    (folder / "lib").mkdir()
    (folder / "lib" / "core.bin").write_bytes(random.Random(7).randbytes(300_000))
    (folder / "messenger.py").write_text(f"print('messenger {version}')\n")
    if version != "1.0.0":
        (folder / f"new-in-{version}.txt").write_text(version)
    return folder


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A repository with 1.0.0, 1.1.0 (stable) and 1.2.0a1 (canary), plus a copy of the
    metadata as it was after 1.0.0 (for the rollback attack)."""
    root = tmp_path_factory.mktemp("release")
    repo, keys = root / "repo", root / "keys"
    init(repo, keys)
    for version in VERSIONS:
        result = publish(repo, keys, make_bundle(root / f"bundle-{version}", version), version)
        print(f"\npublish {version} ({result['channel']}): {result['seconds']:.2f} s, patch: {bool(result['patch'])}")
        if version == "1.0.0":
            shutil.copytree(repo / "metadata", root / "metadata-after-1.0.0")
    return root


@pytest.fixture
def site(published, tmp_path, fresh_server):
    """A server whose data dir holds a copy of the repository, and an installed 1.0.0."""
    data_dir = tmp_path / "server-data"
    shutil.copytree(published / "repo", data_dir / "updates")
    server = fresh_server(data_dir=data_dir)
    install = tmp_path / "Programs" / "messenger"
    shutil.copytree(published / "bundle-1.0.0", install)
    return server, install, data_dir / "updates"


def client(site, tmp_path, channel="stable", with_current_archive=True, pins=None) -> Updater:
    """An updater at 1.0.0; like the installer, it keeps the installed archive for patching."""
    server, install, repo = site
    updater = Updater(install, tmp_path / "client-data", server.url, channel=channel,
                      trust_root=repo / "metadata" / "root.json", pins=pins)
    if with_current_archive:
        targets = tmp_path / "client-data" / "updates" / "targets"
        targets.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repo / "targets" / "messenger-1.0.0.tar.gz", targets / "messenger-1.0.0.tar.gz")
    return updater


def update(updater: Updater, expected: str) -> None:
    assert updater.check().status == "available" and updater.state.version == expected
    calls, finished = [], []
    started = time.monotonic()
    updater.download_in_background(lambda done, total: calls.append((done, total)), finished.append).join(60)
    assert finished and finished[0].status == "staged", updater.state
    downloaded = time.monotonic() - started
    started = time.monotonic()
    assert updater.apply_staged().status == "applied", updater.state
    print(f"\nupdate 1.0.0 -> {expected}: download+verify+stage {downloaded:.2f} s, swap {time.monotonic() - started:.2f} s")
    assert calls and calls[-1][0] == calls[-1][1], "progress reached the full size"


def test_stable_client_applies_the_final_release_through_a_patch(site, tmp_path):
    updater = client(site, tmp_path)
    update(updater, "1.1.0")
    install = site[1]
    assert installed_version(install) == "1.1.0"
    assert (install / "new-in-1.1.0.txt").read_text() == "1.1.0"
    assert "1.1.0" in (install / "messenger.py").read_text()
    assert any(p.suffix == ".patch" for p in (tmp_path / "client-data" / "updates" / "targets").iterdir())
    assert not updater.staged_dir.exists() and not updater.previous_dir.exists()


def test_canary_client_gets_the_pre_release(site, tmp_path):
    update(client(site, tmp_path, channel="canary"), "1.2.0a1")
    assert installed_version(site[1]) == "1.2.0a1"


def test_full_archive_when_no_installed_archive_to_patch(site, tmp_path):
    update(client(site, tmp_path, with_current_archive=False), "1.1.0")
    assert installed_version(site[1]) == "1.1.0"


def test_up_to_date_client_is_told_so(site, tmp_path):
    updater = client(site, tmp_path)
    updater.current_version = "1.1.0"
    assert updater.check().status == "up_to_date"


def test_rolled_back_metadata_is_refused(site, published, tmp_path):
    updater = client(site, tmp_path)
    assert updater.check().status == "available"
    metadata = site[2] / "metadata"
    shutil.rmtree(metadata)
    shutil.copytree(published / "metadata-after-1.0.0", metadata)
    state = updater.check()
    assert state.status == "failed" and state.message.startswith("update check failed: ")
    assert "version" in state.reason.lower(), state.reason


def test_expired_metadata_is_refused(site, published, tmp_path):
    repository = _repository(site[2], published / "keys")
    repository._load_keys_and_roles(create_keys=False)
    repository.refresh_expiration_date("timestamp", days=-1)
    repository.publish_changes(private_key_dirs=[published / "keys"])
    state = client(site, tmp_path).check()
    assert state.status == "failed" and "expired" in state.reason.lower(), state.reason


@pytest.mark.parametrize("target, with_archive", [("messenger-1.1.0.patch", True), ("messenger-1.1.0.tar.gz", False)])
def test_tampered_download_is_refused_and_nothing_is_staged(site, tmp_path, target, with_archive):
    path = site[2] / "targets" / target
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    updater = client(site, tmp_path, with_current_archive=with_archive)
    assert updater.check().status == "available"
    state = updater.download()
    assert state.status == "failed" and state.message.startswith("update check failed: "), state
    assert updater.apply_staged().status == "failed" and installed_version(site[1]) == "1.0.0"


def test_target_longer_than_declared_is_refused(site, tmp_path):
    path = site[2] / "targets" / "messenger-1.1.0.tar.gz"
    path.write_bytes(path.read_bytes() + b"\0" * 4096)
    updater = client(site, tmp_path, with_current_archive=False)
    updater.check()
    assert updater.download().status == "failed"
    assert installed_version(site[1]) == "1.0.0"


def test_unreachable_server_is_a_failed_check_not_a_crash(tmp_path, published):
    install = shutil.copytree(published / "bundle-1.0.0", tmp_path / "messenger")
    updater = Updater(install, tmp_path / "data", "http://127.0.0.1:9", trust_root=published / "repo/metadata/root.json")
    state = updater.check()
    assert state.status == "failed" and "127.0.0.1:9" in state.reason, state.reason


def _failing_replace(after: int, error: BaseException):
    """os.replace that fails once, on call number `after + 1` (the disk recovers afterwards)."""
    real, calls = updater_module.os.replace, []

    def replace(src, dst):
        calls.append(src)
        if len(calls) == after + 1:
            raise error
        real(src, dst)
    return replace


def test_failure_mid_swap_rolls_back_to_the_old_version(site, tmp_path, monkeypatch):
    updater = client(site, tmp_path)
    updater.check()
    assert updater.download().status == "staged"
    monkeypatch.setattr(updater_module.os, "replace", _failing_replace(3, OSError("disk full")))
    assert updater.apply_staged().status == "failed"
    install = site[1]
    assert installed_version(install) == "1.0.0" and "1.0.0" in (install / "messenger.py").read_text()


def test_a_file_an_antivirus_holds_for_a_moment_is_tried_again(site, tmp_path, monkeypatch):
    updater = client(site, tmp_path)
    updater.check()
    assert updater.download().status == "staged"
    real, held = updater_module.os.replace, []

    def scanned(source, target):
        if len(held) < 2:  # the first two tries meet a scanner's open handle
            held.append(source)
            raise PermissionError(32, "The process cannot access the file because it is being used")
        real(source, target)

    monkeypatch.setattr(updater_module.os, "replace", scanned)
    monkeypatch.setattr(updater_module.time, "sleep", lambda seconds: None)
    assert updater.apply_staged().status == "applied" and len(held) == 2
    assert installed_version(site[1]) == "1.1.0"


def test_process_killed_mid_swap_is_rolled_back_at_next_start(site, tmp_path, monkeypatch):
    updater = client(site, tmp_path)
    updater.check()
    assert updater.download().status == "staged"
    with monkeypatch.context() as patched:
        patched.setattr(updater_module.os, "replace", _failing_replace(3, KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            updater.apply_staged()
    install = site[1]
    assert (updater.previous_dir / updater_module.JOURNAL).exists()
    next_start = client(site, tmp_path)
    assert next_start.recover() is True
    assert installed_version(install) == "1.0.0" and "1.0.0" in (install / "messenger.py").read_text()
    assert (install / "lib" / "core.bin").stat().st_size == 300_000


def test_per_machine_install_reports_ask_it_and_downloads_nothing(site, tmp_path, monkeypatch):
    monkeypatch.setattr(updater_module, "_writable", lambda folder: False)
    updater = client(site, tmp_path)
    state = updater.check()
    assert state.status == "ask_it" and state.message == "update 1.1.0 available, ask IT"
    assert updater.download().status == "ask_it" and not updater.staged_dir.exists()


def test_msi_install_is_never_updated_even_when_writable(site, tmp_path):
    updater = client(site, tmp_path)
    updater.check()
    assert updater.download().status == "staged"  # staged before IT took the install over
    (site[1] / updater_module.MANAGED_MARKER).write_text("")
    assert updater.check().status == "ask_it"
    assert updater.apply_staged().status != "applied" and not updater.staged_dir.exists()
    assert installed_version(site[1]) == "1.0.0"


def test_a_staged_update_older_than_what_an_installer_brought_is_discarded(site, tmp_path):
    """1.1.0 staged, then the 1.2.0 installer ran: the next start must not go back to 1.1.0."""
    updater = client(site, tmp_path)
    updater.check()
    assert updater.download().status == "staged" and updater.staged_version() == "1.1.0"
    (site[1] / updater_module.VERSION_MARKER).write_text("1.2.0")  # what the installer laid down
    next_start = client(site, tmp_path)
    assert next_start.apply_staged().status != "applied"
    assert not next_start.staged_dir.exists() and installed_version(site[1]) == "1.2.0"
    assert "1.0.0" in (site[1] / "messenger.py").read_text()  # not one file swapped


def test_the_update_waits_while_another_process_of_the_install_runs(site, tmp_path):
    updater = client(site, tmp_path)
    updater.check()
    assert updater.download().status == "staged"
    other = subprocess.Popen([sys.executable, "-c", (
        "import sys; from messenger.install_use import hold; hold(sys.argv[1]); print('holding', flush=True); "
        "sys.stdin.readline()"), str(site[1])], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "holding"
        state = updater.apply_staged()
        assert (state.status, state.message) == ("waiting", "update 1.1.0 waits: another process of this install runs")
        assert installed_version(site[1]) == "1.0.0" and updater.staged_version() == "1.1.0"
    finally:
        other.communicate("\n", timeout=30)
    assert client(site, tmp_path).apply_staged().status == "applied" and installed_version(site[1]) == "1.1.0"


def test_server_serves_the_repository_with_content_types(site):
    server = site[0]
    root = httpx.get(f"{server.url}/updates/metadata/root.json")
    assert root.status_code == 200 and root.headers["content-type"].startswith("application/json")
    archive = httpx.get(f"{server.url}/updates/targets/messenger-1.1.0.tar.gz")
    assert archive.headers["content-type"] == "application/gzip"
    assert archive.content == (site[2] / "targets" / "messenger-1.1.0.tar.gz").read_bytes()
    assert httpx.get(f"{server.url}/updates/targets/messenger-1.1.0.patch").headers["content-type"] == \
        "application/octet-stream"
    assert httpx.get(f"{server.url}/updates/targets/..%2Fmetadata%2Froot.json").status_code == 404
    assert httpx.get(f"{server.url}/updates/metadata/missing.json").status_code == 404


@pytest.mark.parametrize("channel, latest", [("stable", "1.1.0"), ("canary", "1.2.0a1")])
def test_client_update_policy_reports_the_repository_release(site, channel, latest):
    answer = httpx.get(f"{site[0].url}/api/client/update",
                       params={"client_version": "1.0.0", "channel": channel}).json()
    assert answer["latest_version"] == latest and answer["update_available"] is True


def test_periodic_check_follows_the_channel_setting(site, tmp_path):
    import threading

    from messenger.client.services.settings import ClientSettings

    settings = ClientSettings(tmp_path / "settings.json")
    updater = client(site, tmp_path)
    updater.settings = settings
    seen, arrived = [], threading.Event()
    updater.start_periodic(every_seconds=0.2, on_state=lambda state: (seen.append(state), arrived.set()))
    try:
        assert arrived.wait(20) and seen[0].version == "1.1.0"
        settings.set("update_channel", "canary")
        arrived.clear()
        while arrived.wait(20) and seen[-1].version != "1.2.0a1":
            arrived.clear()
        assert seen[-1].version == "1.2.0a1"
    finally:
        updater.stop()


@pytest.fixture
def https_site(published, tmp_path, fresh_server):
    """`site` on a server with its self-signed certificate (production mode)."""
    data_dir = tmp_path / "server-data"
    shutil.copytree(published / "repo", data_dir / "updates")
    server = fresh_server(data_dir=data_dir, env={"MESSENGER_ENV": "prod", "MESSENGER_DISCOVERY": "0"})
    install = tmp_path / "Programs" / "messenger"
    shutil.copytree(published / "bundle-1.0.0", install)
    return server, install, data_dir / "updates"


def test_updates_come_through_the_desks_pinned_certificate_and_no_other(https_site, tmp_path):
    from messenger.client.services.trust import ServerPins
    from messenger.server.tls import certificate_fingerprint

    server, install, repo = https_site
    pins = ServerPins(tmp_path / "desk")
    unpinned = Updater(install, tmp_path / "client-data", server.url, trust_root=repo / "metadata" / "root.json",
                       pins=pins)
    first = unpinned.check()  # a self-signed certificate nobody trusted
    assert first.status == "failed" and first.reason.startswith("SERVER_CERTIFICATE_UNTRUSTED: "), first
    pins.trust(server.url, "AB" * 32)
    changed = Updater(install, tmp_path / "client-data", server.url, trust_root=repo / "metadata" / "root.json",
                      pins=pins)
    state = changed.check()
    assert state.status == "failed" and state.reason.startswith("SERVER_CERTIFICATE_CHANGED: "), state
    pins.trust(server.url, certificate_fingerprint(server.data_dir / "tls" / "server.crt"))
    update(client(https_site, tmp_path, pins=pins), "1.1.0")
