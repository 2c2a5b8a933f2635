"""The buttons' icons and the room list's marks do not depend on fonts: each is drawn or the
style's own, never an emoji character (a box on a machine without an emoji font)."""

import unicodedata

from desk_kit import sign_in
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QListView, QStyleOptionViewItem

from messenger.client.ui.delegates import RoomDelegate
from messenger.client.ui.icons import attach_icon, emoji_icon, muted_icon, new_conversation_icon, pin_icon
from messenger.client.ui.message_text import MessageText
from messenger.client.ui.room_list import RoomListModel


def opaque_pixels(icon, size: int = 24) -> int:
    image = icon.pixmap(size, size).toImage()
    return sum(1 for x in range(image.width()) for y in range(image.height()) if image.pixelColor(x, y).alpha() > 0)


def test_every_drawn_icon_has_strokes_at_every_size(qapp):
    for make in (attach_icon, emoji_icon, new_conversation_icon, lambda: pin_icon(QColor("black")),
                 lambda: muted_icon(QColor("black"))):
        icon = make()
        for size in (16, 24, 48):
            drawn = opaque_pixels(icon, size)
            assert size * 2 < drawn < size * size * 0.6, (make.__name__, size, drawn)  # strokes, not a blot


def test_the_main_window_buttons_show_icons_not_emoji(server, users, desks, qtbot):
    kim, = users(1)
    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    buttons = [window.attach_button, window.emoji_button, window.cancel_reply, window.cancel_edit,
               window.new_room_button]
    for button in buttons:
        assert not button.icon().isNull(), button
        assert opaque_pixels(button.icon()) > 0
        assert not [c for c in button.text() if unicodedata.category(c) == "So"], button.text()
    # The paperclip is drawn in the palette's text colour, so it shows on any theme.
    image = window.attach_button.icon().pixmap(48, 48).toImage()
    colours = {image.pixelColor(x, y).rgb() for x in range(48) for y in range(48) if image.pixelColor(x, y).alpha() == 255}
    assert colours == {QColor(window.palette().buttonText().color()).rgb()}


def bold(font: QFont) -> QFont:
    font.setBold(True)
    return font


def painted_row(qtbot, **flags) -> QImage:
    """A room-list row of a direct room with "Team" as the room delegate paints it."""
    rooms = RoomListModel(1, MessageText())
    rooms.reset([{"id": 5, "type": "direct", "partner": {"id": 2, "nickname": "Team"}, **flags}])
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(rooms)
    delegate = RoomDelegate(view)
    image = QImage(320, RoomDelegate.HEIGHT, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    option = QStyleOptionViewItem()
    option.initFrom(view)
    option.rect = image.rect()
    delegate.paint(painter, option, rooms.index(0))
    painter.end()
    return image


def test_pinned_and_muted_rooms_are_marked_with_drawn_icons(qtbot):
    plain, pinned, marked = painted_row(qtbot), painted_row(qtbot, pinned=True), painted_row(
        qtbot, pinned=True, muted=True)

    def slate(image, left: int, right: int) -> int:
        """Pixels of the marks' slate colours (bluish grey; the title is black) in a band of the top line."""
        return sum(1 for x in range(left, right) for y in range(5, 30)
                   if image.pixelColor(x, y).blue() - image.pixelColor(x, y).red() >= 8)

    # The title starts after the avatar (12 + 40 + 12 px): the pin is drawn there, before it.
    assert slate(pinned, 64, 78) > 5 and slate(plain, 64, 78) == 0
    # The struck-through bell follows the title.
    title_end = 64 + QFontMetrics(bold(QListView().font())).horizontalAdvance("Team")
    assert slate(marked, title_end, title_end + 60) > 5 and slate(pinned, title_end, title_end + 60) == 0
