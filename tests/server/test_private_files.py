"""The server's files are its account's alone: the database with its -wal/-shm, secrets, uploads,
backups; a data dir with looser modes is tightened at start, or the log says why not."""

import os
import stat
import subprocess

from harness import Socket, register_and_login
from uploading import BLOB, group, uploaded


def loose_entries(folder):
    """Every path under `folder` (itself included) that its group or others may use."""
    return [f"{path} {stat.filemode(path.lstat().st_mode)}" for path in [folder, *folder.rglob("*")]
            if not path.is_symlink() and path.lstat().st_mode & 0o077]


def test_a_loose_data_dir_is_tightened_and_everything_made_after_is_private(fresh_server, tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "uploads").mkdir(parents=True)
    (data_dir / "uploads" / "left-over.bin").write_bytes(b"x")
    for path, mode in ((data_dir, 0o755), (data_dir / "uploads", 0o777), (data_dir / "uploads" / "left-over.bin", 0o644)):
        path.chmod(mode)
    server = fresh_server(data_dir=data_dir)
    alice = register_and_login(server)
    room_id = group(alice)
    uploaded(alice, room_id, "blob.bin", BLOB, encrypted=True)
    sock = Socket(server.url, alice.token)
    try:
        assert sock.call("send_message", {"room_id": room_id, "content": "hello", "encrypted": False})["ok"]
    finally:
        sock.close()
    backup = tmp_path / "backups" / "backup.zip"
    server.admin("backup", str(backup))
    written = {path.name for path in data_dir.rglob("*")}
    assert {"messenger.db", "messenger.db-wal", "secret_key", "left-over.bin"} <= written
    assert loose_entries(data_dir) == []
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600


def test_what_cannot_be_tightened_is_said_and_the_server_still_starts(fresh_server, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    stuck = data_dir / "config.toml"
    stuck.write_text("")
    stuck.chmod(0o644)
    subprocess.run(["chattr", "+i", str(stuck)], check=True)  # immutable: even root cannot chmod it
    try:
        server = fresh_server(data_dir=data_dir)
        assert f"cannot make private: {stuck}: Operation not permitted" in "".join(server.output)
        assert stat.S_IMODE(stuck.stat().st_mode) == 0o644
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    assert os.stat(data_dir).st_mode & 0o077 == 0
