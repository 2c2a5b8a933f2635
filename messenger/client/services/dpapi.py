"""Windows DPAPI: bytes that only the same Windows user can turn back into the original.

Used for the device-token file when Windows has no usable Credential Manager (rare:
some locked-down or service accounts). Windows only; nothing here runs elsewhere.
"""

from __future__ import annotations

import ctypes
from ctypes import wintypes

CRYPTPROTECT_UI_FORBIDDEN = 0x01  # fail rather than show a dialog
# Extra input to the key derivation: another program of the same user calling DPAPI
# without these bytes cannot decrypt the file.
ENTROPY = b"messenger device token v1"


class DataBlob(ctypes.Structure):
    _fields_ = [("cbData", wintypes.DWORD), ("pbData", ctypes.POINTER(ctypes.c_char))]


_crypt32 = ctypes.WinDLL("crypt32", use_last_error=True)
_kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)

_crypt32.CryptProtectData.argtypes = [
    ctypes.POINTER(DataBlob), wintypes.LPCWSTR, ctypes.POINTER(DataBlob), ctypes.c_void_p, ctypes.c_void_p,
    wintypes.DWORD, ctypes.POINTER(DataBlob)]
_crypt32.CryptProtectData.restype = wintypes.BOOL
_crypt32.CryptUnprotectData.argtypes = [
    ctypes.POINTER(DataBlob), ctypes.POINTER(wintypes.LPWSTR), ctypes.POINTER(DataBlob), ctypes.c_void_p,
    ctypes.c_void_p, wintypes.DWORD, ctypes.POINTER(DataBlob)]
_crypt32.CryptUnprotectData.restype = wintypes.BOOL
_kernel32.LocalFree.argtypes = [ctypes.c_void_p]
_kernel32.LocalFree.restype = ctypes.c_void_p


def _blob(data: bytes) -> tuple[DataBlob, ctypes.Array]:
    """A DATA_BLOB over a copy of `data`; keep the returned buffer alive while it is used."""
    buffer = ctypes.create_string_buffer(data, len(data))
    return DataBlob(len(data), ctypes.cast(buffer, ctypes.POINTER(ctypes.c_char))), buffer


def _run(function, data: bytes, description: str | None) -> bytes:
    blob_in, keep_in = _blob(data)
    entropy, keep_entropy = _blob(ENTROPY)
    blob_out = DataBlob()
    if not function(ctypes.byref(blob_in), description, ctypes.byref(entropy), None, None,
                    CRYPTPROTECT_UI_FORBIDDEN, ctypes.byref(blob_out)):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        return ctypes.string_at(blob_out.pbData, blob_out.cbData)
    finally:
        _kernel32.LocalFree(ctypes.cast(blob_out.pbData, ctypes.c_void_p))


def protect(data: bytes) -> bytes:
    """Encrypt `data` for the current Windows user (CryptProtectData)."""
    return _run(_crypt32.CryptProtectData, data, "messenger")


def unprotect(data: bytes) -> bytes:
    """Decrypt what `protect` made; raises OSError for another user's or a damaged blob."""
    return _run(_crypt32.CryptUnprotectData, data, None)
