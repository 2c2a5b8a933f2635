"""The built program, not the sources: what an office installs and runs.

The `program` fixture (conftest.py) builds it with build/build.py into build/work/test-dist (not dist/: it
carries the root of a test update repository, not the release one) when it is missing or older
than anything it is built from, so a plain `pytest` tests a fresh build (about a minute on 2 cores).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from harness import PASSWORD, ServerProcess, Socket, login, register_and_login, unique_name
from messenger import __version__

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "build" / "build.py"
TEST_BUILDS = ROOT / "build" / "work"
# A test update repository kept between runs, so its root (bundled) does not make every run rebuild.
TEST_RELEASE = TEST_BUILDS / "test-release"
TRUST_ROOT = TEST_RELEASE / "repo" / "metadata" / "root.json"
# What the binary is made of: a change to any of these makes the built program stale.
BUILT_FROM = [ROOT / "messenger", ROOT / "spec" / "messenger.spec", BUILD_SCRIPT, TRUST_ROOT]

# The first test waits for the build.
pytestmark = pytest.mark.timeout(900)

_spec = importlib.util.spec_from_file_location("messenger_build", BUILD_SCRIPT)
build_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_script)


def newest_source_change() -> float:
    files = [f for path in BUILT_FROM for f in ([path] if path.is_file() else path.rglob("*"))]
    return max(f.stat().st_mtime for f in files if f.is_file() and "__pycache__" not in f.parts)


def run(program: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(program), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def frozen_server(program, tmp_path):
    """A factory of servers run by the built binary, each stopped at the end of the test."""
    servers = []

    def start(data_dir: Path | None = None) -> ServerProcess:
        # Plaintext allowed: the raw-socket session below sends some (its `admin` runs the binary too).
        server = ServerProcess(data_dir or tmp_path / f"server{len(servers)}", command=[str(program)],
                               e2e_policy="optional").start(timeout=60)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_version_names_this_release(program):
    result = run(program, "--version")
    assert result.returncode == 0, result.stderr
    # The second line says whether the programs are Authenticode-signed: this test build is not.
    assert result.stdout.splitlines() == [f"messenger {__version__}", "unsigned build (no Authenticode signature)"]


def test_two_programs_share_one_internal_folder(program):
    """messenger (the desktop client, windowed on Windows) beside messenger-cli, one _internal."""
    desktop = program.with_name(build_script.file_name(build_script.DESKTOP))
    assert program.name == build_script.file_name(build_script.CONSOLE) and desktop.is_file()
    assert sorted(p.name for p in program.parent.iterdir()) == sorted(["_internal", desktop.name, program.name])
    # On Linux both are console programs and run any command (messenger/programs.py).
    assert run(desktop, "--version").stdout.splitlines()[0] == f"messenger {__version__}"


def test_self_test_passes_every_check(program):
    result = run(program, "--self-test")
    lines = result.stdout.splitlines()
    report = {line.split(":", 1)[0].split(" ", 1)[1]: line for line in lines}
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(report) == {
        "build", "qt platform plugins", "qt gui", "keyring", "async driver", "websocket-client", "mdns",
        "update trust root", "database driver", "message queue", "migrations", "api description", "e2e primitives",
        "password hashing", "windows toasts",
    }, result.stdout
    assert all(line.startswith("ok ") for line in lines), result.stdout
    assert "frozen at" in report["build"], "the self-test ran from the sources, not from the bundle"
    root = json.loads(TRUST_ROOT.read_text())["signed"]
    assert f"update_root.json version {root['version']}, expires {root['expires'][:10]}" in report["update trust root"]
    assert "fail.Keyring" not in report["keyring"].split(";")[0], report["keyring"]
    assert "v5 (signed, libsodium)" in report["e2e primitives"], report["e2e primitives"]


def test_serves_health_and_a_real_session(frozen_server):
    server = frozen_server()
    health = httpx.get(f"{server.url}/api/system/health", timeout=10)
    assert health.status_code == 200, health.text
    assert (health.json()["status"], health.json()["version"]) == ("ok", __version__)

    alice, bob = register_and_login(server), register_and_login(server)
    created = alice.post("/api/rooms", json={"members": [bob.user["id"]]})
    assert created.status_code in (200, 201), created.text
    room_id = created.json()["room"]["id"]
    alice_sock, bob_sock = Socket(server.url, alice.token), Socket(server.url, bob.token)
    try:
        ack = alice_sock.call("send_message", {"room_id": room_id, "content": "빌드된 서버", "type": "text",
                                               "encrypted": False, "client_msg_id": "frozen-1"})
        assert ack["ok"] is True, ack
        seen = bob_sock.wait_for("new_message", lambda m: m["id"] == ack["message_id"])
        assert seen["content"] == "빌드된 서버" and seen["sender_id"] == alice.user["id"]
    finally:
        alice_sock.close()
        bob_sock.close()
    stored = bob.get(f"/api/rooms/{room_id}/messages").json()["messages"]
    assert [m["content"] for m in stored][-1] == "빌드된 서버"


def test_serves_the_browser_client_that_signs_in(frozen_server, new_page):
    """The page and its modules travel inside the program (the spec's datas)."""
    server = frozen_server()
    alice = register_and_login(server)
    page = new_page(server.url + "/")
    page.fill("input[name=username]", alice.user["username"])
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.locator("#recovery-key").wait_for(timeout=30_000)  # the browser made its device and identity keys
    assert page.inner_text("#me-name") == alice.user["nickname"]
    assert page.errors == []


def test_sigterm_stops_cleanly_and_keeps_the_data(frozen_server, tmp_path):
    server = frozen_server(tmp_path / "kept")
    alice = register_and_login(server)
    assert server.stop() == 0
    assert any("messenger server stopped" in line for line in server.output), "".join(server.output)

    again = frozen_server(tmp_path / "kept")
    assert login(again, alice.user["username"]).user["id"] == alice.user["id"]


def test_a_chat_session_through_the_frozen_command_line_client(program, frozen_server, tmp_path):
    """Sign in, send and read end-to-end encrypted messages with the built `messenger chat`."""
    server = frozen_server()
    names = []
    for _ in range(2):
        names.append(unique_name())
        reply = server.api().post("/api/register", json={"username": names[-1], "password": PASSWORD,
                                                         "nickname": names[-1]})
        assert reply.status_code == 201, reply.text
    alice, bob = (FrozenChat(program, tmp_path / name) for name in names)
    for client, name in ((alice, names[0]), (bob, names[1])):
        client.ok("--server", server.url, "login", name, "--password-stdin", stdin=PASSWORD + "\n")

    alice.ok("send", f"@{names[1]}", "빌드된 클라이언트에서 안녕")
    [room] = [json.loads(line) for line in alice.ok("rooms", "--json").splitlines()]
    bob.ok("send", room["id"], "-", stdin="잘 받았어요 reply\n")
    history = [json.loads(line) for line in alice.ok("history", room["id"], "--json").splitlines()]
    assert [(m["sender_name"], m["text"]) for m in history] == [
        (names[0], "빌드된 클라이언트에서 안녕"), (names[1], "잘 받았어요 reply")]
    assert all(m["state"] == "readable" and m["end_to_end"] for m in history), history
    stored = login(server, names[1]).get(f"/api/rooms/{room['id']}/messages").json()["messages"]
    assert all(m["content"].startswith("v5:") for m in stored), "the server holds only envelopes"


class FrozenChat:
    """`messenger chat` of the built program with a home folder of its own (one device)."""

    def __init__(self, program: Path, home: Path):
        self.program = program
        # The protected fallback file, never a developer's real keychain.
        self.env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                    "MESSENGER_CLIENT_HOME": str(home)}

    def ok(self, *args, stdin: str | None = None) -> str:
        done = subprocess.run([str(self.program), "chat", "--lang", "en-US", *map(str, args)], input=stdin,
                              capture_output=True, text=True, env=self.env, timeout=120)
        assert done.returncode == 0, f"chat {args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout


def test_tray_client_starts_offscreen_and_quits_cleanly_on_sigterm(program, tmp_path):
    """No saved session: it starts to the sign-in window; a second launch only wakes it; SIGTERM quits with 0."""
    home = tmp_path / "client"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "MESSENGER_CLIENT_HOME": str(home),
           "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"), "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
           "XDG_RUNTIME_DIR": str(tmp_path / "xdg-runtime"), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    (tmp_path / "xdg-runtime").mkdir(mode=0o700)
    log_file = home / "data" / "logs" / "client.log"
    desktop = program.with_name(build_script.file_name(build_script.DESKTOP))
    started = time.monotonic()
    client = subprocess.Popen([str(desktop)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_line(log_file, "client started", client)
        cold_start = time.monotonic() - started
        second = subprocess.run([str(desktop)], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stdout + second.stderr
        wait_for_line(log_file, "asked to come forward", client)
        client.send_signal(signal.SIGTERM)
        output, _ = client.communicate(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    print(f"\ntray client cold start to 'client started': {cold_start:.1f} s")
    assert client.returncode == 0, output
    assert "Traceback" not in output and "Traceback" not in log_file.read_text(), output


def wait_for_line(path: Path, text: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        assert process.poll() is None, f"the client exited with {process.returncode}: {process.stdout.read()}"
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in {path} within {timeout} s")
