"""A self-signed certificate made on first start, for offices that give none, and its renewal.

Desks pin the certificate they trusted (messenger/client/services/trust.py). So that a new one
does not look like an attack, `messenger admin prepare-certificate-renewal` makes the next
certificate ahead of time; the server publishes its fingerprint signed by the current key
(`GET /api/system/next-certificate`), and switches to it at the first start after its date.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from messenger.core.certificates import fingerprint, renewal_statement
from messenger.core.files import write_atomic
from messenger.server.config import ServerConfig

VALID_DAYS = 825
CERT, KEY = "server.crt", "server.key"
NEXT_CERT, NEXT_KEY, NEXT_PLAN = "next.crt", "next.key", "next.json"


def ensure_certificate(data_dir: Path) -> tuple[Path, Path]:
    """(cert, key) paths in `data_dir/tls`, generated once and then reused."""
    folder = Path(data_dir) / "tls"
    cert_path, key_path = folder / CERT, folder / KEY
    if not (cert_path.exists() and key_path.exists()):
        _write_certificate(cert_path, key_path)
    return cert_path, key_path


def presented_certificate(config: ServerConfig) -> Path:
    """The certificate file the server presents with this config (made now if it is the
    self-signed one and does not exist yet)."""
    return Path(config.cert_file) if config.cert_file else ensure_certificate(Path(config.data_dir))[0]


def certificate_fingerprint(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return fingerprint(cert.public_bytes(serialization.Encoding.DER))


def prepare_renewal(data_dir: Path, switch_after_days: int) -> dict[str, str]:
    """Make the next certificate; the server switches to it at its first start at least
    `switch_after_days` from now (time for desks to learn it). Replaces an earlier plan."""
    folder = Path(data_dir) / "tls"
    ensure_certificate(data_dir)
    _write_certificate(folder / NEXT_CERT, folder / NEXT_KEY)
    switch_at = datetime.now(timezone.utc) + timedelta(days=switch_after_days)
    write_atomic(folder / NEXT_PLAN, json.dumps({"switch_at": switch_at.isoformat()}) + "\n")
    return {"fingerprint": certificate_fingerprint(folder / NEXT_CERT), "switch_at": switch_at.isoformat()}


def switch_if_due(data_dir: Path) -> bool:
    """At start: make the prepared next certificate the current one once its date has come."""
    folder = Path(data_dir) / "tls"
    plan = _plan(folder)
    if plan is None or datetime.now(timezone.utc) < plan:
        return False
    os.replace(folder / NEXT_KEY, folder / KEY)
    os.replace(folder / NEXT_CERT, folder / CERT)
    (folder / NEXT_PLAN).unlink()
    return True


def next_certificate(config: ServerConfig) -> dict[str, str] | None:
    """The next certificate's fingerprint, signed by the key of the one presented now, or
    None when no renewal is prepared (or the office's own certificate is in use)."""
    folder = Path(config.data_dir) / "tls"
    plan = _plan(folder)
    if config.cert_file or plan is None:
        return None
    next_digits = certificate_fingerprint(folder / NEXT_CERT)
    key = serialization.load_pem_private_key((folder / KEY).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):  # the server makes EC keys (_write_certificate)
        raise ValueError(f"{folder / KEY} is not an EC private key")
    signature = key.sign(renewal_statement(next_digits), ec.ECDSA(hashes.SHA256()))
    return {"fingerprint": next_digits, "signature": base64.b64encode(signature).decode("ascii"),
            "switch_at": plan.isoformat()}


def _plan(folder: Path) -> datetime | None:
    if not all((folder / name).exists() for name in (NEXT_CERT, NEXT_KEY, NEXT_PLAN)):
        return None
    return datetime.fromisoformat(json.loads((folder / NEXT_PLAN).read_text())["switch_at"])


def _write_certificate(cert_path: Path, key_path: Path) -> None:
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    write_atomic(
        key_path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
