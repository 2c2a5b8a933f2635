"""The server's certificate: its fingerprint as the admin reads it, and a renewal announced
ahead of time, signed by the key desks already trust."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from messenger.core.certificates import fingerprint, readable, renewal_statement

PROD = {"MESSENGER_ENV": "prod", "MESSENGER_DISCOVERY": "0"}  # loopback only: nothing to announce


def presented(url: str) -> bytes:
    """The DER certificate a server presents, unverified."""
    parts = urlsplit(url)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((parts.hostname, parts.port)) as raw, context.wrap_socket(raw) as tls:
        return tls.getpeercert(binary_form=True)


def admin(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "messenger", "admin", "--data-dir", str(server.data_dir), *args],
                          capture_output=True, text=True, timeout=60, env={**os.environ, **PROD})


def test_show_fingerprint_prints_the_certificate_the_server_presents_as_on_its_first_start(fresh_server):
    server = fresh_server(env=PROD)
    digits = fingerprint(presented(server.url))
    shown = admin(server, "show-fingerprint")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"SHA-256 {readable(digits)}\n"
    assert f"certificate fingerprint (SHA-256): {readable(digits)}\n" in server.output
    assert json.loads(admin(server, "show-fingerprint", "--json").stdout)["fingerprint"] == digits
    assert len(readable(digits).split()) == 16


def test_the_next_certificate_is_published_signed_by_the_current_key_and_taken_at_its_date(fresh_server):
    server = fresh_server(env=PROD)
    reply = httpx.get(f"{server.url}/api/system/next-certificate", verify=False)
    assert reply.status_code == 404 and reply.json()["error_code"] == "NOT_FOUND"

    later = json.loads(admin(server, "prepare-certificate-renewal", "--json").stdout)  # 14 days by default
    current = x509.load_der_x509_certificate(presented(server.url))
    published = httpx.get(f"{server.url}/api/system/next-certificate", verify=False).json()
    assert published["fingerprint"] == later["next"] != later["current"] == fingerprint(presented(server.url))
    current.public_key().verify(base64.b64decode(published["signature"]), renewal_statement(published["fingerprint"]),
                                ec.ECDSA(hashes.SHA256()))
    server.stop()
    server.start()
    assert fingerprint(presented(server.url)) == later["current"]  # not due yet

    due = json.loads(admin(server, "prepare-certificate-renewal", "--switch-after-days", "0", "--json").stdout)
    server.stop()
    server.start()
    assert fingerprint(presented(server.url)) == due["next"]
    assert admin(server, "show-fingerprint").stdout == f"SHA-256 {readable(due['next'])}\n"
    assert httpx.get(f"{server.url}/api/system/next-certificate", verify=False).status_code == 404


def test_prepare_certificate_renewal_refuses_a_date_out_of_range(fresh_server):
    server = fresh_server(env=PROD)
    refused = admin(server, "prepare-certificate-renewal", "--switch-after-days", "400")
    assert refused.returncode == 1 and refused.stderr.startswith("error: VALIDATION_ERROR: --switch-after-days")
