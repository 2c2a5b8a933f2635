"""Build the program with PyInstaller: `python build/build.py [--onefile] [--version X] [--trust-root F]`.

Onedir (the default, what ships) gives dist/messenger/ with two programs over one _internal
folder: messenger (the desktop client, windowed on Windows) and messenger-cli (console: --serve,
admin, chat, update); --onefile gives dist/onefile/messenger, kept for comparison. Installs nothing: PyInstaller comes from the
`build` extra (`pip install -e '.[build]'`). Prints the size and the build time, then runs the
built program's --self-test; the exit status is non-zero if the build or the self-test fails.

The program carries the update repository's root.json (--trust-root, default
messenger/client/update_root.json; never commit a real one, see updates/README.md): without one
the self-test fails, because such a program could never verify an update. --version builds any
release from the same sources; --dist and --work keep test builds away from dist/.
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
sys.path.insert(0, str(ROOT))  # run as a script: the messenger package sits next to build/

from messenger import SIGNED_FILE  # noqa: E402
from messenger.programs import CONSOLE, DESKTOP, file_name  # noqa: E402

sys.path.insert(0, str(ROOT / "build"))
import sign  # noqa: E402

SPEC = ROOT / "spec" / "messenger.spec"
WORK = ROOT / "build" / "work"
DIST = ROOT / "dist"
DEFAULT_TRUST_ROOT = ROOT / "messenger" / "client" / "update_root.json"
# Warnings about modules the hooks list and the build leaves out on purpose (gevent's own test
# suite, database drivers the program does not use): hundreds of lines that would hide real ones.
KNOWN_NOISE = re.compile(r'WARNING: Hidden import "(gevent\.tests?|pysqlite2|MySQLdb|pycparser\.\w+tab)\b')


def output_path(onefile: bool, dist: Path = DIST) -> Path:
    """Where the built program that runs commands lands: messenger-cli (onedir) or the one file."""
    if onefile:
        return Path(dist) / "onefile" / file_name(DESKTOP)
    return Path(dist) / "messenger" / file_name(CONSOLE)


def shown(path: Path) -> Path:
    """`path` relative to the checkout when it is inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def size_of(path: Path) -> int:
    """Bytes in a file, or in every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build/build.py", description=__doc__.splitlines()[0])
    parser.add_argument("--onefile", action="store_true", help="one self-unpacking file (for comparison)")
    parser.add_argument("--version", help="the release to build, PEP 440 (default: the sources' version)")
    parser.add_argument("--trust-root", type=Path, default=DEFAULT_TRUST_ROOT if DEFAULT_TRUST_ROOT.exists() else None,
                        help="the update repository's metadata/root.json (default: messenger/client/update_root.json)")
    parser.add_argument("--dist", type=Path, default=DIST, help="output folder (default: dist)")
    parser.add_argument("--work", type=Path, help="PyInstaller's work folder, reused by the next build "
                        "(default: build/work/onedir or onefile)")
    sign.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        signer = sign.signer_from(args)
    except sign.SigningError as exc:
        parser.error(str(exc))
    if signer and args.onefile:
        parser.error("only the onedir build is signed (what ships)")
    if args.version:
        from packaging.version import InvalidVersion, Version

        try:
            args.version = str(Version(args.version))
        except InvalidVersion:
            parser.error(f"--version {args.version!r} is not a PEP 440 version")
    if args.trust_root is None:
        print("no update trust root: this build's --self-test will fail. Pass --trust-root "
              "REPO/metadata/root.json (python -m updates.repository init makes one; see updates/README.md)",
              file=sys.stderr, flush=True)
    elif not args.trust_root.is_file():
        parser.error(f"--trust-root {args.trust_root} is not a file")
    if importlib.util.find_spec("PyInstaller") is None:
        print(f"PyInstaller is not installed in {sys.executable}; install the build extra: "
              "pip install -e '.[build]'", file=sys.stderr)
        return 2
    program = output_path(args.onefile, args.dist.resolve())
    bundle = program if args.onefile else program.parent
    kind = "onefile" if args.onefile else "onedir"
    command = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--log-level", "WARN",
               "--distpath", str(bundle.parent), "--workpath", str((args.work or WORK / kind).resolve()), "--"]
    if args.onefile:
        command += ["--onefile"]
    if args.version:
        command += ["--version", args.version]
    if args.trust_root:
        command += ["--trust-root", str(args.trust_root.resolve())]
    started = time.monotonic()
    with subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True) as build:
        for line in build.stderr:
            if not KNOWN_NOISE.search(line):
                sys.stderr.write(line)
    seconds = time.monotonic() - started
    if build.returncode != 0:
        print(f"build failed after {seconds:.0f} s (PyInstaller exit status {build.returncode})", file=sys.stderr)
        return build.returncode
    version = f" {args.version}" if args.version else ""
    print(f"built {shown(program)}{version} ({kind}): {size_of(bundle) / 2**20:.1f} MiB in {seconds:.0f} s",
          flush=True)
    if not args.onefile and not (bundle / file_name(DESKTOP)).is_file():
        print(f"no {file_name(DESKTOP)} beside {program.name} in {shown(bundle)}", file=sys.stderr)
        return 1
    if signer:
        # Our two programs (the bootloader PyInstaller built for us); the DLLs and PYDs in
        # _internal come signed by their publishers or not at all (see installer/README.md).
        try:
            signer.sign([bundle / file_name(DESKTOP), bundle / file_name(CONSOLE)])
            (bundle / "_internal" / "messenger" / SIGNED_FILE).write_text(signer.describe() + "\n", encoding="utf-8")
        except sign.SigningError as exc:
            print(f"build not signed: {exc}", file=sys.stderr)
            return 1
        print(f"signed {file_name(DESKTOP)} and {file_name(CONSOLE)}: {signer.describe()}", flush=True)
    else:
        print("unsigned build: Windows SmartScreen and Defender warn about it (--sign-pfx or --sign-thumbprint "
              "signs it)", flush=True)
    # A build that cannot find its own pieces is not a build.
    checked = subprocess.run([str(program), "--self-test"])
    if checked.returncode != 0:
        print(f"{shown(program)} --self-test failed", file=sys.stderr)
    return checked.returncode


if __name__ == "__main__":
    sys.exit(main())
