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

# Written by build/build.py --sign-pfx/--sign-thumbprint after signing the programs: who signed them.
SIGNED_FILE = "SIGNED"


def build_signature(package_dir: Path = Path(__file__).parent) -> str | None:
    """For `--version`: who signed this build's programs, "unsigned build" for a frozen build
    nobody signed (SmartScreen warns about it, publisher rules cannot allow it), None on the sources."""
    if not getattr(sys, "frozen", False):
        return None
    signed = package_dir / SIGNED_FILE
    if signed.is_file():
        return "Authenticode-signed by " + signed.read_text(encoding="utf-8").strip()
    return "unsigned build (no Authenticode signature)"
