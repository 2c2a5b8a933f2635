"""The one entry point."""

import subprocess
import sys


def test_importing_the_entry_point_imports_no_threading():
    """`messenger --serve` monkey-patches the standard library first; nothing may come before it."""
    probe = "import sys, messenger.cli; print(sorted(m for m in ('threading', 'ssl', 'socket') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
