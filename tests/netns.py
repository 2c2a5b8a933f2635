"""Two machines on one cable, for tests that multicast: network namespaces joined by a veth pair.

`office_network()` makes a "server" and a "desk" namespace, each with one end of a veth pair
and an address in a private /30, and removes both at the end. Multicast (mDNS) sent there never
reaches the machine's real interfaces. Making namespaces needs root: without it the test
fails and says so (CI runs as root).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Machine:
    namespace: str
    interface: str
    address: str

    def command(self, *argv: str) -> list[str]:
        """`argv` run inside this machine's namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@contextlib.contextmanager
def office_network():
    """(server, desk): two namespaces on one veth cable, 10.213.N.1 and .2/30, no route out."""
    if os.geteuid() != 0:
        pytest.fail("this test makes network namespaces (ip netns) and needs root; CI runs it as root")
    tag = secrets.token_hex(3)
    net = int(tag[:2], 16)  # 10.213.N.0/30 with a random N: parallel runs use other addresses
    server = Machine(f"msg-srv-{tag}", f"ms{tag}", f"10.213.{net}.1")
    desk = Machine(f"msg-desk-{tag}", f"md{tag}", f"10.213.{net}.2")
    made: list[str] = []
    try:
        for machine in (server, desk):
            _ip("netns", "add", machine.namespace)
            made.append(machine.namespace)
        # Made inside the server namespace, so no end of the cable ever exists outside.
        _ip("-n", server.namespace, "link", "add", server.interface, "type", "veth", "peer", "name", desk.interface)
        _ip("-n", server.namespace, "link", "set", desk.interface, "netns", desk.namespace)
        for machine in (server, desk):
            _ip("-n", machine.namespace, "addr", "add", f"{machine.address}/30", "dev", machine.interface)
            _ip("-n", machine.namespace, "link", "set", machine.interface, "up")
        yield server, desk
    finally:
        for namespace in made:
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)
