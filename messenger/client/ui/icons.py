"""The buttons' icons, drawn by the program or taken from Qt's style, never a character:
an emoji on a button is an empty box on a machine without an emoji font. Drawing them also
needs no image plugin (the frozen program leaves QtSvg out, see spec/messenger.spec).

Each drawn icon is a few strokes on a 24×24 grid, in the palette's button-text colour,
rendered at the sizes a toolbar asks for (and twice them, for high-DPI screens).
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

SIZES = (16, 20, 24, 32, 40, 48, 64)
GRID = 24.0
STROKE = 1.8


def _drawn(draw: Callable[[QPainter], None], colour: QColor | None = None) -> QIcon:
    colour = colour or QApplication.palette().color(QPalette.ColorRole.ButtonText)
    icon = QIcon()
    for size in SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.scale(size / GRID, size / GRID)
        painter.setPen(QPen(colour, STROKE, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                            Qt.PenJoinStyle.RoundJoin))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        draw(painter)
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def _paperclip(painter: QPainter) -> None:
    # Drawn upright (three wires, two bends at the bottom, one at the top), then tilted.
    clip = QPainterPath(QPointF(14, 8))
    clip.lineTo(14, 16)
    clip.arcTo(QRectF(10, 14, 4, 4), 0, -180)
    clip.lineTo(10, 5)
    clip.arcTo(QRectF(10, 2, 6, 6), 180, -180)
    clip.lineTo(16, 17)
    clip.arcTo(QRectF(8, 13, 8, 8), 0, -180)
    clip.lineTo(8, 8)
    painter.translate(12, 12)
    painter.rotate(40)
    painter.scale(0.92, 0.92)
    painter.translate(-12, -11.5)
    painter.drawPath(clip)


def _smiley(painter: QPainter) -> None:
    painter.drawEllipse(QPointF(12, 12), 9, 9)
    painter.drawArc(QRectF(7.5, 8.5, 9, 8), 200 * 16, 140 * 16)
    painter.setBrush(painter.pen().color())
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(QPointF(9, 9.8), 1.3, 1.3)
    painter.drawEllipse(QPointF(15, 9.8), 1.3, 1.3)


def _new_conversation(painter: QPainter) -> None:
    bubble = QPainterPath()
    bubble.addRoundedRect(QRectF(3, 3.5, 18, 13.5), 3.5, 3.5)
    tail = QPainterPath(QPointF(8, 17))
    tail.lineTo(6.5, 21)
    tail.lineTo(12, 17)
    painter.drawPath(bubble.united(tail))
    painter.drawLine(QPointF(12, 6.8), QPointF(12, 13.7))
    painter.drawLine(QPointF(8.55, 10.25), QPointF(15.45, 10.25))


def _pin(painter: QPainter) -> None:
    painter.translate(12, 12)
    painter.rotate(35)
    painter.translate(-12, -12)
    body = QPainterPath(QPointF(9, 4))
    body.lineTo(15, 4)
    body.lineTo(14.5, 10)
    body.lineTo(17.5, 14)
    body.lineTo(6.5, 14)
    body.lineTo(9.5, 10)
    body.closeSubpath()
    painter.drawPath(body)
    painter.drawLine(QPointF(12, 14), QPointF(12, 21))


def _muted(painter: QPainter) -> None:
    bell = QPainterPath(QPointF(7, 16))
    bell.lineTo(7, 11)
    bell.arcTo(QRectF(7, 5, 10, 12), 180, -180)
    bell.lineTo(17, 16)
    painter.drawPath(bell)
    painter.drawLine(QPointF(5, 16.5), QPointF(19, 16.5))
    painter.drawArc(QRectF(10, 17.5, 4, 3.5), 180 * 16, 180 * 16)
    painter.drawLine(QPointF(4, 4), QPointF(20, 20))


def pin_icon(colour: QColor) -> QIcon:
    """A pinned room's mark in the room list."""
    return _drawn(_pin, colour)


def muted_icon(colour: QColor) -> QIcon:
    """A muted room's mark in the room list (a bell, struck through)."""
    return _drawn(_muted, colour)


def attach_icon() -> QIcon:
    return _drawn(_paperclip)


def emoji_icon() -> QIcon:
    return _drawn(_smiley)


def new_conversation_icon() -> QIcon:
    return _drawn(_new_conversation)


def close_icon() -> QIcon:
    """The small ✕ that cancels a reply or an edit: the style's own."""
    return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_TitleBarCloseButton)
