"""The server's data folder (messenger/server/data_dir_security.py): made for the server's
account only, refused when others can write to it; Windows ACL calls against a fake."""

import os
import subprocess
import sys

import pytest

from messenger.server.data_dir_security import (
    EXIT_INSECURE,
    InsecureDataDir,
    icacls_restrict,
    secure_data_dir,
)

SERVICE_SID = "S-1-5-80-1234"


class FakeAcl:
    """Folders' writers by SID, as GetEffectiveRightsFromAcl would report them; icacls recorded."""

    def __init__(self, writers=()):
        self.writers = set(writers)
        self.restricted = []

    def account_sid(self):
        return SERVICE_SID

    def restrict(self, folder, account_sid):
        self.restricted.append((folder, account_sid))

    def can_write(self, folder, sid):
        return sid in self.writers


def test_windows_a_new_data_folder_is_left_to_system_administrators_and_the_service(tmp_path):
    acl = FakeAcl()
    secure_data_dir(tmp_path / "ProgramData" / "messenger", platform="win32", acl=acl)
    assert acl.restricted == [(tmp_path / "ProgramData" / "messenger", SERVICE_SID)]
    assert icacls_restrict(tmp_path, SERVICE_SID) == [
        "icacls", str(tmp_path), "/inheritance:r", "/grant:r",
        "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F", f"*{SERVICE_SID}:(OI)(CI)F"]
    # Run as SYSTEM (LocalSystem service): granted once.
    assert icacls_restrict(tmp_path, "S-1-5-18").count("*S-1-5-18:(OI)(CI)F") == 1


def test_windows_a_folder_users_can_write_is_refused_with_the_fix(tmp_path):
    acl = FakeAcl(writers={"S-1-5-32-545", "S-1-5-11"})
    with pytest.raises(InsecureDataDir) as refused:
        secure_data_dir(tmp_path, platform="win32", acl=acl)
    assert "Users, Authenticated Users" in str(refused.value) and f"*{SERVICE_SID}:(OI)(CI)F" in str(refused.value)
    assert refused.value.code == "DATA_DIR_INSECURE" and acl.restricted == []
    secure_data_dir(tmp_path, platform="win32", acl=FakeAcl(writers={"S-1-5-18", "S-1-5-32-544"}))


def test_posix_a_new_folder_is_private_and_one_others_can_write_is_refused(tmp_path):
    new = tmp_path / "data"
    secure_data_dir(new, platform="linux")
    assert (os.stat(new).st_mode & 0o777) == 0o700
    os.chmod(new, 0o775)  # a umask of 002: the user's own group may write
    secure_data_dir(new, platform="linux")
    os.chmod(new, 0o777)
    with pytest.raises(InsecureDataDir, match="chmod o-w"):
        secure_data_dir(new, platform="linux")


def test_serve_refuses_before_reading_a_planted_config(tmp_path):
    data = tmp_path / "open"
    data.mkdir()
    (data / "config.toml").write_text('host = "0.0.0.0"\n')
    os.chmod(data, 0o777)
    done = subprocess.run([sys.executable, "-m", "messenger", "--serve", "--port", "0", "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_INSECURE == 78, done.stdout + done.stderr
    assert "error DATA_DIR_INSECURE" in done.stderr and "listening" not in done.stdout
    assert not (data / "messenger.db").exists()
