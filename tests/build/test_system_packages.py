"""`build/system_packages.py`: the README's commands install what they need, or say exactly what to install."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "build" / "system_packages.py"
# What the script reads: itself and the client's list of libraries (standard library only).
SCRIPT_FILES = ["build/system_packages.py", "messenger/__init__.py", "messenger/client/__init__.py",
                "messenger/client/qt_runtime.py"]


@pytest.fixture
def nothing_installed():
    """A copy of the script that anyone can read, and a dpkg-query that knows no package (a bare
    Debian, as far as the script can tell)."""
    folder = Path(tempfile.mkdtemp())
    for name in SCRIPT_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, folder / name)
    fake = folder / "bin" / "dpkg-query"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"dpkg-query: no packages found matching $3\" >&2\nexit 1\n")
    for path in folder.rglob("*"):
        path.chmod(0o755)
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def run_as_a_normal_user(role, copy):
    """The script run by `nobody` (when the tests run as root) with the system's Python."""
    env = {"PATH": f"{copy / 'bin'}:/usr/bin:/bin", "DISPLAY": ""}
    as_user = {"user": 65534, "group": 65534} if os.geteuid() == 0 else {}
    python = "/usr/bin/python3" if as_user and Path("/usr/bin/python3").exists() else sys.executable
    return subprocess.run([python, "-I", str(copy / "build" / "system_packages.py"), role], capture_output=True,
                          text=True, env=env, timeout=60, cwd="/", **as_user)


def test_a_normal_user_is_stopped_at_once_with_the_apt_get_line(nothing_installed):
    done = run_as_a_normal_user("test", nothing_installed)
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1].split()
    assert line[:4] == ["sudo", "apt-get", "install", "-y"]
    assert {"libxcb-icccm4", "fonts-nanum", "xvfb", "wixl", "msitools", "nsis", "wine64", "postgresql"} <= set(line[4:])


def test_the_desktop_role_wants_xvfb_only_without_a_display(nothing_installed):
    headless = run_as_a_normal_user("desktop", nothing_installed).stderr
    assert " xvfb" in headless and "libxcb-cursor0" in headless and "wine64" not in headless


def test_this_machine_has_what_the_test_role_wants():
    """The README's test command ran the script before pytest: nothing is left to install."""
    done = subprocess.run([sys.executable, str(SCRIPT), "test"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
