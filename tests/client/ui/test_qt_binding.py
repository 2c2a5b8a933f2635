"""The Qt binding the client ships, checked for what once made the client abort.

PySide6 6.12.0 on Python 3.11 dropped a reference to None on every call of a method that
returns nothing (QFont.setBold, QTextLayout.beginLayout, ...). None is not immortal before
Python 3.12, so after some thousands of such calls the interpreter aborted with
"none_dealloc" (first seen while scrolling a long room, and as random crashes in UI tests).
"""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QFont, QTextLayout
from PySide6.QtWidgets import QLabel

CALLS = 500


@pytest.mark.parametrize("call", [
    pytest.param(lambda font, layout, label: font.setBold(True), id="QFont.setBold"),
    pytest.param(lambda font, layout, label: font.setPointSizeF(10.5), id="QFont.setPointSizeF"),
    pytest.param(lambda font, layout, label: (layout.beginLayout(), layout.endLayout()), id="QTextLayout"),
    pytest.param(lambda font, layout, label: label.setText("메신저"), id="QLabel.setText"),
    pytest.param(lambda font, layout, label: label.setGeometry(QRect(0, 0, 10, 10)), id="QWidget.setGeometry"),
])
def test_methods_returning_nothing_keep_none_alive(qapp, call):
    font, layout, label = QFont(), QTextLayout("회의 자료", QFont()), QLabel()
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        call(font, layout, label)
    # Other threads may take or drop a few references meanwhile; a leak loses one per call.
    assert sys.getrefcount(None) - before > -CALLS // 2
