"""Server certificate fingerprints, in one form everywhere.

A fingerprint is the SHA-256 of the certificate's DER bytes. People read it in groups of
four hex digits (`AB12 CD34 ...`: the server's first-run output, `messenger admin
show-fingerprint`, the desk's trust dialog); machines carry the same 64 digits without
spaces (the DNS-SD TXT record, the pin files, the installer's `ServerFingerprint`).
"""

from __future__ import annotations

import hashlib
import re

# What the current key signs to publish the next certificate (GET /api/system/next-certificate).
RENEWAL_CONTEXT = b"messenger next certificate v1\n"

_SEPARATORS = re.compile(r"[\s:]")
_HEX64 = re.compile(r"[0-9A-F]{64}")


def fingerprint(der: bytes) -> str:
    """The 64 upper-case hex digits of the certificate's SHA-256."""
    return hashlib.sha256(der).hexdigest().upper()


def readable(digits: str) -> str:
    """`AB12 CD34 ...`: sixteen groups of four."""
    return " ".join(digits[i:i + 4] for i in range(0, len(digits), 4))


def parse_fingerprint(text: str) -> str | None:
    """The 64 digits of a fingerprint typed or pasted in any usual form (spaces, colons,
    lower case), or None when it is not one."""
    digits = _SEPARATORS.sub("", text or "").upper()
    return digits if _HEX64.fullmatch(digits) else None


def renewal_statement(next_fingerprint: str) -> bytes:
    """The bytes the current certificate's key signs to vouch for the next certificate."""
    return RENEWAL_CONTEXT + next_fingerprint.encode("ascii")
