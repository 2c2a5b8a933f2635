"""How rooms and messages are painted: one delegate each, no widget per row.

`ChatDelegate` lays a message out once per width (`MessageGeometry`), and uses the same
layout to size the row and to paint it: day separator, avatar and sender name for the
first message of a run, the "New messages" divider, the bubble (ours on the right; tinted
when it mentions me), a reply quote, the text, reactions, and beside the bubble the time,
the "unread by" count and the outbox state.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from datetime import date, datetime, timedelta

from PySide6.QtCore import QModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QTextLayout, QTextOption
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from messenger.client.i18n import clock, language, long_date, short_when, tr
from messenger.client.ui.icons import muted_icon, pin_icon
from messenger.client.ui.chat_model import ChatItem
from messenger.client.ui.models import ITEM_ROLE
from messenger.client.ui.room_list import RoomItem
from messenger.core import protocol
from messenger.core.names import clipped

# Colours of the chat (a light theme in the spirit of the messengers people know).
CHAT_BACKGROUND = QColor("#F2F4F7")
OWN_BUBBLE = QColor("#D9E6FF")
OTHER_BUBBLE = QColor("#FFFFFF")
MENTION_BUBBLE = QColor("#FFF4CC")
MENTION_BORDER = QColor("#F2C94C")
NEW_DIVIDER = QColor("#F04438")
ONLINE = QColor("#34A853")
BUBBLE_BORDER = QColor("#E1E5EB")
TEXT = QColor("#1B1F24")
SECONDARY = QColor("#7A8291")
SENDER_NAME = QColor("#4A5260")
UNREAD_BY = QColor("#D39A00")
FAILED = QColor("#D93025")
DAY_PILL = QColor("#E2E6EC")
QUOTE_BAR_OWN = QColor("#7D9BE0")
QUOTE_BAR_OTHER = QColor("#B4BDC9")
CHIP = QColor("#FFFFFF")
CHIP_MINE = QColor("#E4ECFF")
CHIP_MINE_BORDER = QColor("#7D9BE0")
BADGE = QColor("#F04438")
BADGE_MUTED = QColor("#A4ABB6")
# Marks of a readable message whose sender and place are the server's word (Readable.mark).
FORMAT_MARKS = {"E2E_NOT_SIGNED": "message.not_signed", "E2E_OLD_FORMAT": "message.old_format"}
# Marks of a message not shown because it was tampered with, one per way (spec/e2e.md §2a):
# the bubble says why in a sentence, the mark says it at a glance.
TAMPERED_MARKS = {"E2E_REPLAYED": "message.replayed", "E2E_MISATTRIBUTED": "message.misattributed",
                  "E2E_REORDERED": "message.reordered", "E2E_UNVERIFIED_SENDER": "message.unverified_sender",
                  "E2E_SIGNATURE_INVALID": "message.tampered", "E2E_TAMPERED": "message.tampered"}
AVATAR_COLOURS = ["#F28B82", "#FBBC04", "#34A853", "#4285F4", "#A142F4", "#F06292", "#24C1E0", "#FF7043"]

MARGIN = 12
AVATAR = 34
GAP = 8
BUBBLE_PAD_X = 11
BUBBLE_PAD_Y = 7
RADIUS = 12
RUN_SECONDS = 300  # messages by the same person this close together share one name line
LAYOUT_CACHE = 4000


def avatar_colour(key: int) -> QColor:
    digest = hashlib.sha1(str(key).encode()).digest()
    return QColor(AVATAR_COLOURS[digest[0] % len(AVATAR_COLOURS)])


def initial(name: str) -> str:
    name = name.strip()
    return name[0].upper() if name else "?"


def paint_avatar(painter: QPainter, rect: QRect, key: int, name: str, font: QFont) -> None:
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(avatar_colour(key))
    painter.drawEllipse(rect)
    bold = QFont(font)
    bold.setBold(True)
    bold.setPixelSize(max(10, rect.height() * 2 // 5))
    painter.setFont(bold)
    painter.setPen(QColor("white"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, initial(name))


def scaled(font: QFont, factor: float, bold: bool = False) -> QFont:
    smaller = QFont(font)
    if font.pointSizeF() > 0:
        smaller.setPointSizeF(font.pointSizeF() * factor)
    else:
        smaller.setPixelSize(max(8, round(font.pixelSize() * factor)))
    smaller.setBold(bold)
    return smaller


class TextLayouts:
    """Wrapped text layouts by (text, font, width): laying text out is the costly part."""

    def __init__(self):
        self._cache: OrderedDict[tuple, tuple[QTextLayout, int, int]] = OrderedDict()

    def get(self, text: str, font: QFont, width: int) -> tuple[QTextLayout, int, int]:
        """A layout of `text` wrapped to `width`, with its used width and height."""
        key = (text, font.key(), width)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        # QTextLayout breaks lines at U+2028, not at "\n".
        layout = QTextLayout(text.replace("\n", "\u2028"), font)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        layout.setTextOption(option)
        layout.beginLayout()
        height = used = 0.0
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            line.setPosition(QPointF(0, height))
            height += line.height()
            used = max(used, line.naturalTextWidth())
        layout.endLayout()
        found = (layout, int(used + 0.999), int(height + 0.999))
        self._cache[key] = found
        if len(self._cache) > LAYOUT_CACHE:
            self._cache.popitem(last=False)
        return found


@dataclasses.dataclass
class MessageGeometry:
    height: int
    day: str | None = None
    day_rect: QRect | None = None
    divider_rect: QRect | None = None  # "New messages" above the first unread one
    avatar_rect: QRect | None = None
    name_rect: QRect | None = None
    bubble: QRect = dataclasses.field(default_factory=QRect)
    quote_rect: QRect | None = None
    quote_name: str = ""
    quote_text: str = ""
    text_origin: QPointF = dataclasses.field(default_factory=QPointF)
    text_layout: QTextLayout | None = None
    image_rect: QRect | None = None  # an image message's thumbnail, above its text
    chips: list[tuple[QRect, str, bool]] = dataclasses.field(default_factory=list)
    meta_rect: QRect = dataclasses.field(default_factory=QRect)
    meta_lines: list[tuple[str, QColor]] = dataclasses.field(default_factory=list)


def starts_run(item: ChatItem, previous: ChatItem | None) -> bool:
    """Whether a message shows its sender's avatar and name (the first of a run)."""
    if previous is None or previous.sender_id != item.sender_id or previous.created_at.date() != item.created_at.date():
        return True
    return item.created_at - previous.created_at > timedelta(seconds=RUN_SECONDS)


class ChatDelegate(QStyledItemDelegate):
    def __init__(self, view: QListView):
        super().__init__(view)
        self.view = view
        self.layouts = TextLayouts()
        # Set by the window to show images in their bubbles (files.Thumbnails: `get(file)`).
        self.thumbnails = None
        # Row heights by item: the view asks for every row's height whenever rows are added
        # (a page of history), which would lay out all the text of the room again each time.
        self._heights: dict[int, tuple[ChatItem, tuple, int]] = {}
        model = view.model()
        model.dataChanged.connect(self._forget_rows)
        model.rowsRemoved.connect(self._heights.clear)
        model.modelReset.connect(self._heights.clear)

    # -- fonts ----------------------------------------------------------------------------------

    @property
    def font(self) -> QFont:
        return self.view.font()

    def geometry(self, index: QModelIndex, width: int) -> MessageGeometry:
        """Where everything of the row at `index` goes in a row `width` pixels wide (row-relative)."""
        item: ChatItem = index.data(ITEM_ROLE)
        previous: ChatItem | None = index.siblingAtRow(index.row() - 1).data(ITEM_ROLE) if index.row() else None
        font = self.font
        small = scaled(font, 0.85)
        name_font = scaled(font, 0.85, bold=True)
        meta_metrics = QFontMetrics(small)
        geo = MessageGeometry(height=0)
        y = 3

        if previous is None or previous.created_at.date() != item.created_at.date():
            geo.day = day_label(item.created_at.date())
            text_width = QFontMetrics(small).horizontalAdvance(geo.day) + 24
            pill_height = meta_metrics.height() + 8
            geo.day_rect = QRect((width - text_width) // 2, y + 8, text_width, pill_height)
            y += pill_height + 20

        if item.new_divider:
            divider_height = meta_metrics.height() + 6
            geo.divider_rect = QRect(MARGIN, y + 4, width - 2 * MARGIN, divider_height)
            y += divider_height + 10

        first = starts_run(item, previous)
        if first and previous is not None and geo.day is None:
            y += 6  # a little air between runs
        left = MARGIN
        if not item.own:
            left = MARGIN + AVATAR + GAP
            if first:
                geo.avatar_rect = QRect(MARGIN, y, AVATAR, AVATAR)
                name_height = QFontMetrics(name_font).height()
                geo.name_rect = QRect(left, y, width - left - MARGIN, name_height)
                y += name_height + 3

        # The meta column (time, unread-by, state) sits beside the bubble.
        geo.meta_lines = self.meta_lines(item)
        meta_width = max((meta_metrics.horizontalAdvance(text) for text, _ in geo.meta_lines), default=0)
        max_bubble = max(80, int((width - left - MARGIN - meta_width - GAP) * 0.92))
        inner_max = max_bubble - 2 * BUBBLE_PAD_X

        text_font = font
        if item.deleted:
            text_font = QFont(font)
            text_font.setItalic(True)
        # No one sends more than the contract's plaintext limit; a longer text (a hostile sender's
        # sealed one) is cut so that laying it out cannot stall the window.
        shown = clipped(item.text, protocol.MAX_PLAINTEXT_CHARS) or " "
        layout, text_width, text_height = self.layouts.get(shown, text_font, inner_max)
        inner_width = text_width
        quote_height = 0
        if item.reply and not item.deleted:
            geo.quote_name = item.reply["sender_name"]
            geo.quote_text = QFontMetrics(small).elidedText(
                item.reply["text"].replace("\n", " "), Qt.TextElideMode.ElideRight, inner_max - 10)
            quote_width = 10 + max(QFontMetrics(name_font).horizontalAdvance(geo.quote_name),
                                   QFontMetrics(small).horizontalAdvance(geo.quote_text))
            inner_width = max(inner_width, min(quote_width, inner_max))
            quote_height = QFontMetrics(name_font).height() + meta_metrics.height() + 6
        thumbnail = self.thumbnail(item)
        image_width = image_height = 0
        if thumbnail is not None:
            # Narrower than the thumbnail if the window is: scaled down, never cropped.
            image_width = min(thumbnail.width(), inner_max)
            image_height = thumbnail.height() * image_width // max(thumbnail.width(), 1) + 6
            inner_width = max(inner_width, image_width)
        bubble_width = inner_width + 2 * BUBBLE_PAD_X
        bubble_height = (text_height + 2 * BUBBLE_PAD_Y + (quote_height + 6 if quote_height else 0)
                         + image_height)
        bubble_x = width - MARGIN - bubble_width if item.own else left
        geo.bubble = QRect(bubble_x, y, bubble_width, bubble_height)
        inner_y = y + BUBBLE_PAD_Y
        if quote_height:
            geo.quote_rect = QRect(bubble_x + BUBBLE_PAD_X, inner_y, inner_width, quote_height)
            inner_y += quote_height + 6
        if thumbnail is not None:
            geo.image_rect = QRect(bubble_x + BUBBLE_PAD_X, inner_y, image_width, image_height - 6)
            inner_y += image_height
        geo.text_origin = QPointF(bubble_x + BUBBLE_PAD_X, inner_y)
        geo.text_layout = layout

        meta_height = meta_metrics.height() * len(geo.meta_lines)
        meta_x = bubble_x - GAP - meta_width if item.own else bubble_x + bubble_width + GAP
        geo.meta_rect = QRect(meta_x, y + bubble_height - meta_height, meta_width, meta_height)
        y += bubble_height

        if item.reactions:
            y += 4
            chip_height = meta_metrics.height() + 6
            chips = []
            for reaction in item.reactions[:protocol.MAX_REACTION_KINDS]:
                label = f"{reaction['emoji']} {reaction['count']}"
                chips.append((label, meta_metrics.horizontalAdvance(label) + 14, reaction["me"]))
            if len(item.reactions) > protocol.MAX_REACTION_KINDS:  # only a hostile server sends more
                label = f"+{len(item.reactions) - protocol.MAX_REACTION_KINDS}"
                chips.append((label, meta_metrics.horizontalAdvance(label) + 14, False))
            total = sum(w for _, w, _ in chips) + 4 * (len(chips) - 1)
            x = bubble_x + bubble_width - total if item.own else bubble_x
            for label, chip_width, mine in chips:
                geo.chips.append((QRect(x, y, chip_width, chip_height), label, mine))
                x += chip_width + 4
            y += chip_height
        geo.height = y + 3
        return geo

    def thumbnail(self, item: ChatItem):
        """The image to show in an image message's bubble, if it is loaded."""
        if self.thumbnails is None or item.message_type != "image" or item.file is None or item.deleted:
            return None
        return self.thumbnails.get(item.file)

    @staticmethod
    def meta_lines(item: ChatItem) -> list[tuple[str, QColor]]:
        lines: list[tuple[str, QColor]] = []
        if item.state == "failed":
            return [(f"⚠ {tr('message.failed')}", FAILED), (clock(item.created_at), SECONDARY)]
        if item.not_encrypted:  # written in the clear (a server with e2e optional, or tampered with)
            lines.append((f"⚠ {tr('message.not_encrypted')}", FAILED))
        elif item.mark in FORMAT_MARKS:  # readable, but its sender is the server's word
            lines.append((tr(FORMAT_MARKS[item.mark]), SECONDARY))
        elif item.mark in TAMPERED_MARKS:
            lines.append((f"⚠ {tr(TAMPERED_MARKS[item.mark])}", FAILED))
        if item.unread_by and item.message_id is not None:
            lines.append((str(item.unread_by), UNREAD_BY))
        time_text = clock(item.created_at)
        if item.edited and not item.deleted:
            time_text = f"{tr('message.edited')} · {time_text}"
        if item.state == "pending" and item.uploading is not None:
            lines.append((f"◷ {tr('chat.uploading', percent=item.uploading)}", SECONDARY))
        elif item.state == "pending":
            lines.append((f"◷ {tr('message.pending')}", SECONDARY))
        else:
            lines.append((time_text, SECONDARY))
        return lines

    # -- Qt ---------------------------------------------------------------------------------------

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        width = self.view.viewport().width()
        item: ChatItem = index.data(ITEM_ROLE)
        previous = index.siblingAtRow(index.row() - 1).data(ITEM_ROLE) if index.row() else None
        # A row's height depends on its item, the one above (day, run) and how it is shown.
        key = (width, id(previous), self.font.key(), language())
        cached = self._heights.get(id(item))
        if cached is None or cached[1] != key:
            cached = (item, key, self.geometry(index, width).height)  # holding the item keeps its id unique
            self._heights[id(item)] = cached
        return QSize(width, cached[2])

    def _forget_rows(self, top: QModelIndex, bottom: QModelIndex, roles=()) -> None:
        for row in range(top.row(), bottom.row() + 1):
            item = top.siblingAtRow(row).data(ITEM_ROLE)
            self._heights.pop(id(item), None)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        item: ChatItem = index.data(ITEM_ROLE)
        if item is None:
            return
        geo = self.geometry(index, option.rect.width())
        font = self.font
        small = scaled(font, 0.85)
        name_font = scaled(font, 0.85, bold=True)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(option.rect.topLeft())

        if geo.day_rect is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(DAY_PILL)
            painter.drawRoundedRect(geo.day_rect, geo.day_rect.height() / 2, geo.day_rect.height() / 2)
            painter.setFont(small)
            painter.setPen(SENDER_NAME)
            painter.drawText(geo.day_rect, Qt.AlignmentFlag.AlignCenter, geo.day)

        if geo.divider_rect is not None:
            label = tr("chat.new_messages")
            painter.setFont(small)
            label_width = QFontMetrics(small).horizontalAdvance(label) + 16
            middle = geo.divider_rect.center().y()
            painter.setPen(NEW_DIVIDER)
            painter.drawLine(geo.divider_rect.left(), middle, geo.divider_rect.right(), middle)
            pill = QRect(geo.divider_rect.center().x() - label_width // 2, geo.divider_rect.top(), label_width,
                         geo.divider_rect.height())
            painter.fillRect(pill, CHAT_BACKGROUND)
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, label)

        if geo.avatar_rect is not None:
            paint_avatar(painter, geo.avatar_rect, item.sender_id, item.sender_name, font)
        if geo.name_rect is not None:
            painter.setFont(name_font)
            painter.setPen(SENDER_NAME)
            painter.drawText(geo.name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             item.sender_name)

        bubble = QPainterPath()
        bubble.addRoundedRect(QRectF(geo.bubble), RADIUS, RADIUS)
        if item.mentions_me:
            painter.setPen(MENTION_BORDER)
            painter.setBrush(MENTION_BUBBLE)
        else:
            painter.setPen(Qt.PenStyle.NoPen if item.own else BUBBLE_BORDER)
            painter.setBrush(OWN_BUBBLE if item.own else OTHER_BUBBLE)
        if item.state == "pending":
            painter.setOpacity(0.7)
        painter.drawPath(bubble)
        painter.setOpacity(1.0)

        if geo.quote_rect is not None:
            bar = QRect(geo.quote_rect.left(), geo.quote_rect.top(), 3, geo.quote_rect.height())
            painter.fillRect(bar, QUOTE_BAR_OWN if item.own else QUOTE_BAR_OTHER)
            text_rect = geo.quote_rect.adjusted(10, 0, 0, 0)
            painter.setFont(name_font)
            painter.setPen(SENDER_NAME)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, geo.quote_name)
            painter.setFont(small)
            painter.setPen(SECONDARY)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, geo.quote_text)

        if geo.image_rect is not None:
            thumbnail = self.thumbnail(item)
            if thumbnail is not None:
                painter.drawPixmap(geo.image_rect, thumbnail)

        painter.setPen(SECONDARY if item.deleted else TEXT)
        geo.text_layout.draw(painter, geo.text_origin)

        painter.setFont(small)
        line_height = QFontMetrics(small).height()
        align = Qt.AlignmentFlag.AlignRight if item.own else Qt.AlignmentFlag.AlignLeft
        for number, (text, colour) in enumerate(geo.meta_lines):
            painter.setPen(colour)
            rect = QRect(geo.meta_rect.left(), geo.meta_rect.top() + number * line_height,
                         geo.meta_rect.width(), line_height)
            painter.drawText(rect, align | Qt.AlignmentFlag.AlignVCenter, text)

        for rect, label, mine in geo.chips:
            painter.setPen(CHIP_MINE_BORDER if mine else BUBBLE_BORDER)
            painter.setBrush(CHIP_MINE if mine else CHIP)
            painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
            painter.setPen(TEXT)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)
        painter.restore()


def day_label(day: date) -> str:
    today = datetime.now().astimezone().date()
    if day == today:
        return f"{tr('date.today')} · {long_date(day)}"
    return long_date(day)


class RoomDelegate(QStyledItemDelegate):
    """A room row: avatar, title (with pin and mute marks), last message, time, unread badge."""

    HEIGHT = 62

    def __init__(self, parent=None):
        super().__init__(parent)
        # Drawn marks, not 📌 and 🔕: those are boxes on a machine without an emoji font.
        self.pin_mark = pin_icon(QColor("#4A5260"))
        self.muted_mark = muted_icon(SECONDARY)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(option.rect.width(), self.HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        room: RoomItem = index.data(ITEM_ROLE)
        if room is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        if selected:
            painter.fillRect(rect, QColor("#E3EBFD"))
        elif hovered:
            painter.fillRect(rect, QColor("#F3F5F8"))
        font = option.font
        avatar = QRect(rect.left() + 12, rect.top() + (rect.height() - 40) // 2, 40, 40)
        paint_avatar(painter, avatar, room.avatar_key, room.title, font)
        if room.online:
            dot = QRect(avatar.right() - 11, avatar.bottom() - 11, 12, 12)
            painter.setPen(QColor("white"))
            painter.setBrush(ONLINE)
            painter.drawEllipse(dot)

        text_left = avatar.right() + 12
        right = rect.right() - 12
        small = scaled(font, 0.82)
        when = short_when(room.last_message_at, datetime.now().astimezone().date()) if room.last_message_at else ""
        when_width = QFontMetrics(small).horizontalAdvance(when)
        painter.setFont(small)
        painter.setPen(SECONDARY)
        top_line = QRect(text_left, rect.top() + 11, right - text_left, QFontMetrics(font).height())
        painter.drawText(top_line, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, when)

        title_font = QFont(font)
        title_font.setBold(True)
        mark = QFontMetrics(small).height()  # the marks' size: one small line
        mark_top = top_line.top() + (top_line.height() - mark) // 2
        if room.pinned:
            self.pin_mark.paint(painter, QRect(top_line.left(), mark_top, mark, mark))
            top_line.setLeft(top_line.left() + mark + 4)
        count = f"  {room.member_count}" if room.type == "group" else ""
        suffix_width = QFontMetrics(small).horizontalAdvance(count) + (mark + 6 if room.muted else 0)
        title_space = top_line.width() - when_width - 8
        metrics = QFontMetrics(title_font)
        title = metrics.elidedText(room.title, Qt.TextElideMode.ElideRight, title_space - suffix_width)
        painter.setFont(title_font)
        painter.setPen(option.palette.color(QPalette.ColorRole.Text))
        painter.drawText(top_line, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        after = top_line.left() + metrics.horizontalAdvance(title) + 2
        if room.muted:
            self.muted_mark.paint(painter, QRect(after + 6, mark_top, mark, mark))
            after += mark + 6
        if count:
            painter.setFont(small)
            painter.setPen(SECONDARY)
            count_rect = QRect(after, top_line.top(), max(0, top_line.right() - after), top_line.height())
            painter.drawText(count_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, count)

        badge_width = 0
        bottom_line = QRect(text_left, top_line.bottom() + 4, right - text_left, QFontMetrics(small).height() + 4)
        if room.unread:
            count = "999+" if room.unread > 999 else str(room.unread)
            badge_font = scaled(font, 0.75, bold=True)
            badge_width = max(20, QFontMetrics(badge_font).horizontalAdvance(count) + 12)
            badge = QRect(right - badge_width, bottom_line.top() + (bottom_line.height() - 20) // 2, badge_width, 20)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(BADGE_MUTED if room.muted else BADGE)
            painter.drawRoundedRect(badge, 10, 10)
            painter.setFont(badge_font)
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, count)
        preview = (room.preview or tr("room.no_messages")).replace("\n", " ")
        painter.setFont(small)
        painter.setPen(SECONDARY)
        preview_rect = bottom_line.adjusted(0, 0, -(badge_width + 8 if badge_width else 0), 0)
        painter.drawText(preview_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         QFontMetrics(small).elidedText(preview, Qt.TextElideMode.ElideRight, preview_rect.width()))
        painter.restore()
