"""A desk's first day in a closed office, on two machines: the server in one network namespace,
the desk (`messenger chat`) in another, joined by a veth cable (tests/netns.py). The desk finds
the server by mDNS, trusts its self-signed certificate once, refuses another one, takes an
installer's pin without asking, and follows a renewal the server announced."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from harness import PASSWORD, ServerProcess
from messenger import __version__
from messenger.client.services.trust import ServerPins
from messenger.core.certificates import readable
from netns import office_network


@pytest.fixture
def network():
    with office_network() as machines:
        yield machines


class Desk:
    """`messenger chat` run on the desk machine, with a home of its own."""

    def __init__(self, machine, home):
        self.machine = machine
        self.home = home
        self.env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                    "MESSENGER_CLIENT_HOME": str(home)}

    def chat(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.machine.command(sys.executable, "-m", "messenger", "chat", "--lang", "en-US", *args),
                              input=stdin, capture_output=True, text=True, env=self.env, timeout=90)

    def pins(self) -> ServerPins:
        return ServerPins(self.home / "data")


@pytest.fixture
def office(network, tmp_path):
    """(start_server, desk): servers run in HTTPS production mode on the server machine."""
    server_machine, desk_machine = network
    started = []

    def start(restarted: ServerProcess | None = None) -> ServerProcess:
        """A new server, or `restarted` again on its data dir and port."""
        data_dir = restarted.data_dir if restarted else tmp_path / "server"
        server = ServerProcess(data_dir, env={"MESSENGER_ENV": "prod", "MESSENGER_HOST": server_machine.address},
                               command=server_machine.command(sys.executable, "-m", "messenger"))
        started.append(server.start(port=int(restarted.url.rsplit(":", 1)[1]) if restarted else 0))
        return server

    yield start, Desk(desk_machine, tmp_path / "desk")
    for server in started:
        server.stop()


def fingerprint_of(server: ServerProcess) -> str:
    return json.loads(server.admin("show-fingerprint", "--json"))["fingerprint"]


def sign_in(desk: Desk, server: ServerProcess, *extra: str, url: str | None = None) -> subprocess.CompletedProcess:
    """`messenger chat login admin` on the desk, at `url` (default: the server's own address)."""
    return desk.chat("--server", url or server.url, *extra, "login", "admin", "--password-stdin",
                     stdin=server.first_admin_password + "\n")


def test_the_desk_discovers_the_server_and_signs_in_through_the_pinned_certificate(office):
    start, desk = office
    server = start()
    digits = fingerprint_of(server)
    assert f"certificate fingerprint (SHA-256): {readable(digits)}\n" in server.output
    server.admin("settings", "set", "office_name", '"총무팀 메신저"')

    deadline, listed = time.monotonic() + 20, ""
    while "총무팀 메신저" not in listed and time.monotonic() < deadline:  # the name reaches the network within 5 s
        found = desk.chat("--discover")
        assert found.returncode == 0, found.stderr
        listed = found.stdout
    assert listed == f"총무팀 메신저\t{server.url}\t{__version__}\tSHA-256 {readable(digits)}\n"
    found_url = listed.split("\t")[1]  # the desk signs in where discovery pointed it

    refused = sign_in(desk, server, url=found_url)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: SERVER_CERTIFICATE_UNTRUSTED: ") and readable(digits) in refused.stderr
    assert desk.pins().get(server.url) is None

    wrong = sign_in(desk, server, "--trust", "AB" * 32, url=found_url)
    assert wrong.returncode == 1 and "not the fingerprint given with --trust" in wrong.stderr

    trusted = sign_in(desk, server, "--trust", readable(digits).lower(), url=found_url)
    assert trusted.returncode == 0, trusted.stderr
    assert desk.pins().get(server.url).fingerprint == digits
    made = subprocess.run([*server.command, "admin", "--data-dir", str(server.data_dir), "create-user", "kim",
                           "--password-stdin"], input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    sent = desk.chat("send", "@kim", "first day")  # through the pinned certificate
    assert sent.returncode == 0, sent.stderr
    listening = desk.chat("tail", "@kim", "--timeout", "2")  # the socket, through the same pin
    assert "listening to room" in listening.stderr, listening.stderr


def test_a_server_restarted_with_another_certificate_is_refused_without_a_way_round(office, tmp_path):
    start, desk = office
    server = start()
    first = fingerprint_of(server)
    assert sign_in(desk, server, "--trust", first).returncode == 0
    server.stop()
    shutil.rmtree(server.data_dir / "tls")  # a new certificate, as an impostor's would be
    server = start(server)
    second = fingerprint_of(server)
    assert second != first

    for attempt in (desk.chat("rooms"), sign_in(desk, server, "--trust", second)):
        assert attempt.returncode == 1
        assert attempt.stderr.startswith("error: SERVER_CERTIFICATE_CHANGED: "), attempt.stderr
        assert readable(second) in attempt.stderr and readable(first) in attempt.stderr
    assert desk.pins().get(server.url).fingerprint == first


def test_an_installer_preset_pin_skips_the_question(office):
    start, desk = office
    server = start()
    assert desk.pins().take_preset(server.url, readable(fingerprint_of(server)))
    signed_in = sign_in(desk, server)
    assert signed_in.returncode == 0, signed_in.stderr
    assert desk.pins().get(server.url).certificate is not None  # the key is kept for renewals


def test_a_renewal_announced_ahead_is_taken_over_silently(office):
    start, desk = office
    server = start()
    first = fingerprint_of(server)
    assert sign_in(desk, server, "--trust", first).returncode == 0
    plan = json.loads(server.admin("prepare-certificate-renewal", "--switch-after-days", "0", "--json"))
    assert plan["current"] == first
    # The desk learns the next certificate the next time it meets the server.
    assert desk.chat("rooms").returncode == 0
    assert desk.pins().get(server.url).next_fingerprint == plan["next"]

    server.stop()
    server = start(server)
    assert fingerprint_of(server) == plan["next"]
    rooms = desk.chat("rooms")
    assert rooms.returncode == 0, rooms.stderr
    assert desk.pins().get(server.url).fingerprint == plan["next"]


def test_a_person_at_a_terminal_is_shown_the_fingerprint_and_asked_once(office):
    import pty
    import select

    start, desk = office
    server = start()
    digits = fingerprint_of(server)
    master, terminal = pty.openpty()
    login = subprocess.Popen(desk.machine.command(sys.executable, "-m", "messenger", "chat", "--lang", "en-US",
                                                  "--server", server.url, "login", "admin", "--password-stdin"),
                             stdin=terminal, stdout=subprocess.PIPE, stderr=terminal, env=desk.env)
    os.close(terminal)
    said, deadline = b"", time.monotonic() + 60
    while b"[y/N]" not in said and time.monotonic() < deadline:
        if select.select([master], [], [], 1)[0]:
            said += os.read(master, 4096)
    assert b"[y/N]" in said, said
    os.write(master, f"y\n{server.first_admin_password}\n".encode())
    assert login.wait(60) == 0
    os.close(master)
    assert readable(digits).encode() in said  # the same groups the admin's show-fingerprint prints
    assert desk.pins().get(server.url).fingerprint == digits
    assert desk.chat("rooms").returncode == 0  # not asked again
