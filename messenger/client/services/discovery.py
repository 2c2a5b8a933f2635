"""Finding the office's messenger servers on the local network (DNS-SD over multicast DNS).

Servers announce `_messenger._tcp` (messenger/server/discovery.py); `browse()` listens for a
few seconds and returns what answered. What a TXT record says is a hint, not trust: the
certificate is still checked and pinned by trust.py when the desk connects.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from messenger.core.certificates import parse_fingerprint

log = logging.getLogger(__name__)

SERVICE_TYPE = "_messenger._tcp.local."
BROWSE_SECONDS = 3.0
RESOLVE_TIMEOUT_MS = 1500


@dataclass(frozen=True)
class FoundServer:
    name: str  # the office name the admin chose
    address: str  # host IPv4 address
    port: int
    version: str
    https: bool
    fingerprint: str | None  # 64 hex digits (https only)
    registration_open: bool

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{'https' if self.https else 'http'}://{host}:{self.port}"


def browse(seconds: float = BROWSE_SECONDS, interfaces: list[str] | None = None) -> list[FoundServer]:
    """The servers that answered within `seconds`, by name. `interfaces`: the IPv4 addresses
    to listen on (default: every interface)."""
    from zeroconf import InterfaceChoice, ServiceBrowser, ServiceListener, Zeroconf

    names: set[str] = set()
    lock = threading.Lock()

    class Listener(ServiceListener):
        def add_service(self, zc, type_, name):
            with lock:
                names.add(name)

        def update_service(self, zc, type_, name):
            self.add_service(zc, type_, name)

        def remove_service(self, zc, type_, name):
            with lock:
                names.discard(name)

    zeroconf = Zeroconf(interfaces=interfaces or InterfaceChoice.All)
    try:
        browser = ServiceBrowser(zeroconf, SERVICE_TYPE, Listener())
        time.sleep(seconds)
        browser.cancel()
        with lock:
            found = sorted(names)
        servers = [server for name in found if (server := _resolve(zeroconf, name)) is not None]
    finally:
        zeroconf.close()
    return sorted(servers, key=lambda server: (server.name.lower(), server.url))


def _resolve(zeroconf, name: str) -> FoundServer | None:
    info = zeroconf.get_service_info(SERVICE_TYPE, name, timeout=RESOLVE_TIMEOUT_MS)
    addresses = info.parsed_addresses() if info is not None else []
    if not addresses or not info.port:
        log.info("discovery: %s did not resolve", name)
        return None
    txt = {key.decode("utf-8", "replace"): (value or b"").decode("utf-8", "replace")
           for key, value in info.properties.items()}
    return FoundServer(
        name=name[: -len(SERVICE_TYPE) - 1], address=next((a for a in addresses if ":" not in a), addresses[0]),
        port=info.port, version=txt.get("version", ""), https=txt.get("https") == "on",
        fingerprint=parse_fingerprint(txt.get("fp", "")), registration_open=txt.get("registration") == "open")
