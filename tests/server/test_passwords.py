"""Password hashes: argon2id for everything new; v4's schemes checked until the first sign-in."""

import bcrypt
import pytest
from werkzeug.security import generate_password_hash

from messenger.server.passwords import hash_password, needs_rehash, verify_password

PASSWORD = "Correct-Horse-42-battery"


@pytest.mark.parametrize("v4_hash", [
    bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
    generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"),
    generate_password_hash(PASSWORD, method="scrypt:1024:8:1"),
], ids=["bcrypt", "werkzeug-pbkdf2", "werkzeug-scrypt"])
def test_a_v4_hash_verifies_its_own_password_only_and_asks_to_be_replaced(v4_hash):
    assert verify_password(v4_hash, PASSWORD)
    assert not verify_password(v4_hash, PASSWORD + "!")
    assert needs_rehash(v4_hash)


def test_an_argon2id_hash_is_kept_and_anything_unknown_matches_nothing():
    current = hash_password(PASSWORD)
    assert current.startswith("$argon2id$") and verify_password(current, PASSWORD)
    assert not needs_rehash(current)
    for stored in ("!", "", None, "$2b$12$short", "pbkdf2:sha256:1000$salt$nothex"):
        assert not verify_password(stored, PASSWORD)


def test_bcrypt_reads_only_the_first_72_bytes_as_v4s_library_did():
    long_password = "가" * 30  # 90 bytes in UTF-8
    stored = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
    assert verify_password(stored, long_password)
