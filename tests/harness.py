"""Real servers and real clients for black-box tests.

`ServerProcess` runs `python -m messenger --serve` on a free port with its own data
dir (and its own PostgreSQL database when `env` names one: `database_env` in conftest);
`Api` talks HTTP with httpx; `Socket` is a python-socketio client that records every
event it receives; `Cli` runs `python -m messenger chat` with a home of its own.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import socketio

REPO = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"listening on (https?://[\d.]+:\d+)")
PASSWORD = "Correct-Horse-42-battery"


class ServerProcess:
    def __init__(self, data_dir: Path, env: dict | None = None, config: str | None = None,
                 command: list[str] | None = None, e2e_policy: str | None = None):
        """`command` starts the program (default: `python -m messenger`; a built binary for build
        tests); `e2e_policy`, if given, is set with `messenger admin` once the server is up (the
        default, "required", refuses the plaintext that tests of other things send for brevity)."""
        self.command = command or [sys.executable, "-m", "messenger"]
        self.e2e_policy = e2e_policy
        self.data_dir = Path(data_dir)
        self.env = env or {}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if config is not None:
            (self.data_dir / "config.toml").write_text(config)
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.output: list[str] = []

    @property
    def environment(self) -> dict:
        """What the server and its `messenger admin` run with."""
        return {**os.environ, "MESSENGER_ENV": "dev", **self.env}

    @property
    def database_url(self) -> str:
        """The server's database: the PostgreSQL one it was given, else its data dir's SQLite file."""
        return self.env.get("MESSENGER_DATABASE_URL") or f"sqlite:///{self.data_dir / 'messenger.db'}"

    def sql(self, statement: str, **params) -> list[tuple]:
        """Run `statement` on the server's database, SQLite or PostgreSQL alike (committed);
        the rows it returns."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url)
        try:
            with engine.begin() as connection:
                result = connection.execute(text(statement), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def start(self, timeout: float = 30, port: int = 0) -> "ServerProcess":
        """`port` 0: a free one (a restart that must keep its address passes the old one)."""
        self.output = []
        self.proc = subprocess.Popen(
            [*self.command, "--serve", "--port", str(port), "--data-dir", str(self.data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.environment,
        )
        found: queue.Queue[str] = queue.Queue()

        def pump():
            for line in self.proc.stdout:
                self.output.append(line)
                match = LISTENING.search(line)
                if match:
                    found.put(match.group(1))

        threading.Thread(target=pump, daemon=True).start()
        try:
            self.url = found.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.output)) from None
        if self.e2e_policy is not None:
            self.admin("settings", "set", "e2e_policy", self.e2e_policy)
        return self

    def admin(self, *args: str) -> str:
        """`messenger admin ARGS` on this server's data dir and database; its output."""
        done = subprocess.run([*self.command, "admin", "--data-dir", str(self.data_dir), *args],
                              capture_output=True, text=True, timeout=120, env=self.environment)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    @property
    def first_admin_password(self) -> str:
        text = (self.data_dir / "first-run-admin.txt").read_text()
        return re.search(r"password: (\S+)", text).group(1)

    def stop(self, timeout: float = 15) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def kill(self) -> None:
        """SIGKILL: the crash a durability test needs."""
        self.proc.kill()
        self.proc.wait()

    def api(self, token: str | None = None, **kwargs) -> "Api":
        return Api(self.url, token, **kwargs)


class Api(httpx.Client):
    """httpx client for one caller; `token` goes in the Bearer header.

    Every response is checked against the API description (spec/openapi.yaml), so each test that
    talks to a server also keeps the description true; API_DESCRIPTION_CHECK=0 turns that off
    (benchmarks, or to see a test's own failure first).
    """

    def __init__(self, url: str, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if os.environ.get("API_DESCRIPTION_CHECK", "1") != "0":
            from api_description import check_response

            kwargs.setdefault("event_hooks", {}).setdefault("response", []).append(check_response)
        super().__init__(base_url=url, headers=headers, timeout=30, verify=False, **kwargs)
        self.token = token
        self.user: dict = {}


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


def register_and_login(server: ServerProcess, username: str | None = None, password: str = PASSWORD,
                       nickname: str | None = None, device_name: str = "test desk") -> Api:
    """A new user with a device session; returns an Api carrying its token and `user`."""
    username = username or unique_name()
    plain = server.api()
    reply = plain.post("/api/register", json={"username": username, "password": password,
                                               "nickname": nickname or username[:20]})
    assert reply.status_code == 201, reply.text
    return login(server, username, password, device_name)


def login(server: ServerProcess, username: str, password: str = PASSWORD, device_name: str = "test desk",
          remember: bool = True) -> Api:
    reply = server.api().post("/api/device-sessions", json={
        "username": username, "password": password, "device_name": device_name, "remember": remember})
    assert reply.status_code == 201, reply.text
    body = reply.json()
    api = server.api(body["device_token"])
    api.user = body["user"]
    api.device_session_id = body["device_session_id"]
    return api


class Socket:
    """A real Socket.IO client that keeps every event it receives, in order."""

    def __init__(self, url: str, token: str | None, lang: str | None = None, transports=("websocket",),
                 headers: dict | None = None):
        self.client = socketio.Client(reconnection=False, ssl_verify=False)
        self.events: queue.Queue[tuple[str, object]] = queue.Queue()
        self.seen: list[tuple[str, object]] = []
        self.client.on("*", self._record)
        auth = {"token": token} if token else {}
        if lang:
            auth["lang"] = lang
        self.client.connect(url, auth=auth, transports=list(transports), headers=headers or {},
                            wait_timeout=10)

    def _record(self, event, data=None):
        self.events.put((event, data))

    def call(self, event: str, data: dict, timeout: float = 10):
        return self.client.call(event, data, timeout=timeout)

    def wait_for(self, event: str, predicate=lambda data: True, timeout: float = 10):
        """The first `event` whose data satisfies `predicate` (earlier ones are kept in `seen`)."""
        for name, data in self.seen:
            if name == event and predicate(data):
                self.seen.remove((name, data))
                return data
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {event} within {timeout}s; saw {[n for n, _ in self.seen]}")
            try:
                name, data = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if name == event and predicate(data):
                return data
            self.seen.append((name, data))

    def drain(self, wait: float = 0.3) -> list[tuple[str, object]]:
        """Everything received so far (waiting `wait` seconds for stragglers)."""
        time.sleep(wait)
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return list(self.seen)

    def names(self, wait: float = 0.3) -> list[str]:
        return [name for name, _ in self.drain(wait)]

    @property
    def connected(self) -> bool:
        return self.client.connected

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


class Cli:
    """One command-line client (`messenger chat`): its own home folder, hence its own device
    once signed in. `home` None: the platform's folders (with the environment as it is)."""

    def __init__(self, server: ServerProcess, home: Path | None, env: dict | None = None):
        self.server = server
        self.home = home
        # The fallback file, never a developer's real keychain (unless `env` names another).
        self.env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", **(env or {})}
        self.env.pop("MESSENGER_ASYNC_MODE", None)
        if home is not None:
            self.env["MESSENGER_CLIENT_HOME"] = str(home)

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
