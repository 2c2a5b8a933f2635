"""The self-test's checks run from the sources too (the frozen program's run is in tests/build)."""

import pytest

from messenger import selftest


def test_the_e2e_check_round_trips_every_envelope_format_the_desk_writes():
    assert selftest._e2e().startswith("v5 (signed, libsodium) and v3 (AES-256-GCM) and v2 envelopes round-trip")


def test_the_e2e_check_fails_when_a_v5_sender_does_not_verify(monkeypatch):
    import messenger.core.e2e.identity as identity

    monkeypatch.setattr(identity, "device_signed_by", lambda *args: False)
    with pytest.raises(selftest.CheckFailed, match="did not verify"):
        selftest._e2e()
