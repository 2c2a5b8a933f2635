"""What kind of file some bytes are, by their magic numbers (never by a file name)."""

from __future__ import annotations

import codecs

IMAGE_EXTENSIONS = {"png": "png", "jpeg": "jpg", "gif": "gif", "webp": "webp"}
IMAGE_MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


def sniff_image(data: bytes) -> str | None:
    """"png", "jpeg", "gif" or "webp" if `data` starts like one, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


# Plaintext uploads: the allowed extensions, each with the kind its first bytes must show.
UPLOAD_EXTENSIONS = {
    "png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "webp": "webp",
    "pdf": "pdf",
    "zip": "zip", "docx": "zip", "xlsx": "zip", "pptx": "zip", "hwpx": "zip",
    "odt": "zip", "ods": "zip", "odp": "zip",
    "doc": "ole", "xls": "ole", "ppt": "ole", "hwp": "ole",
    "txt": "text", "csv": "text", "tsv": "text", "md": "text", "log": "text",
}
UPLOAD_MIME_TYPES = {
    **{ext: IMAGE_MIME_TYPES[kind] for ext, kind in UPLOAD_EXTENSIONS.items() if kind in IMAGE_MIME_TYPES},
    "pdf": "application/pdf", "zip": "application/zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "hwpx": "application/hwp+zip", "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "doc": "application/msword", "xls": "application/vnd.ms-excel", "ppt": "application/vnd.ms-powerpoint",
    "hwp": "application/x-hwp",
    "txt": "text/plain; charset=utf-8", "csv": "text/csv", "tsv": "text/tab-separated-values",
    "md": "text/markdown", "log": "text/plain",
}
# How much of a file the checks below look at.
SNIFF_BYTES = 8192

_TEXT_CONTROLS_ALLOWED = {"\t", "\n", "\r", "\f", "\x1a", "\x1b"}


def sniff_document(data: bytes) -> str | None:
    """"pdf", "zip" (also docx, xlsx, pptx, hwpx, odt...) or "ole" (doc, xls, ppt, hwp) by magic numbers."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    return None


def looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file read as text (UTF-8, UTF-16 with a BOM, or CP949,
    which Korean Windows still writes) without control characters a text never has."""
    encodings = ("utf-16",) if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else ("utf-8", "cp949")
    for encoding in encodings:
        try:
            # Not final: the head may end in the middle of a character.
            text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        return not any(ch < " " and ch not in _TEXT_CONTROLS_ALLOWED for ch in text)
    return False


def content_matches_extension(extension: str, head: bytes) -> bool:
    """Whether the first `SNIFF_BYTES` of a file are what its (allowed) extension says:
    an HTML page or a program named `.png` is not."""
    expected = UPLOAD_EXTENSIONS.get(extension.lower())
    if expected is None:
        return False
    if expected == "text":
        return sniff_image(head) is None and sniff_document(head) is None and looks_like_text(head)
    return (sniff_image(head) or sniff_document(head)) == expected
