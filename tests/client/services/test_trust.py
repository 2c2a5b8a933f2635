"""Pins of server certificates: what is trusted, what moves the pin, what never does."""

from __future__ import annotations

import base64
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from messenger.client.services.trust import CHANGED, ServerPins, _PinRefused
from messenger.core.certificates import fingerprint, parse_fingerprint, readable
from messenger.server import tls
from messenger.server.config import ServerConfig

URL = "https://10.0.0.5:5000"


def der(path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)


@pytest.fixture
def server_dir(tmp_path):
    """A server data dir with its certificate and a prepared renewal."""
    data_dir = tmp_path / "server"
    tls.ensure_certificate(data_dir)
    tls.prepare_renewal(data_dir, 14)
    return data_dir


def test_fingerprints_are_read_in_any_usual_form():
    digits = "AB12" * 16
    for text in (digits, digits.lower(), readable(digits), ":".join(digits[i:i + 2] for i in range(0, 64, 2))):
        assert parse_fingerprint(text) == digits
    assert parse_fingerprint("AB12" * 15) is None and parse_fingerprint("XY" * 32) is None


def test_a_pinned_certificate_passes_and_another_is_refused_as_changed(tmp_path, server_dir):
    pins = ServerPins(tmp_path / "desk")
    current = der(server_dir / "tls" / "server.crt")
    pins.trust(URL, readable(fingerprint(current)))
    pins.check(URL, current)
    assert pins.get(URL).certificate == ssl.DER_cert_to_PEM_cert(current)  # kept for renewals
    with pytest.raises(_PinRefused) as refused:
        pins.check(URL, der(server_dir / "tls" / "next.crt"))
    assert refused.value.trust_error.code == CHANGED
    assert pins.get(URL).fingerprint == fingerprint(current)


def test_an_announced_renewal_moves_the_pin_only_when_the_pinned_key_signed_it(tmp_path, server_dir):
    pins = ServerPins(tmp_path / "desk")
    current, following = der(server_dir / "tls" / "server.crt"), der(server_dir / "tls" / "next.crt")
    pins.trust(URL, fingerprint(current))
    pins.check(URL, current)
    announced = tls.next_certificate(ServerConfig(data_dir=server_dir))

    forged = dict(announced, fingerprint="CD" * 32)  # someone else's certificate, the same signature
    assert pins.learn_next(URL, forged) is False
    garbage = dict(announced, signature=base64.b64encode(b"not a signature").decode())
    assert pins.learn_next(URL, garbage) is False
    assert pins.get(URL).next_fingerprint is None

    assert pins.learn_next(URL, announced) is True
    pins.check(URL, following)  # the server switched
    assert pins.get(URL).fingerprint == fingerprint(following) and pins.get(URL).next_fingerprint is None
    with pytest.raises(_PinRefused):
        pins.check(URL, current)  # and the old one is not trusted any more


def test_a_renewal_is_not_learned_before_the_pinned_certificate_was_seen(tmp_path, server_dir):
    pins = ServerPins(tmp_path / "desk")
    pins.trust(URL, fingerprint(der(server_dir / "tls" / "server.crt")))  # by fingerprint only, as presets do
    assert pins.learn_next(URL, tls.next_certificate(ServerConfig(data_dir=server_dir))) is False


def test_an_installer_preset_never_replaces_the_desks_own_pin(tmp_path):
    pins = ServerPins(tmp_path / "desk")
    assert pins.take_preset(URL, "AB" * 32) is True
    assert pins.take_preset(URL, "CD" * 32) is False
    assert pins.get(URL).fingerprint == "AB" * 32
    assert pins.take_preset("https://other:5000", "not hex") is False
    assert pins.take_preset("http://plain:5000", "AB" * 32) is False
    assert pins.get("https://other:5000") is None


def test_unreadable_pins_trust_nothing(tmp_path):
    pins = ServerPins(tmp_path / "desk")
    pins.trust(URL, "AB" * 32)
    pins.path.write_text("{ half a file")
    assert pins.get(URL) is None
