"""Which server certificates this desk trusts: trust on first use, pinned per server.

An office server usually presents the self-signed certificate it made on first start. The
first time a desk meets one, the connection is refused with `ServerTrustError`
(`SERVER_CERTIFICATE_UNTRUSTED`) carrying the certificate's fingerprint; the user compares it
with the one the admin gave (`messenger admin show-fingerprint`) and trusts it, or the
installer pinned it beforehand (`ServerFingerprint`). From then on only that certificate is
accepted for that server: another one is refused (`SERVER_CERTIFICATE_CHANGED`) with no way
round it but the admin's word. A renewal the server announced ahead of time, signed by the
pinned certificate's key (GET /api/system/next-certificate), is taken over silently.

The pin replaces the CA and host-name checks: the TLS handshake proves that the server holds
the key of exactly the certificate pinned, which is what matters for a server reached by an
IP address or a name no CA vouches for. A certificate a CA (or `--ca-bundle`) vouches for
needs no pin. The API client, the realtime socket, the updater and `messenger chat` all take
their TLS settings from here.

Pins live in `server-pins.json` in the client's data folder (never roaming: a pin belongs to
this desk's history with the server), keyed by host:port.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import certifi
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from messenger.core.certificates import fingerprint, parse_fingerprint, readable, renewal_statement
from messenger.core.files import write_atomic

log = logging.getLogger(__name__)

UNTRUSTED = "SERVER_CERTIFICATE_UNTRUSTED"
CHANGED = "SERVER_CERTIFICATE_CHANGED"
PROBE_TIMEOUT_SECONDS = 10.0


class ServerTrustError(Exception):
    """The desk does not trust the certificate the server presented. `code` is UNTRUSTED
    (first contact: ask the user, showing `fingerprint`) or CHANGED (a pinned server now
    presents another certificate: refuse, there is nothing to ask)."""

    def __init__(self, code: str, server: str, fingerprint: str, pinned: str | None = None,
                 detail: str | None = None):
        self.code, self.server, self.fingerprint, self.pinned = code, server, fingerprint, pinned
        if detail is not None:
            text = detail
        elif code == CHANGED:
            text = (f"{server} presents a certificate other than the one this desk trusts "
                    f"(SHA-256 {readable(fingerprint)}, trusted: {readable(pinned or '')}); "
                    "someone may be impersonating the server. Ask the administrator.")
        else:
            text = f"{server} presents a certificate this desk has not trusted yet (SHA-256 {readable(fingerprint)})"
        super().__init__(text)


class _PinRefused(ssl.SSLCertVerificationError):
    """Raised inside the TLS handshake; the client turns it into a ServerTrustError."""

    def __init__(self, error: ServerTrustError):
        super().__init__(str(error))
        self.trust_error = error


def server_key(server_url: str) -> str:
    """`host:port` of an https server address (the pins' key)."""
    parts = urlsplit(server_url)
    return f"{(parts.hostname or '').lower()}:{parts.port or 443}"


@dataclass
class Pin:
    fingerprint: str
    certificate: str | None = None  # PEM, once seen: its key checks the next certificate's signature
    next_fingerprint: str | None = None  # announced by the server, signature checked


class ServerPins:
    """The pinned certificates, one per server; thread-safe, written atomically."""

    FILE_NAME = "server-pins.json"

    def __init__(self, data_dir: Path | str):
        self.path = Path(data_dir) / self.FILE_NAME
        self._lock = threading.Lock()

    def get(self, server_url: str) -> Pin | None:
        entry = self._read().get(server_key(server_url))
        return Pin(**entry) if entry else None

    def trust(self, server_url: str, digits: str, certificate: str | None = None) -> None:
        """Pin `digits` for the server (the user said yes, or the installer preset it)."""
        checked = parse_fingerprint(digits)
        if checked is None:
            raise ValueError(f"not a SHA-256 fingerprint: {digits!r}")
        self._change(server_url, Pin(checked, certificate))

    def take_preset(self, server_url: str, digits: str) -> bool:
        """The installer's `ServerFingerprint` for its `ServerUrl`: pinned unless this desk
        already pins that server (its own history wins). True if it was taken."""
        if urlsplit(server_url).scheme != "https" or self.get(server_url) is not None:
            return False
        if parse_fingerprint(digits) is None:
            log.warning("trust: ignoring the installer's ServerFingerprint %r (not a SHA-256 fingerprint)", digits)
            return False
        self.trust(server_url, digits)
        return True

    def learn_next(self, server_url: str, announced: dict) -> bool:
        """Take the server's announced next certificate if the pinned certificate's key signed
        it; True if it was taken. An announcement that does not verify is logged and ignored."""
        pin = self.get(server_url)
        digits = parse_fingerprint(str(announced.get("fingerprint", "")))
        if pin is None or pin.certificate is None or digits is None or digits == pin.next_fingerprint:
            return False
        key = x509.load_pem_x509_certificate(pin.certificate.encode()).public_key()
        try:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise InvalidSignature("not an EC key")
            key.verify(base64.b64decode(str(announced.get("signature", ""))), renewal_statement(digits),
                       ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            log.warning("trust: %s announced a next certificate that its pinned key did not sign; ignored",
                        server_key(server_url))
            return False
        pin.next_fingerprint = digits
        self._change(server_url, pin)
        log.info("trust: %s will move to certificate %s", server_key(server_url), readable(digits))
        return True

    def check(self, server_url: str, der: bytes) -> None:
        """The handshake's verdict on a pinned server's certificate: accept it (moving the pin
        to an announced next certificate) or raise _PinRefused."""
        pin = self.get(server_url)
        seen = fingerprint(der)
        if pin is None:
            raise _PinRefused(ServerTrustError(UNTRUSTED, server_key(server_url), seen))
        pem = ssl.DER_cert_to_PEM_cert(der)
        if seen == pin.fingerprint:
            if pin.certificate is None:  # pinned by fingerprint only (installer, terminal): keep the key
                self._change(server_url, Pin(seen, pem, pin.next_fingerprint))
            return
        if seen == pin.next_fingerprint:
            log.info("trust: %s switched to its announced next certificate", server_key(server_url))
            self._change(server_url, Pin(seen, pem))
            return
        raise _PinRefused(ServerTrustError(CHANGED, server_key(server_url), seen, pin.fingerprint))

    def _change(self, server_url: str, pin: Pin) -> None:
        with self._lock:
            pins = self._read()
            pins[server_key(server_url)] = {"fingerprint": pin.fingerprint, "certificate": pin.certificate,
                                            "next_fingerprint": pin.next_fingerprint}
            self._write(pins)

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # Unreadable pins must not mean "trust anything": every pinned server asks again.
            log.error("trust: cannot read %s (%s); no server is trusted until it is fixed", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, pins: dict) -> None:
        write_atomic(self.path, json.dumps(pins, indent=2, sort_keys=True) + "\n")


class ServerTrust:
    """The TLS settings for one server: its pin if it has one, else the CAs (`ca_bundle`, or
    certifi's, as httpx has)."""

    def __init__(self, server_url: str, pins: ServerPins | None, ca_bundle: str | None = None):
        self.server_url = server_url
        self.pins = pins
        self.ca_bundle = ca_bundle
        self.https = urlsplit(server_url).scheme == "https"

    def ssl_context(self) -> ssl.SSLContext:
        """A context for httpx, websocket-client and urllib3 alike."""
        pins = self.pins
        if pins is None or pins.get(self.server_url) is None:
            # The CAs httpx used before pins existed: certifi's, or the office's bundle.
            return ssl.create_default_context(cafile=self.ca_bundle or certifi.where())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # The pin is the check (see the module's docstring), made when the handshake is done.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        server_url = self.server_url

        class PinnedSocket(ssl.SSLSocket):
            def do_handshake(self, block=False):
                super().do_handshake(block)
                pins.check(server_url, self.getpeercert(binary_form=True))

        context.sslsocket_class = PinnedSocket
        return context

    def explain(self, exc: BaseException) -> ServerTrustError | None:
        """The ServerTrustError behind a failed connection, or None if it was not about trust.
        A certificate no CA vouches for, on a server without a pin, is fetched and named."""
        for cause in _causes(exc):
            if isinstance(cause, _PinRefused):
                return cause.trust_error
        if not self.https or self.pins is None:
            return None
        if not any(isinstance(cause, ssl.SSLCertVerificationError) for cause in _causes(exc)):
            return None
        digits = self.presented_fingerprint()
        return None if digits is None else ServerTrustError(UNTRUSTED, server_key(self.server_url), digits)

    def presented_fingerprint(self) -> str | None:
        """The fingerprint of the certificate the server presents, unverified (to show it)."""
        parts = urlsplit(self.server_url)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection((parts.hostname, parts.port or 443), PROBE_TIMEOUT_SECONDS) as raw:
                with context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
                    return fingerprint(tls.getpeercert(binary_form=True))
        except OSError as exc:
            log.info("trust: cannot fetch the certificate of %s (%s)", server_key(self.server_url), exc)
            return None


def _causes(exc: BaseException | None):
    """`exc` and every exception behind it: chained, or wrapped as an argument or a `reason`
    (urllib3 and requests wrap the handshake's error that way)."""
    pending, seen = [exc], set()
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        yield exc
        wrapped = [exc.__cause__, exc.__context__, getattr(exc, "reason", None), *exc.args]
        pending += [inner for inner in wrapped if isinstance(inner, BaseException)]
