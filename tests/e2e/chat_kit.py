"""The clients of the end-to-end tests: the command-line client run as `python -m messenger
chat ...` in a home folder of its own, and a device in this process on the same services."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from keyring.backends import fail

from harness import PASSWORD, unique_name
from messenger.client.services.api import ApiClient
from messenger.client.services.keys import E2EKeys
from messenger.client.services.messages import read_message, send_text
from messenger.client.services.realtime import Realtime
from messenger.client.services.session_store import SessionStore

REPO = Path(__file__).resolve().parents[2]


def register(server) -> str:
    name = unique_name()
    reply = server.api().post("/api/register", json={"username": name, "password": PASSWORD, "nickname": name})
    assert reply.status_code == 201, reply.text
    return name


class Cli:
    """One command-line client: its own home folder, hence its own device once signed in."""

    def __init__(self, server, home: Path):
        self.server = server
        self.home = home
        # The fallback file, never a developer's real keychain.
        self.env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                    "MESSENGER_CLIENT_HOME": str(home)}
        self.env.pop("MESSENGER_ASYNC_MODE", None)

    def command(self, *args) -> list[str]:
        return [sys.executable, "-m", "messenger", "chat", "--lang", "en-US", *map(str, args)]

    def run(self, *args, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), input=stdin, capture_output=True, text=True, env=self.env,
                              cwd=REPO, timeout=timeout)

    def ok(self, *args, stdin: str | None = None, timeout: float = 60) -> str:
        done = self.run(*args, stdin=stdin, timeout=timeout)
        assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def login(self, username: str, password: str = PASSWORD) -> str:
        """Sign in; returns what it printed on standard error (the recovery key, an approval code)."""
        done = self.run("--server", self.server.url, "login", username, "--password-stdin", stdin=password + "\n")
        assert done.returncode == 0, f"login: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stderr


    def history(self, room_id: int, *args) -> list[dict]:
        return [json.loads(line) for line in self.ok("history", room_id, "--json", *args).splitlines()]

    def start(self, *args) -> "Running":
        return Running(subprocess.Popen(self.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=self.env, cwd=REPO))


def approval_code(login_output: str) -> tuple[int, str]:
    """The device id and verification code an unapproved device printed at sign-in."""
    found = re.search(r"warning: E2E_DEVICE_UNVERIFIED: .*\(device (\d+), code ([0-9 ]+):", login_output)
    assert found, login_output
    return int(found.group(1)), found.group(2)


def recovery_key(login_output: str) -> str:
    """The recovery key printed when the user's identity was made."""
    found = re.search(r"your recovery key .*: ([A-Z2-7 ]{39})$", login_output, re.MULTILINE)
    assert found, login_output
    return found.group(1)

class Running:
    """A command that keeps running (`tail`): its output is collected as it comes."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        for stream, lines in ((proc.stdout, self.stdout), (proc.stderr, self.stderr)):
            threading.Thread(target=self._pump, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _pump(stream, lines) -> None:
        for line in stream:
            lines.append(line)

    def wait_for_stderr(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.stderr):
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {''.join(self.stderr)}"
            assert time.monotonic() < deadline, f"no {text!r} on stderr: {''.join(self.stderr)}"
            time.sleep(0.05)

    def finish(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        time.sleep(0.1)  # the pumps read the last lines
        return code

    def interrupt(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.finish(15)


class Device:
    """A device in this process, on the same services the CLI and the desktop app use."""

    def __init__(self, server, home: Path, username: str):
        self.store = SessionStore(home / "data", backend=fail.Keyring())
        self.api = ApiClient(server.url, self.store)
        self.api.sign_in(username, PASSWORD, device_name="e2e test")
        self.keys = E2EKeys(self.api, self.store, answer_delay=(0.0, 0.3))
        self.keys.start()
        self.realtime = Realtime(self.api, reconnect_delay=0.1)
        self.keys.attach(self.realtime)

    def online(self) -> "Device":
        self.realtime.start()
        assert self.realtime.wait_synced(15)
        return self

    def send(self, room_id: int, text: str) -> int:
        return send_text(self.keys, self.realtime, room_id, text)["message_id"]

    def readables(self, room_id: int) -> dict[int, object]:
        return {m["id"]: read_message(self.keys, m) for m in self.api.messages(room_id, limit=200)["messages"]}

    def close(self) -> None:
        self.realtime.stop()
        self.keys.close()
        self.api.close()


def wait_until(condition, timeout: float = 30, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(step)
    return value
