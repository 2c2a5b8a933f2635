"""Names other people chose (nicknames, room names, file names), made safe to show and to save.

A member or a server can put direction overrides in a name (`U+202E` makes `txt.exe` read as
`exe.txt`), control characters, or a path in a file name (`../../x`, `C:\\x`). Both sides use
these: the server on what it stores, the desktop on what it shows and writes.
"""

from __future__ import annotations

import unicodedata

FILE_NAME_CHARS = 255
EXTENSION_CHARS = 16  # longer "extensions" are not kept when a long name is cut
# Right-to-left and other direction overrides and isolates.
BIDI_CONTROLS = frozenset(chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)))
# Not allowed in a file name on Windows (":" would even open an alternate data stream).
WINDOWS_RESERVED = str.maketrans({ch: "_" for ch in '<>:"|?*'})


def shown_name(raw: str) -> str:
    """A name to show on one line: without direction overrides or control characters."""
    return "".join(ch for ch in raw if ch not in BIDI_CONTROLS and unicodedata.category(ch) != "Cc").strip()


def display_name(raw: str) -> str:
    """The name shown for an uploaded file: the last part of whatever path it came with, without
    control characters or direction overrides, at most 255 characters (the extension kept).

    An ordinary name (Korean included) comes back exactly as it was; a name that is nothing
    but dots or blanks becomes "".
    """
    name = shown_name(raw.replace("\\", "/").rsplit("/", 1)[-1])
    if not name.strip("."):
        return ""
    if len(name) > FILE_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= EXTENSION_CHARS:
            name = stem[:FILE_NAME_CHARS - len(extension) - 1] + "." + extension
        else:
            name = name[:FILE_NAME_CHARS]
    return name


def save_name(raw: str) -> str:
    """A file name to save under in a folder: `display_name`, valid on Windows too, never empty."""
    return display_name(raw).translate(WINDOWS_RESERVED) or "file"


def clipped(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis if it is longer."""
    return text if len(text) <= limit else text[:limit] + "…"
