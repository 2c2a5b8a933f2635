"""Shared by the tests of the built program and of its installers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from test_frozen import BUILD_SCRIPT, TEST_BUILDS, TEST_RELEASE, TRUST_ROOT, build_script, newest_source_change
from updates.repository import init

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


# One definition for the session: a fixture imported into a second test module would run twice,
# and its second build lock would wait forever for the first one's.
@pytest.fixture(scope="session")
def program():
    """The onedir binary, built now unless a build newer than every source is there."""
    binary = build_script.output_path(onefile=False, dist=TEST_BUILDS / "test-dist")
    lock = TEST_BUILDS / "test-build.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as held:
        # Other test sessions in this checkout wait rather than build into the same folder at once.
        if fcntl:
            fcntl.flock(held, fcntl.LOCK_EX)
        if not TRUST_ROOT.exists():
            init(TEST_RELEASE / "repo", TEST_RELEASE / "keys")
        if not binary.exists() or binary.stat().st_mtime < newest_source_change():
            built = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--trust-root", str(TRUST_ROOT),
                                    "--dist", str(binary.parent.parent), "--work", str(TEST_BUILDS / "test-onedir")],
                                   capture_output=True, text=True, timeout=840)
            # A failing self-test still leaves a fresh binary: test_self_test_passes_every_check names what failed.
            fresh = binary.exists() and binary.stat().st_mtime >= newest_source_change()
            assert fresh, f"build/build.py failed ({built.returncode}):\n{built.stdout}\n{built.stderr[-6000:]}"
        if fcntl:
            fcntl.flock(held, fcntl.LOCK_SH)  # keep others from rebuilding it under the running tests
        yield binary
