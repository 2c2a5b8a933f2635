"""Install, or name, the Debian/Ubuntu packages a job needs: `python3 build/system_packages.py desktop|test`.

`desktop`: the libraries and the Korean font the desktop client needs (and Xvfb on a machine
with no display); `test`: what the test suite uses (the same, with Xvfb, for the client tests,
the frozen program and `messenger local` on a virtual display; the MSI/EXE tools and Wine for
the installer tests).
As root, missing packages are installed with apt-get; as anyone else the script stops (exit 1)
with the `apt-get install` line to run. Elsewhere than Debian/Ubuntu it only lists them.
Runs with the system's Python, before any virtual environment: standard library only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from messenger.client.qt_runtime import DESKTOP_PACKAGES  # noqa: E402  (stdlib only)

INSTALLER_TOOLS = ["wixl", "msitools", "nsis", "wine64"]  # tests/build/test_installers.py
ROLES = {
    "desktop": DESKTOP_PACKAGES,
    # postgresql, redis-server: tests/services.py starts its own servers from them (PostgreSQL,
    # several server processes); nginx-light: the front of tests/server/test_scale_out.py;
    # chromium: the browser client's tests drive it headless (tests/server/web, Playwright).
    "test": sorted({*DESKTOP_PACKAGES, "xvfb", *INSTALLER_TOOLS, "postgresql", "redis-server", "nginx-light",
                    "chromium"}),
}


def wanted(role: str, environ=os.environ) -> list[str]:
    packages = list(ROLES[role])
    if role == "desktop" and not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        packages.append("xvfb")  # the client then runs on a virtual display
    return packages


def installed(package: str) -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.endswith(" installed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=sorted(ROLES))
    args = parser.parse_args(argv)
    packages = wanted(args.role)
    if not sys.platform.startswith("linux"):
        return 0
    if not shutil.which("dpkg-query"):
        print(f"not a Debian/Ubuntu system: make sure the equivalents of these are installed: {' '.join(packages)}",
              file=sys.stderr)
        return 0
    missing = [package for package in packages if not installed(package)]
    if not missing:
        return 0
    if os.geteuid() != 0:
        print(f"missing system packages for the {args.role} job; install them, then run this again:\n"
              f"    sudo apt-get install -y {' '.join(missing)}", file=sys.stderr)
        return 1
    print(f"installing system packages: {' '.join(missing)}", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            print(done.stdout, f"error: {' '.join(command)} failed (exit code {done.returncode})",
                  sep="\n", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
