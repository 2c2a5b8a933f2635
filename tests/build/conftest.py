"""Shared by the tests of the built program and of its installers."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from test_frozen import BUILD_SCRIPT, TEST_BUILDS, TEST_RELEASE, TRUST_ROOT, build_script, newest_source_change
from updates.repository import init

SIGNING_PASSWORD = "test-only-pfx-password"

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


# One definition for the session: a fixture imported into a second test module would run twice,
# and its second build lock would wait forever for the first one's.
@pytest.fixture(scope="session")
def program():
    """The onedir binary, built now unless a build newer than every source is there."""
    binary = build_script.output_path(onefile=False, dist=TEST_BUILDS / "test-dist")
    lock = TEST_BUILDS / "test-build.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as held:
        # Other test sessions in this checkout wait rather than build into the same folder at once.
        if fcntl:
            fcntl.flock(held, fcntl.LOCK_EX)
        if not TRUST_ROOT.exists():
            init(TEST_RELEASE / "repo", TEST_RELEASE / "keys")
        if not binary.exists() or binary.stat().st_mtime < newest_source_change():
            built = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--trust-root", str(TRUST_ROOT),
                                    "--dist", str(binary.parent.parent), "--work", str(TEST_BUILDS / "test-onedir")],
                                   capture_output=True, text=True, timeout=840)
            # A failing self-test still leaves a fresh binary: test_self_test_passes_every_check names what failed.
            fresh = binary.exists() and binary.stat().st_mtime >= newest_source_change()
            assert fresh, f"build/build.py failed ({built.returncode}):\n{built.stdout}\n{built.stderr[-6000:]}"
        if fcntl:
            fcntl.flock(held, fcntl.LOCK_SH)  # keep others from rebuilding it under the running tests
        yield binary


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed code-signing certificate: (pfx, pem)."""
    folder = tmp_path_factory.mktemp("cert")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Messenger Test Signing"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Office")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .sign(key, hashes.SHA256()))
    pfx = folder / "signing.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(
        b"messenger-test", key, cert, None, serialization.BestAvailableEncryption(SIGNING_PASSWORD.encode())))
    pem = folder / "signing.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pfx, pem
