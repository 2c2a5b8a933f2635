"""The repository tooling: init, publish (channel from the version, patches), failures exit non-zero,
and the client's bundled trust root as the self-test sees it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from messenger import selftest
from messenger.client.services import updater as updater_module
from messenger.server.http.updates import latest_versions
from updates.repository import channel_of

ROOT = Path(__file__).resolve().parents[2]


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "updates.repository", *map(str, args)], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def bundle(folder: Path, text: str) -> Path:
    folder.mkdir()
    (folder / "messenger.py").write_text(text)
    return folder


@pytest.mark.parametrize("version, channel", [("1.2.0a1", "canary"), ("1.2.0rc2", "canary"), ("1.2.0", "stable"),
                                              ("1.2.0.post1", "stable")])
def test_channel_follows_the_pep440_version(version, channel):
    assert channel_of(version) == channel


def test_init_and_publish_sign_archives_and_patches(tmp_path):
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    assert cli("init", "--repo", repo, "--keys", keys).returncode == 0
    assert (repo / "metadata" / "root.json").exists() and (keys / "root").exists()
    done = cli("publish", "--repo", repo, "--keys", keys, "--bundle", bundle(tmp_path / "a", "one"), "--version", "1.0.0")
    assert done.returncode == 0 and "on stable" in done.stdout, done.stderr
    done = cli("publish", "--repo", repo, "--keys", keys, "--bundle", bundle(tmp_path / "b", "two"), "--version", "1.1.0a1")
    assert done.returncode == 0 and "on canary" in done.stdout, done.stderr
    targets = json.loads((repo / "metadata" / "targets.json").read_text())["signed"]["targets"]
    assert set(targets) == {"messenger-1.0.0.tar.gz", "messenger-1.1.0a1.tar.gz", "messenger-1.1.0a1.patch"}
    assert {k: str(v) for k, v in latest_versions(repo / "metadata").items()} == {"stable": "1.0.0", "canary": "1.1.0a1"}
    assert not list(ROOT.glob(".tufup-repo-config")), "tufup's config file is not left in the working folder"


def test_publish_failures_exit_non_zero(tmp_path):
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    cli("init", "--repo", repo, "--keys", keys)
    cli("publish", "--repo", repo, "--keys", keys, "--bundle", bundle(tmp_path / "a", "one"), "--version", "1.1.0")
    older = cli("publish", "--repo", repo, "--keys", keys, "--bundle", bundle(tmp_path / "b", "x"), "--version", "1.0.0")
    assert older.returncode == 1 and "must be newer" in older.stderr
    missing = cli("publish", "--repo", repo, "--keys", keys, "--bundle", tmp_path / "nowhere", "--version", "1.2.0")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    shutil.rmtree(keys)
    unsigned = cli("publish", "--repo", repo, "--keys", keys, "--bundle", tmp_path / "a", "--version", "1.2.0")
    assert unsigned.returncode == 1, unsigned.stdout


def test_selftest_loads_the_bundled_trust_root(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    assert cli("init", "--repo", repo, "--keys", tmp_path / "keys").returncode == 0
    monkeypatch.setattr(updater_module, "TRUST_ROOT", tmp_path / "absent.json")
    with pytest.raises(selftest.CheckFailed, match="--trust-root"):
        selftest._update_trust_root()
    monkeypatch.setattr(updater_module, "TRUST_ROOT", repo / "metadata" / "root.json")
    assert "version 1" in selftest._update_trust_root()
    broken = json.loads((repo / "metadata" / "root.json").read_text())
    broken["signed"]["version"] = 2  # no longer matches its signature
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    monkeypatch.setattr(updater_module, "TRUST_ROOT", tmp_path / "broken.json")
    with pytest.raises(selftest.CheckFailed):
        selftest._update_trust_root()


def test_tar_patch_rebuilds_the_new_archive_byte_for_byte(tmp_path):
    """Unchanged files are copied, small changed files bsdiff'ed, big or new ones stored."""
    import io
    import random
    import tarfile

    from messenger.client.services.updater import TarDiff

    def tar_of(files: dict) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    noise = random.Random(3).randbytes
    old = {"lib/same.bin": noise(200_000), "app.py": b"print(1)\n" * 50, "big.bin": noise(50_000)}
    new = {"lib/same.bin": old["lib/same.bin"], "app.py": b"print(2)\n" * 50, "big.bin": noise(60_000),
           "added.txt": b"new"}
    src, dst = tar_of(old), tar_of(new)
    patch = TarDiff.diff(src_bytes=src, dst_bytes=dst)
    assert TarDiff.patch(src_bytes=src, patch_bytes=patch) == dst
    assert len(patch) < 100_000, "the unchanged 200 kB file is copied, not stored"
    with pytest.raises(ValueError):
        TarDiff.patch(src_bytes=src, patch_bytes=b"BSDIFF40" + patch)
