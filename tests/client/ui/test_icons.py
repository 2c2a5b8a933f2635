"""The buttons' icons do not depend on fonts: each is drawn or the style's own, never an emoji
character (a box on a machine without an emoji font)."""

import unicodedata

from desk_kit import sign_in
from PySide6.QtGui import QColor

from messenger.client.ui.icons import attach_icon, emoji_icon, new_conversation_icon


def opaque_pixels(icon, size: int = 24) -> int:
    image = icon.pixmap(size, size).toImage()
    return sum(1 for x in range(image.width()) for y in range(image.height()) if image.pixelColor(x, y).alpha() > 0)


def test_every_drawn_icon_has_strokes_at_every_size(qapp):
    for make in (attach_icon, emoji_icon, new_conversation_icon):
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
