"""The clients of the end-to-end tests: the command-line client (`harness.Cli`) and what it
prints, and a device in this process on the same services."""

from __future__ import annotations

import re
import time
from pathlib import Path

from keyring.backends import fail

from harness import PASSWORD, Cli, unique_name  # noqa: F401  (Cli: for the tests here)
from messenger.client.services.api import ApiClient
from messenger.client.services.keys import E2EKeys
from messenger.client.services.messages import read_message, send_text
from messenger.client.services.realtime import Realtime
from messenger.client.services.session_store import SessionStore


def register(server) -> str:
    name = unique_name()
    reply = server.api().post("/api/register", json={"username": name, "password": PASSWORD, "nickname": name})
    assert reply.status_code == 201, reply.text
    return name


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
