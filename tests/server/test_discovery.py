"""The server's DNS-SD announcement, heard from another machine (network namespaces joined by a
veth cable, tests/netns.py): on in production, off in dev mode unless asked for, and kept in
step with the admin settings while the server runs under gevent."""

from __future__ import annotations

import json
import sys
import time

import pytest

from harness import ServerProcess
from netns import office_network

BROWSE = ("import dataclasses, json, sys; from messenger.client.services.discovery import browse; "
          "print(json.dumps([dataclasses.asdict(s) | {'url': s.url} for s in browse(float(sys.argv[1]))]))")


@pytest.fixture
def network():
    with office_network() as machines:
        yield machines


@pytest.fixture
def start(network, tmp_path):
    server_machine, _ = network
    started = []

    def start(env: dict) -> ServerProcess:
        server = ServerProcess(tmp_path / f"server{len(started)}",
                               env={"MESSENGER_HOST": server_machine.address, **env},
                               command=server_machine.command(sys.executable, "-m", "messenger"))
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


def heard(desk, seconds: float = 2.0) -> list[dict]:
    """What the desk machine's discovery service finds."""
    import subprocess

    done = subprocess.run(desk.command(sys.executable, "-c", BROWSE, str(seconds)), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def heard_until(desk, predicate, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = heard(desk)
        if predicate(found) or time.monotonic() > deadline:
            return found


def test_dev_mode_announces_nothing_unless_asked(network, start):
    _, desk = network
    start({"MESSENGER_ENV": "dev"})
    assert heard(desk, 4.0) == []
    asked = start({"MESSENGER_ENV": "dev", "MESSENGER_DISCOVERY": "1"})
    [found] = heard_until(desk, lambda found: len(found) == 1)
    assert (found["url"], found["https"], found["fingerprint"]) == (asked.url, False, None)


def test_the_record_follows_the_settings_of_a_running_server(network, start):
    _, desk = network
    server = start({"MESSENGER_ENV": "prod"})
    digits = json.loads(server.admin("show-fingerprint", "--json"))["fingerprint"]
    [found] = heard_until(desk, lambda found: len(found) == 1)
    assert found["url"] == server.url and found["https"] and found["fingerprint"] == digits
    assert found["registration_open"] is True

    server.admin("settings", "set", "self_registration", "false")
    server.admin("settings", "set", "office_name", '"Seoul office"')
    [found] = heard_until(desk, lambda found: found and found[0]["name"] == "Seoul office")
    assert found["name"] == "Seoul office" and found["registration_open"] is False

    server.admin("settings", "set", "discovery", "false")
    assert heard_until(desk, lambda found: found == []) == []
    server.admin("settings", "set", "discovery", "true")
    assert [s["name"] for s in heard_until(desk, lambda found: len(found) == 1)] == ["Seoul office"]
    assert server.stop() == 0
    assert not any("Traceback" in line for line in server.output), "".join(server.output)


POLL = ("import httpx, sys, time\n"
        "worst, end = 0.0, time.monotonic() + float(sys.argv[2])\n"
        "with httpx.Client(verify=False) as http:\n"
        "    while time.monotonic() < end:\n"
        "        started = time.monotonic()\n"
        "        http.get(sys.argv[1] + '/api/system/health').raise_for_status()\n"
        "        worst = max(worst, time.monotonic() - started)\n"
        "        time.sleep(0.05)\n"
        "print(worst)\n")


def test_the_server_keeps_answering_while_it_announces_under_gevent(network, start):
    """Registering probes the network for about two seconds; it must not stall the event loop."""
    import subprocess

    _, desk = network
    server = start({"MESSENGER_ENV": "prod"})
    heard_until(desk, lambda found: len(found) == 1)
    poller = subprocess.Popen(desk.command(sys.executable, "-c", POLL, server.url, "10"), stdout=subprocess.PIPE,
                              text=True)
    server.admin("settings", "set", "office_name", '"Renamed office"')  # unregister, probe, register again
    assert [s["name"] for s in heard_until(desk, lambda found: found and found[0]["name"] == "Renamed office")] == [
        "Renamed office"]
    worst = float(poller.communicate(timeout=60)[0])
    print(f"\nslowest health answer while re-announcing: {worst * 1000:.0f} ms")
    assert worst < 1.0
