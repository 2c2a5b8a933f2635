"""The built program updates itself: 1.0.0, 1.1.0 and 1.2.0a1 built from these sources, published
to a test repository that a real server serves, and a frozen 1.0.0 taking its channel's release
through a patch with `messenger update download` / `apply`.

The attacks from the TUF spec are tested on the sources (tests/updates/test_updater.py), not here.
Figures (sizes, build, publish, download and apply times) are printed (`pytest -s`) and written to
build/work/frozen-update-results.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from test_frozen import BUILD_SCRIPT, ROOT, build_script
from updates.repository import init, publish

VERSIONS = ("1.0.0", "1.1.0", "1.2.0a1")
RESULTS = ROOT / "build" / "work" / "frozen-update-results.json"
MiB = 2**20

# Three builds and three publishes of a ~160 MB bundle.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A test update repository holding three frozen builds, and the figures of making it."""
    folder = tmp_path_factory.mktemp("frozen-release")
    repo, keys, work = folder / "repo", folder / "keys", folder / "pyinstaller-work"
    trust_root = init(repo, keys)
    figures = {"builds": {}, "published": {}}
    for version in VERSIONS:
        dist = folder / f"dist-{version}"
        started = time.monotonic()
        # One work folder for the three: the later builds reuse what the first one analysed.
        built = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--version", version, "--trust-root", str(trust_root),
                                "--dist", str(dist), "--work", str(work)], capture_output=True, text=True, timeout=600)
        assert built.returncode == 0, f"build {version} failed:\n{built.stdout}\n{built.stderr[-6000:]}"
        bundle = build_script.output_path(onefile=False, dist=dist).parent
        figures["builds"][version] = {"seconds": round(time.monotonic() - started, 1),
                                      "bundle_mib": round(build_script.size_of(bundle) / MiB, 1)}
        result = publish(repo, keys, bundle, version)
        figures["published"][version] = {
            "channel": result["channel"], "seconds": round(result["seconds"], 1),
            "archive_mib": round(result["archive"].stat().st_size / MiB, 1),
            "patch_kib": round(result["patch"].stat().st_size / 1024, 1) if result["patch"] else None}
    figures["updates"] = {}
    yield {"repo": repo, "first": build_script.output_path(onefile=False, dist=folder / "dist-1.0.0").parent,
           "figures": figures}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nfrozen update figures ({RESULTS.relative_to(ROOT)}):\n{json.dumps(figures, indent=2)}")


@pytest.mark.parametrize("channel, expected", [("stable", "1.1.0"), ("canary", "1.2.0a1")])
def test_installed_1_0_0_updates_to_its_channels_release_through_a_patch(release, fresh_server, tmp_path,
                                                                          channel, expected):
    data_dir = tmp_path / "server-data"
    shutil.copytree(release["repo"], data_dir / "updates")
    server = fresh_server(data_dir=data_dir)
    # As the installer leaves it: the program folder, and the installed archive to patch from.
    install = shutil.copytree(release["first"], tmp_path / "Programs" / "messenger", symlinks=True)
    home = tmp_path / "client"
    targets = home / "data" / "updates" / "targets"
    targets.mkdir(parents=True)
    shutil.copyfile(release["repo"] / "targets" / "messenger-1.0.0.tar.gz", targets / "messenger-1.0.0.tar.gz")
    program = install / build_script.file_name(build_script.CONSOLE)  # messenger-cli: `update` prints
    env = {**os.environ, "MESSENGER_CLIENT_HOME": str(home)}

    def messenger(*args: str) -> tuple[str, float]:
        """The first line of the output (--version's second says the build is unsigned), and the time."""
        started = time.monotonic()
        done = subprocess.run([str(program), *args], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout.strip().splitlines()[0], time.monotonic() - started

    assert messenger("--version")[0] == "messenger 1.0.0"
    assert messenger("update", "apply")[0] == "no update staged; messenger 1.0.0 stays"
    update = ("--server", server.url, "--channel", channel)
    found, _ = messenger("update", "check", *update)
    assert re.fullmatch(rf"update {re.escape(expected)} available \(patch \d+\.\d MB\)", found), found
    staged, download_seconds = messenger("update", "download", *update)
    assert staged == f"staged {expected}"
    # The patches came down and the new archive was made from them, not downloaded whole.
    patches = sorted(p.name for p in targets.glob("*.patch"))
    assert f"messenger-{expected}.patch" in patches, sorted(p.name for p in targets.iterdir())
    assert messenger("--version")[0] == "messenger 1.0.0", "nothing changes before apply"
    applied, apply_seconds = messenger("update", "apply")
    assert applied == f"applied {expected}"

    assert messenger("--version")[0] == f"messenger {expected}"
    assert messenger("update", "check", *update)[0] == f"messenger {expected} is up to date"
    checked = subprocess.run([str(program), "--self-test"], capture_output=True, text=True, env=env, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not install.with_name("messenger.update").exists() and not install.with_name("messenger.previous").exists()
    release["figures"]["updates"][f"1.0.0 -> {expected} ({channel})"] = {
        "check": found, "patches": patches, "download_verify_stage_seconds": round(download_seconds, 1),
        "apply_seconds": round(apply_seconds, 1)}


def test_update_from_the_sources_is_refused():
    """Python on a checkout has no install folder: swapping files next to it would break the venv."""
    done = subprocess.run([sys.executable, "-m", "messenger", "update", "check", "--server", "http://127.0.0.1:9"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "only the installed program updates itself" in done.stderr, done.stderr
