"""`messenger local`: a server and the desktop client on one machine, started and stopped in order."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_local(tmp_path, port, env_changes):
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(MESSENGER_ENV="dev", MESSENGER_CLIENT_HOME=str(tmp_path / "client"), **env_changes)
    return subprocess.Popen([sys.executable, "-m", "messenger", "local", "--data-dir", str(tmp_path / "data"),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)


def read_until(proc, text, lines, timeout=60):
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        if text in line:
            return
        assert time.monotonic() < deadline, "".join(lines)
    raise AssertionError(f"{text!r} never came:\n" + "".join(lines))


def test_headless_machine_gets_server_then_client_on_a_virtual_display_and_both_stop(tmp_path):
    """No display: the client runs on Xvfb; it starts only once the server is healthy, and keeps
    its folders private; SIGTERM stops the client, then the server, then the virtual display."""
    port = free_port()
    (tmp_path / "client").mkdir(mode=0o755)
    proc = start_local(tmp_path, port, {})
    lines = []
    try:
        read_until(proc, "client started", lines)
        output = "".join(lines)
        assert output.index(f"server ready at http://127.0.0.1:{port}") < output.index("client started")
        assert "no display here: the client runs on the virtual display :" in output
        assert httpx.get(f"http://127.0.0.1:{port}/api/system/health").json()["status"] == "ok"
        client_log = tmp_path / "client" / "data" / "logs" / "client.log"
        deadline = time.monotonic() + 60
        while not (client_log.exists() and "client started" in client_log.read_text()):
            assert time.monotonic() < deadline, "the client did not start:\n" + "".join(lines)
            time.sleep(0.2)
        assert [path for path in (tmp_path / "client").rglob("*") if path.stat().st_mode & 0o077] == []
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "messenger server stopped" in rest, rest
    try:
        httpx.get(f"http://127.0.0.1:{port}/api/system/health", timeout=2)
        raise AssertionError("the server still answers")
    except httpx.ConnectError:
        pass
    leftovers = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], "processes left behind: client, server or Xvfb"


def test_a_taken_port_is_said_and_no_client_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start_local(tmp_path, port, {"QT_QPA_PLATFORM": "offscreen"})
        output, _ = proc.communicate(timeout=90)
    assert proc.returncode == 1
    assert f"is port {port} in use? Try --port" in output
    assert "client started" not in output
