"""The desk's one retry policy."""

from messenger.client.services.backoff import JITTER, Backoff


def test_waits_double_up_to_the_ceiling_within_the_jitter():
    backoff = Backoff(0.5, 30.0)
    for retry, plain in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]):
        waits = [backoff.wait(retry) for _ in range(200)]
        assert all(plain * (1 - JITTER) <= wait <= plain * (1 + JITTER) for wait in waits)
        assert max(waits) - min(waits) > 0  # jittered, so that desks spread out


def test_a_long_outage_stays_at_the_ceiling():
    assert 30.0 * (1 - JITTER) <= Backoff(0.5, 30.0).wait(100_000) <= 30.0 * (1 + JITTER)
