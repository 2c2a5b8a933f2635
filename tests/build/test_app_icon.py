"""The program's .ico (build/app_icon.py): every size of the drawn icon, read back by Qt's own .ico
reader pixel for pixel, in the layout Windows reads (bitmaps, then PNG at 256)."""

from __future__ import annotations

import importlib.util
import os
import struct
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # as the build runs it: no display needed

from PySide6.QtGui import QImage, QImageReader

from messenger.client.ui.tray import ICON_SIZES, app_icon

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("messenger_app_icon", ROOT / "build" / "app_icon.py")
app_icon_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(app_icon_script)


def test_the_ico_holds_every_size_of_the_drawn_icon(qapp, tmp_path):
    ico = app_icon_script.write_ico(tmp_path / "messenger.ico")
    data = ico.read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind, count) == (0, 1, len(ICON_SIZES))
    assert ICON_SIZES[0] == 16 and ICON_SIZES[-1] == 256
    end = 6 + 16 * count
    for i, size in enumerate(ICON_SIZES):
        width, height, _colours, _reserved, planes, bits, length, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * i)
        assert (width or 256, height or 256, planes, bits) == (size, size, 1, 32)
        assert offset == end, "images follow one another"
        end += length
        image = data[offset:offset + length]
        assert image.startswith(b"\x89PNG") == (size >= 256), "a bitmap up to 128, PNG at 256"
    assert end == len(data)

    reader = QImageReader(str(ico))
    assert reader.imageCount() == len(ICON_SIZES)
    drawn = app_icon()
    for i, size in enumerate(ICON_SIZES):
        assert reader.jumpToImage(i)
        read = reader.read().convertToFormat(QImage.Format.Format_ARGB32)
        expected = drawn.pixmap(size, size).toImage().convertToFormat(QImage.Format.Format_ARGB32)
        assert read.size() == expected.size()
        assert read == expected, f"{size} px differs from the drawn icon"
        assert read.pixelColor(0, 0).alpha() == 0 and read.pixelColor(size // 2, size // 3).alpha() == 255
