"""The checks that hold the code's shape: ruff, mypy and the import contracts (config in pyproject.toml).

They run here so that the README's test command, and so CI, runs them. Each contract is also
broken on purpose in a copy of the package, to show that the check would catch it.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(args: list[str], cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, **env})


def test_ruff_finds_nothing():
    result = run([sys.executable, "-m", "ruff", "check", "--no-cache", "messenger", "tests"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    result = run([sys.executable, "-m", "mypy", "--cache-dir", os.devnull])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_import_contracts_are_kept():
    result = run([str(BIN / "lint-imports"), "--no-cache"])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the package and its configuration, to break on purpose."""
    shutil.copytree(ROOT / "messenger", tmp_path / "messenger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize(("module", "bad_import", "contract"), [
    ("core/names.py", "import messenger.server.app", "core imports neither the server nor the client"),
    ("client/i18n.py", "import messenger.server.config", "the client never imports the server"),
    ("server/http/rooms.py", "import messenger.server.realtime.handlers", "transports (HTTP | Socket.IO)"),
    ("server/actions/rooms.py", "import messenger.server.http.rooms", "transports (HTTP | Socket.IO)"),
    ("server/http/rooms.py", "import flask_socketio", "only the Socket.IO binding"),
    ("server/admin_cli.py", "import messenger.server.http.users", "the admin CLI works through actions"),
])
def test_an_import_across_a_line_breaks_its_contract(package_copy, module, bad_import, contract):
    with open(package_copy / "messenger" / module, "a", encoding="utf-8") as f:
        f.write(f"\n{bad_import}\n")
    result = run([str(BIN / "lint-imports"), "--no-cache"], cwd=package_copy, PYTHONPATH=str(package_copy))
    assert result.returncode == 1, result.stdout + result.stderr
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken and bad_import.split()[-1] in broken


def test_the_socketio_object_outside_the_emitter_breaks_ruff(package_copy):
    route = package_copy / "messenger" / "server" / "http" / "rooms.py"
    route.write_text(route.read_text(encoding="utf-8") + "\nfrom messenger.server.extensions import socketio\n",
                     encoding="utf-8")
    result = run([sys.executable, "-m", "ruff", "check", "--no-cache", "messenger"], cwd=package_copy)
    assert result.returncode == 1 and "TID251" in result.stdout, result.stdout + result.stderr


def test_routes_leave_every_commit_to_the_actions():
    """Routes parse and check, actions write (Zulip's views and actions): no commit in http/ or auth."""
    server = ROOT / "messenger" / "server"
    commits = [f"{path.relative_to(ROOT)}:{number}"
               for path in [*sorted((server / "http").glob("*.py")), server / "auth.py"]
               for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if "session.commit(" in line]
    assert commits == []
