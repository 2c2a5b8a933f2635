"""The check before Qt starts: a missing system library is named by its package, not by Qt's abort."""

import subprocess
import sys

from PySide6.QtCore import QLibraryInfo

from messenger.client import qt_runtime
from messenger.client.qt_runtime import X11_LIBRARIES, loads, platform_problem

PLUGINS = QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)


def test_xcb_on_this_machine_names_exactly_the_packages_whose_libraries_are_missing():
    """Real: the xcb plugin loads when every X11 library loads, and otherwise the problem names the
    missing ones' packages (this machine's state decides which case runs)."""
    missing = sorted(package for library, package in X11_LIBRARIES.items() if not loads(library))
    problem = platform_problem(PLUGINS, {"DISPLAY": ":99"})
    if not missing:
        assert problem is None
    else:
        assert problem.endswith("sudo apt-get install " + " ".join(missing))


def test_missing_libraries_are_named_by_package(monkeypatch, tmp_path):
    """A plugin that cannot load, with libxcb-icccm.so.4 absent: the message names libxcb-icccm4, the
    package to install (Qt itself blames libxcb-cursor0)."""
    plugin = tmp_path / "platforms" / "libqxcb.so"
    plugin.parent.mkdir()
    plugin.write_bytes(b"not a shared object")
    monkeypatch.setattr(qt_runtime, "loads", lambda library: library not in ("libxcb-icccm.so.4", "libEGL.so.1"))
    problem = platform_problem(str(tmp_path), {"DISPLAY": ":0"})
    assert "sudo apt-get install libegl1 libxcb-icccm4" in problem
    assert "libxcb-cursor0" not in problem


def test_no_display_is_said_with_what_to_do():
    assert "xvfb-run" in platform_problem(PLUGINS, {})
    assert platform_problem(PLUGINS, {"QT_QPA_PLATFORM": "offscreen"}) is None


def test_the_client_stops_with_the_message_instead_of_qt_aborting(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "MESSENGER_CLIENT_HOME": str(tmp_path)}  # no DISPLAY, no QT_QPA_PLATFORM
    done = subprocess.run([sys.executable, "-m", "messenger"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert "The desktop client needs a display" in done.stderr
    assert "could not load the Qt platform plugin" not in done.stderr.lower()
