"""Build the one program with PyInstaller: `python build/build.py [--onefile]`.

Onedir (the default, what ships) gives dist/messenger/messenger; --onefile gives
dist/onefile/messenger, kept for comparison. Installs nothing: PyInstaller comes from the
`build` extra (`pip install -e '.[build]'`). Prints the size and the build time, then runs the
built program's --self-test; the exit status is non-zero if the build or the self-test fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec" / "messenger.spec"
WORK = ROOT / "build" / "work"
PROGRAM = "messenger.exe" if sys.platform == "win32" else "messenger"
# Warnings about modules the hooks list and the build leaves out on purpose (gevent's own test
# suite, database drivers the program does not use): hundreds of lines that would hide real ones.
KNOWN_NOISE = re.compile(r'WARNING: Hidden import "(gevent\.tests?|pysqlite2|MySQLdb|pycparser\.\w+tab)\b')


def output_path(onefile: bool) -> Path:
    """Where the built program lands."""
    return ROOT / "dist" / ("onefile" if onefile else "messenger") / PROGRAM


def size_of(path: Path) -> int:
    """Bytes in a file, or in every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build/build.py", description=__doc__.splitlines()[0])
    parser.add_argument("--onefile", action="store_true", help="one self-unpacking file (for comparison)")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("PyInstaller") is None:
        print(f"PyInstaller is not installed in {sys.executable}; install the build extra: "
              "pip install -e '.[build]'", file=sys.stderr)
        return 2
    program = output_path(args.onefile)
    bundle = program if args.onefile else program.parent
    kind = "onefile" if args.onefile else "onedir"
    command = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--log-level", "WARN",
               "--distpath", str(bundle.parent), "--workpath", str(WORK / kind)]
    if args.onefile:
        command += ["--", "--onefile"]
    started = time.monotonic()
    with subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True) as build:
        for line in build.stderr:
            if not KNOWN_NOISE.search(line):
                sys.stderr.write(line)
    seconds = time.monotonic() - started
    if build.returncode != 0:
        print(f"build failed after {seconds:.0f} s (PyInstaller exit status {build.returncode})", file=sys.stderr)
        return build.returncode
    print(f"built {program.relative_to(ROOT)} ({kind}): {size_of(bundle) / 2**20:.1f} MiB in {seconds:.0f} s",
          flush=True)
    # A build that cannot find its own pieces is not a build.
    checked = subprocess.run([str(program), "--self-test"])
    if checked.returncode != 0:
        print(f"{program.relative_to(ROOT)} --self-test failed", file=sys.stderr)
    return checked.returncode


if __name__ == "__main__":
    sys.exit(main())
