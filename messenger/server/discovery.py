"""Announcing the server on the office network: DNS-SD over multicast DNS (python-zeroconf).

Desks browse for `_messenger._tcp` and list what they find in the sign-in window. The instance
name is the `office_name` setting (the machine's name when empty); the TXT record carries the
version, whether HTTPS is on, the certificate's fingerprint (the 64 hex digits the admin reads
grouped in `messenger admin show-fingerprint`) and whether registration is open.

Off in dev mode (tests use it) unless MESSENGER_DISCOVERY=1 says otherwise, and off whenever
the `discovery` setting is false. It announces only on the address the server listens on
(every interface only when that is 0.0.0.0), and never on loopback.

Under `messenger --serve` the standard library is monkey-patched by gevent, so zeroconf's
loop "thread" is a greenlet and its sockets are gevent's: the announcement cooperates with
the web server instead of blocking it (tests/server/test_discovery.py measures that).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import TYPE_CHECKING

from flask import Flask

from messenger import __version__
from messenger.server import settings
from messenger.server.config import ServerConfig

if TYPE_CHECKING:  # imported where used: zeroconf loads only where the server announces itself
    from zeroconf import ServiceInfo, Zeroconf

log = logging.getLogger(__name__)

SERVICE_TYPE = "_messenger._tcp.local."
# A change of a setting (office name, registration, discovery off) reaches the network this soon.
REFRESH_SECONDS = 5.0


def enabled_by_config(config: ServerConfig) -> bool:
    return config.discovery if config.discovery is not None else config.env != "dev"


def announced_addresses(host: str) -> list[str] | None:
    """The IPv4 addresses to announce for a server listening on `host`, or None when there
    is nothing a desk could reach (loopback, IPv6 only)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version != 4 or address.is_loopback:
        return None
    if not address.is_unspecified:
        return [host]
    import ifaddr

    found = [ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips
             if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback]
    return found or None


def txt_record(*, https: bool, fingerprint: str | None, registration_open: bool) -> dict[str, str]:
    return {"version": __version__, "https": "on" if https else "off", "fp": fingerprint or "",
            "registration": "open" if registration_open else "closed"}


class Announcement:
    """The server's DNS-SD record, kept in step with the settings by `run()` (a greenlet)."""

    def __init__(self, app: Flask, port: int, fingerprint: str | None):
        self.app = app
        self.config: ServerConfig = app.config["MESSENGER"]
        self.port = port
        self.fingerprint = fingerprint
        self._zeroconf: Zeroconf | None = None
        self._info: ServiceInfo | None = None
        self._label = ""

    def run(self) -> None:
        import gevent

        while True:
            try:
                self.refresh()
            except Exception:
                log.exception("discovery: announcing failed")
            gevent.sleep(REFRESH_SECONDS)

    def refresh(self) -> None:
        """Announce, update or withdraw the record to match the settings now."""
        with self.app.app_context():
            wanted = bool(settings.get("discovery"))
            name = settings.get("office_name") or socket.gethostname()
            registration_open = bool(settings.get("self_registration"))
        addresses = announced_addresses(self.config.host)
        if not wanted or addresses is None:
            if addresses is None and wanted and self._info is None:
                log.info("discovery: not announced (listening on %s, which no desk can reach)", self.config.host)
            self.stop()
            return
        label = _label(name)
        kept = self._info if self._info is not None and self._label == label else None
        # Keep a name the network made unique ("Office (2)") while the office name stays.
        service_name = kept.name if kept is not None else f"{label}.{SERVICE_TYPE}"
        info = self._service_info(service_name, addresses, registration_open)
        if kept is not None and kept.properties == info.properties:
            return
        if self._zeroconf is None:
            from zeroconf import Zeroconf

            self._zeroconf = Zeroconf(interfaces=addresses)
        if kept is not None:
            self._zeroconf.update_service(info)
        else:
            if self._info is not None:
                self._zeroconf.unregister_service(self._info)
            self._zeroconf.register_service(info, allow_name_change=True)
        self._info, self._label = info, label
        log.info("discovery: announced as %r on %s", info.name[: -len(SERVICE_TYPE) - 1], ", ".join(addresses))

    def stop(self) -> None:
        """Withdraw the record (desks drop it at once) and close the multicast sockets."""
        zeroconf, info = self._zeroconf, self._info
        self._zeroconf = self._info = None
        if zeroconf is None:
            return
        try:
            if info is not None:
                zeroconf.unregister_service(info)
        except Exception:  # stopping goes on: desks drop the record when its TTL ends
            log.warning("discovery: the goodbye was not sent", exc_info=True)
        finally:
            # asyncio keeps its running loop per OS thread, so under gevent every greenlet seems
            # to run inside zeroconf's loop, and close() skips its own goodbyes with a warning:
            # the goodbye was sent just above.
            logging.getLogger("zeroconf").addFilter(_skipped_goodbyes)
            try:
                zeroconf.close()
            finally:
                logging.getLogger("zeroconf").removeFilter(_skipped_goodbyes)

    def _service_info(self, service_name: str, addresses: list[str], registration_open: bool) -> ServiceInfo:
        from zeroconf import ServiceInfo

        return ServiceInfo(
            SERVICE_TYPE, service_name,
            addresses=[socket.inet_aton(address) for address in addresses], port=self.port,
            properties=txt_record(https=self.config.https, fingerprint=self.fingerprint,
                                  registration_open=registration_open),
            server=f"{_label(socket.gethostname()).replace(' ', '-')}.local.")


def _skipped_goodbyes(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("unregister_all_services skipped")


def _label(name: str) -> str:
    """An instance name as one DNS label: dots would split it."""
    return name.replace(".", " ").strip() or "messenger"
