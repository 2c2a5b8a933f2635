"""How long a client takes to decrypt a room's history, per envelope format.

    python benchmarks/e2e_decrypt.py [--count 1000]

Encrypts `count` short messages in each format, then prints the time to decrypt them all
(ms in total, µs per message). v3 should stay well under 100 ms per 1,000 messages; v2 pays
for PBKDF2 on every message, which is why it is read but no longer written.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from messenger.core.e2e import FORMATS, RoomKeyring, decrypt_envelope, encrypt_envelope, new_room_key

LEGACY_KEY = "2OoCUHOPPvEJhWUuq3rD+R9M8Z9z18AN3pzm2aLBT90="


def report(label: str, decrypt: Callable[[str], str], envelopes: list[str]) -> None:
    started = time.perf_counter()
    for envelope in envelopes:
        decrypt(envelope)
    total_ms = (time.perf_counter() - started) * 1000
    print(f"{label:>18}: {total_ms:9.1f} ms total, {total_ms * 1000 / len(envelopes):8.1f} µs per message")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="messages per format (default 1000)")
    count = parser.parse_args().count
    if count < 1:
        parser.error("--count must be at least 1")
    messages = [f"메시지 {i}: 회의는 3시에 시작합니다 — see you there" for i in range(count)]
    keys = {"v1": LEGACY_KEY, "v2": LEGACY_KEY, "v3": new_room_key()}
    sealed = {fmt: [encrypt_envelope(message, keys[fmt], fmt) for message in messages] for fmt in FORMATS}

    print(f"decrypting {count} messages per format")
    for fmt in FORMATS:
        report(fmt, lambda envelope: decrypt_envelope(envelope, keys[fmt]), sealed[fmt])
    # The client's path: one keyring per room, holding several key versions.
    keyring = RoomKeyring([new_room_key(), keys["v3"]], legacy_key=LEGACY_KEY)
    report("v3 via RoomKeyring", keyring.decrypt, sealed["v3"])


if __name__ == "__main__":
    main()
