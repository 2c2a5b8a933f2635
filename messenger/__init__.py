"""Self-hosted office messenger: one program that is both the server and the desktop client."""

import sys
from pathlib import Path

# Written into the bundle by build/build.py --version, so one source tree builds any release.
BUILT_VERSION_FILE = "BUILT_VERSION"


def _version() -> str:
    built = Path(__file__).with_name(BUILT_VERSION_FILE)
    if getattr(sys, "frozen", False) and built.is_file():
        return built.read_text(encoding="utf-8").strip()
    return "0.1.0"


__version__ = _version()
