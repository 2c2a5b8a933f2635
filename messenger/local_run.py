"""`messenger local`: a server on this machine and the desktop client, for a first look.

The server starts first (embedded SQLite in the data folder) and the client only once the
server answers its health check; when the client quits (or this command gets Ctrl+C or
SIGTERM) the server is stopped cleanly. On a Linux machine without a display the client
runs on a virtual one (Xvfb), so the same command works on a headless box.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from messenger.programs import console_command, desktop_command
from messenger.server.bootstrap import PASSWORD_FILE

HEALTH_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15


def run_local(data_dir: Path, port: int) -> int:
    url = f"http://127.0.0.1:{port}"
    signal.signal(signal.SIGTERM, interrupt)
    server = subprocess.Popen([*console_command(), "--serve", "--host", "127.0.0.1", "--port", str(port),
                               "--data-dir", str(data_dir)])
    display = None
    try:
        if not wait_healthy(url, server):
            print(f"error: the server did not start (exit code {server.poll()}); is port {port} in use? "
                  f"Try --port", file=sys.stderr)
            return 1
        print(f"server ready at {url}", flush=True)
        password_file = data_dir / PASSWORD_FILE
        if password_file.exists():
            print(f"sign in with server {url}, user admin and the password in {password_file}", flush=True)
        env = dict(os.environ)
        if needs_virtual_display(env):
            display = start_virtual_display()
            env["DISPLAY"] = display.name
            print(f"no display here: the client runs on the virtual display {display.name}", flush=True)
        client = subprocess.Popen(desktop_command(), env=env)
        print("client started; quit it (tray menu > Quit) to stop the server", flush=True)
        try:
            return client.wait()
        finally:
            stop(client)
    except KeyboardInterrupt:
        return 130
    finally:
        stop(server)
        if display is not None:
            stop(display.process)


def interrupt(*_) -> None:
    """SIGTERM ends this command as Ctrl+C does: through the `finally` clauses that stop the children."""
    raise KeyboardInterrupt


def wait_healthy(url: str, server: subprocess.Popen) -> bool:
    """True once the server answers its health check; False if it exited or took too long."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/api/system/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def stop(process: subprocess.Popen) -> None:
    """Ask a child to end (SIGTERM: the server and the client both stop cleanly on it), then insist."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def needs_virtual_display(env: dict) -> bool:
    return (sys.platform.startswith("linux") and not env.get("QT_QPA_PLATFORM")
            and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY") and shutil.which("Xvfb") is not None)


class VirtualDisplay:
    def __init__(self, process: subprocess.Popen, name: str):
        self.process = process
        self.name = name


def start_virtual_display() -> VirtualDisplay:
    """Xvfb on a free display number, which it writes to a pipe once it is ready."""
    read_end, write_end = os.pipe()
    process = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1400x1000x24",
                                "-nolisten", "tcp"], pass_fds=(write_end,), stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as ready:
        number = ready.readline().strip()
    if not number:
        raise RuntimeError("Xvfb did not start")
    return VirtualDisplay(process, f":{number}")
