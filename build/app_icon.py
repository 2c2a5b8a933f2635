"""The program's icon file, messenger.ico, drawn from the client's own icon (the speech bubble of
messenger/client/ui/tray.py `app_icon`): `python build/app_icon.py OUT.ico`.

build/build.py gives it to PyInstaller (the icon of messenger.exe and messenger-cli.exe) and
build/installers.py to the MSI (Apps & features, the Start-menu shortcut) and the setup EXE. One
image per size of `app_icon` (16 to 256 pixels): 32-bit bitmaps up to 128 pixels, which every
reader of .ico files takes, and PNG for 256, as Windows' own icons have it.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the messenger package sits next to build/

PNG_FROM = 256  # sizes from here on are stored as PNG


def ico_bytes() -> bytes:
    """The .ico file's bytes. Needs Qt's GUI part; starts an offscreen one if none runs."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QGuiApplication, QImage

    from messenger.client.ui.tray import ICON_SIZES, app_icon

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - QPixmap needs one
    icon = app_icon()
    images = []
    for size in ICON_SIZES:
        image = icon.pixmap(size, size).toImage().convertToFormat(QImage.Format.Format_ARGB32)
        if size >= PNG_FROM:
            buffer = QBuffer()
            buffer.open(QIODevice.OpenModeFlag.WriteOnly)
            image.save(buffer, "PNG")
            images.append((size, bytes(buffer.data())))
        else:
            images.append((size, _bitmap(image)))
    header = struct.pack("<HHH", 0, 1, len(images))  # reserved, type 1 = icon, count
    offset = len(header) + 16 * len(images)
    entries, data = b"", b""
    for size, image in images:
        # Width and height 0 mean 256; no palette; 1 plane; 32 bits per pixel.
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(image), offset + len(data))
        data += image
    return header + entries + data


def _bitmap(image) -> bytes:
    """An ARGB32 image as an icon's DIB: the header says twice the height (the colour rows, then
    the 1-bit AND mask), rows bottom-up, BGRA bytes (ARGB32 in little-endian memory)."""
    size = image.width()
    row = size * 4
    pixels = bytes(image.constBits())
    stride = image.bytesPerLine()
    colour = b"".join(pixels[y * stride:y * stride + row] for y in reversed(range(size)))
    mask_row = ((size + 31) // 32) * 4  # all zero: the alpha channel says what shows
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, len(colour) + mask_row * size, 0, 0, 0, 0)
    return header + colour + bytes(mask_row * size)


def write_ico(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ico_bytes())
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT.ico")
    print(write_ico(Path(sys.argv[1])))
