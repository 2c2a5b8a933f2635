"""The main window: rooms on the left, the open room on the right, the connection below.

Everything it shows comes from its two models, fed by the session's calls (history,
room list) and signals (live events, outbox changes). It never talks to a service itself.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import tr
from messenger.client.services.outbox import OutgoingMessage
from messenger.client.services.settings import ClientSettings
from messenger.client.ui.account import AccountDialog
from messenger.client.ui.devices import DeviceBanners
from messenger.client.ui.dialog_parts import ERROR_STYLE
from messenger.client.ui.admin import AdminDialog, admin_allowed
from messenger.client.ui.composer import TypingLine, TypingNotifier
from messenger.client.ui.delegates import CHAT_BACKGROUND
from messenger.client.ui.emoji import REACTIONS
from messenger.client.ui.icons import new_conversation_icon
from messenger.client.ui.message_text import MessageText
from messenger.client.ui.chat_model import ChatItem, ChatModel
from messenger.client.ui.chat_view import ChatView
from messenger.client.ui.models import ITEM_ROLE
from messenger.client.ui.room_header import RoomHeader
from messenger.client.ui.room_pane import RoomPane
from messenger.client.ui.room_list import RoomItem, RoomListModel
from messenger.client.ui.chat_input import ChatInput
from messenger.client.ui.live_events import LiveEvents
from messenger.client.ui.files import (
    ChatFileDrops,
    ImageViewer,
    RoomFilesDialog,
    Uploads,
    save_as,
)
from messenger.client.ui.notices import NoticesDialog, post_as_notice
from messenger.client.ui.polls import PollsDialog
from messenger.client.ui.room_dialogs import NewRoomDialog, RoomInfoDialog
from messenger.client.ui.search import SearchDialog
from messenger.client.ui.session import ChatSession
from messenger.client.ui.tray import app_icon
from messenger.core import protocol
from messenger.core.errors import localized

log = logging.getLogger(__name__)

CONNECTION_STYLES = {"connected": "#2E7D32", "connecting": "#B26A00", "disconnected": "#B26A00"}


class MainWindow(QMainWindow):
    settings_requested = Signal()
    sign_out_requested = Signal()
    quit_requested = Signal()
    notify = Signal(int, str, str)  # (room_id, title, text): a new message worth a notification
    status_changed = Signal(str)  # the connection line, for the tray's menu

    def __init__(self, session: ChatSession, settings: ClientSettings, text: MessageText,
                 keeps_running: Callable[[], bool], parent: QWidget | None = None):
        """`keeps_running()`: whether closing the window leaves the app in the tray."""
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.keeps_running = keeps_running
        text.keys = session.keys  # bubbles and previews decrypt on this device
        self.rooms = RoomListModel(session.user_id, text, self)
        self.chat = ChatModel(session.user, text, self)
        self.typing_line = TypingLine(self)
        self.typing = TypingNotifier(self._send_typing, self)
        self.events = LiveEvents(session.user_id, self.rooms, self.chat, self.typing_line, in_view=self.room_in_view,
                                 following=lambda: self.chat_view.following,
                                 notifications=lambda: settings.notifications,
                                 parent=self)
        self.connection = "connecting"
        self._was_connected = False
        self._marked: dict[int, int] = {}  # room -> the read mark this window last sent
        self._closing = False

        self.setWindowIcon(app_icon())
        self.resize(980, 680)
        self._build()
        self.retranslate()

        session.event_received.connect(self.events.on_event)
        session.connection_changed.connect(self.on_connection)
        session.outgoing_changed.connect(self.events.on_outgoing)
        session.upload_progress.connect(self.chat.set_upload_progress)  # "Uploading 42%" on a file's bubble
        session.problem.connect(self.show_problem)
        session.room_keys_changed.connect(self.events.room_keys_changed)
        self.events.notify.connect(self.notify)
        self.events.message_added.connect(self._message_added)
        self.events.own_message_added.connect(self.chat_view.scroll_to_bottom)
        self.events.rooms_changed.connect(self._rooms_changed)
        self.events.room_refresh_needed.connect(self._refresh_room)
        self.events.room_closed.connect(self._close_room)
        self.events.chat_opened.connect(lambda _room_id: self.device_banners.room_changed())
        self.rooms.unread_total_changed.connect(self._update_title)
        self.typing_line.changed.connect(self._typing_changed)

    # -- building ---------------------------------------------------------------------------------

    def _build(self) -> None:
        # This user's desks; contacts' changed identities, in the rooms they are in; the open
        # room's members no member's desk added.
        self.device_banners = DeviceBanners(self.session, self, self.chat.member_ids, lambda: self.chat.room_id)
        menu = self.menuBar()
        self.main_menu = QMenu(self)
        menu.addMenu(self.main_menu)
        self.settings_action = QAction(self)
        self.settings_action.triggered.connect(self.settings_requested.emit)
        self.sign_out_action = QAction(self)
        self.sign_out_action.triggered.connect(self.sign_out_requested.emit)
        self.quit_action = QAction(self)
        self.quit_action.triggered.connect(self.quit_requested.emit)
        self.new_room_action = QAction(new_conversation_icon(), "", self, shortcut=QKeySequence.StandardKey.New)
        self.new_room_action.triggered.connect(self.new_room)
        self.main_menu.addAction(self.new_room_action)
        self.addAction(self.new_room_action)  # Ctrl+N works with the menu closed
        self.search_action = QAction(self, shortcut=QKeySequence.StandardKey.Find)
        self.search_action.triggered.connect(self.search)
        self.account_action = QAction(self)
        self.account_action.triggered.connect(self.account)
        self.admin_action = QAction(self, visible=admin_allowed(self.session))
        self.admin_action.triggered.connect(self.administration)
        for action in (self.search_action, self.account_action, self.admin_action):
            self.main_menu.addAction(action)
        self.addAction(self.search_action)  # Ctrl+F works with the menu closed
        self.main_menu.addAction(self.settings_action)
        self.main_menu.addAction(self.sign_out_action)
        self.main_menu.addSeparator()
        self.main_menu.addAction(self.quit_action)

        # Left: who I am, then the rooms.
        self.room_pane = RoomPane(self.rooms, self.new_room_action)
        self.room_pane.room_picked.connect(self.open_room)
        self.me_label, self.new_room_button = self.room_pane.me_label, self.room_pane.new_room_button
        self.room_view, self.no_rooms = self.room_pane.room_view, self.room_pane.no_rooms
        self.room_view.customContextMenuRequested.connect(self._room_menu)

        # Right: the open room.
        self.header = RoomHeader()
        self.header.files_requested.connect(lambda: self.room_files(self.chat.room_id))
        self.header.notices_requested.connect(lambda: self.notices(self.chat.room_id))
        self.header.polls_requested.connect(lambda: self.polls(self.chat.room_id))
        self.header.info_requested.connect(lambda: self.room_info(self.chat.room_id))
        self.room_subtitle = self.header.subtitle  # what the tests read

        self.chat_view = ChatView(self.chat, self.session, lambda: self.events.opening is not None)
        self.chat_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.chat_view.customContextMenuRequested.connect(self._message_menu)
        self.chat_view.loading_older.connect(lambda loading: self.older_label.setVisible(loading))
        self.chat_delegate, self.thumbnails = self.chat_view.delegate, self.chat_view.thumbnails
        self.older_label = QLabel()
        self.older_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.older_label.setStyleSheet("color: #7A8291; padding: 4px;")
        self.older_label.hide()

        self.typing_label = QLabel()
        self.typing_label.setStyleSheet("color: #7A8291; padding: 2px 16px;")
        self.typing_label.setMinimumHeight(self.typing_label.fontMetrics().height() + 4)
        self.uploads = Uploads(self.session, self)
        self.uploads.status.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.input = ChatInput(self.uploads, lambda: self.chat.room_id, self)
        self.input.submitted.connect(self.send)
        # Its parts, by the names the rest of the window (and its tests) use.
        self.composer, self.send_button = self.input.composer, self.input.send_button
        self.attach_button, self.emoji_button, self.emoji_picker = (
            self.input.attach_button, self.input.emoji_button, self.input.emoji_picker)
        self.reply_bar, self.cancel_reply = self.input.reply_bar, self.input.cancel_reply
        self.edit_bar, self.cancel_edit = self.input.edit_bar, self.input.cancel_edit
        self.composer.textChanged.connect(self._composer_edited)
        # Files dropped on the chat, an image pasted into the composer: uploads to the open room.
        self.file_drops = ChatFileDrops(self.uploads, lambda: self.chat.room_id, self)
        self.chat_view.setAcceptDrops(True)
        self.chat_view.viewport().setAcceptDrops(True)
        self.chat_view.viewport().installEventFilter(self.file_drops)
        self.composer.installEventFilter(self.file_drops)

        chat_page = QWidget()
        chat_layout = QVBoxLayout(chat_page)
        chat_layout.setContentsMargins(0, 0, 0, 0)
        chat_layout.setSpacing(0)
        chat_layout.addWidget(self.header)
        chat_layout.addWidget(self.device_banners.identity)
        chat_layout.addWidget(self.device_banners.unvouched)
        chat_layout.addWidget(self.older_label)
        chat_layout.addWidget(self.chat_view, 1)
        chat_layout.addWidget(self.typing_label)
        chat_layout.addWidget(self.input)
        self.placeholder = QLabel()
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet(f"background: {CHAT_BACKGROUND.name()}; color: #7A8291;")
        self.right = QStackedWidget()
        self.right.addWidget(self.placeholder)
        self.right.addWidget(chat_page)

        splitter = QSplitter()
        splitter.addWidget(self.room_pane)
        splitter.addWidget(self.right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 680])
        splitter.setChildrenCollapsible(False)
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.device_banners.device)
        central_layout.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.problem_label = QLabel()
        self.problem_label.setStyleSheet(ERROR_STYLE)
        self.connection_label = QLabel()
        self.statusBar().addWidget(self.problem_label, 1)
        self.statusBar().addPermanentWidget(self.connection_label)

    def retranslate(self) -> None:
        self.main_menu.setTitle(tr("main.menu"))
        self.settings_action.setText(tr("main.settings"))
        self.new_room_action.setText(tr("rooms.new"))
        shortcut = self.new_room_action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        self.new_room_action.setToolTip(f"{tr('rooms.new_title')} ({shortcut})")
        self.search_action.setText(tr("search.open"))
        self.account_action.setText(tr("account.open"))
        self.admin_action.setText(tr("admin.open"))
        self.header.retranslate()
        self.sign_out_action.setText(tr("main.sign_out"))
        self.quit_action.setText(tr("main.quit"))
        user = self.session.user
        self.me_label.setText(tr("main.signed_in_as", name=user.get("nickname") or user["username"],
                                 username=user["username"]))
        self.no_rooms.setText(tr("main.no_rooms"))
        self.placeholder.setText(tr("main.pick_room"))
        self.older_label.setText(tr("main.loading_older"))
        self.input.retranslate()
        self._show_connection()
        self._update_title()
        self._update_header()
        self._typing_changed(self.chat.room_id or 0)
        self.room_view.viewport().update()
        self.chat_view.viewport().update()

    # -- what is on screen ------------------------------------------------------------------------

    @property
    def current_room_id(self) -> int | None:
        return self.chat.room_id

    def room_shown(self, room_id: int) -> bool:
        """Whether `room_id` is open with its first page loaded."""
        return self.chat.room_id == room_id and self.events.opening is None

    def room_in_view(self, room_id: int) -> bool:
        """Whether the user is looking at `room_id` right now (it is open in the active window)."""
        return (self.chat.room_id == room_id and self.events.opening is None and self.isVisible()
                and not self.isMinimized() and self.isActiveWindow())

    def load_rooms(self) -> None:
        self.session.rooms(self.chat.text.read_page, owner=self).then(self._rooms_arrived)

    def _rooms_arrived(self, summaries: list[dict]) -> None:
        self.rooms.reset(summaries)
        self.room_pane.select_quietly(self.chat.room_id)
        self.no_rooms.setVisible(self.rooms.rowCount() == 0)
        self._update_header()
        if self.chat.room_id is not None and self.rooms.room(self.chat.room_id) is None:
            self._close_room()  # removed from the room while away

    def open_room(self, room_id: int) -> None:
        """Show a room: its newest messages, our undelivered ones, scrolled to the end."""
        if room_id == self.chat.room_id or room_id == self.events.opening:
            self.room_pane.select_quietly(room_id)
            return
        self.chat_view.room_changing(room_id)
        self.typing.stop()
        self.input.clear_reply()
        self.input.stop_editing()
        self.composer.clear()
        self.room_pane.select_quietly(room_id)
        self.events.open(room_id)
        self.session.room_page(room_id, self.chat.text.read_page, owner=self).then(lambda answer: self._page_arrived(room_id, *answer)).fail(
            lambda exc: self._page_failed(room_id, exc))

    def _page_arrived(self, room_id: int, page: dict, outgoing: list[OutgoingMessage]) -> None:
        if room_id != self.events.opening:
            return  # another room was picked meanwhile
        self.chat_view.stop_loading_older()
        self.events.page_arrived(room_id, page, outgoing)
        self.right.setCurrentIndex(1)
        self._update_header()
        self._typing_changed(room_id)
        self.chat_view.first_page_shown()
        self.composer.setFocus()
        self._mark_read()
        self.chat_view.seek_wanted()

    def show_message(self, room_id: int, message_id: int) -> None:
        """Open a room at one of its messages (a search hit): older pages load until it is there."""
        self.chat_view.want(room_id, message_id)
        if room_id == self.chat.room_id and self.events.opening is None:
            self.chat_view.seek_wanted()
        else:
            self.open_room(room_id)

    def _page_failed(self, room_id: int, exc: BaseException) -> None:
        self.events.page_failed(room_id)
        self.session.failed(exc)

    def _close_room(self) -> None:
        self.typing.stop()
        self.chat.close()
        self.right.setCurrentIndex(0)
        self._update_header()

    def _update_header(self) -> None:
        self.header.show_room(self.rooms.room(self.chat.room_id) if self.chat.room_id is not None else None)

    def _update_title(self, *_) -> None:
        total = self.rooms.unread_total
        self.setWindowTitle(f"({total}) {tr('app.name')}" if total else tr("app.name"))

    # -- reading ------------------------------------------------------------------------------------

    def _mark_read(self) -> None:
        """Tell the server how far the user has read the room in view."""
        room_id = self.chat.room_id
        if room_id is None or not self.room_in_view(room_id):
            return
        self.rooms.set_read(room_id)
        newest = self.chat.newest_id()
        if newest is not None and newest > self._marked.get(room_id, 0):
            self._marked[room_id] = newest
            self.session.mark_read(room_id, newest).fail(lambda exc: self._mark_failed(room_id, newest, exc))

    def _mark_failed(self, room_id: int, message_id: int, exc: BaseException) -> None:
        if self._marked.get(room_id) == message_id:
            del self._marked[room_id]  # sent again when the connection is back
        self.session.failed(exc, quiet=True)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.ActivationChange, QEvent.Type.WindowStateChange) and self.isActiveWindow():
            self._mark_read()

    # -- sending --------------------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Send what the composer holds to the open room, through the outbox (or save the
        message being edited)."""
        room_id = self.chat.room_id
        if room_id is None or not text:
            return
        if len(text) > protocol.MAX_PLAINTEXT_CHARS:
            self.show_problem(localized("MESSAGE_TOO_LONG", self.session.api.language))
            return
        editing = self.input.editing
        if editing is not None:
            if text != editing.text:
                self.session.edit_message(room_id, editing.message_id, text)
            self.input.stop_editing()
            return
        reply_to = self.input.replying_to.message_id if self.input.replying_to else None
        self.typing.stop()
        self.composer.clear()
        self.input.clear_reply()
        self.session.send_text(room_id, text, reply_to)

    def _composer_edited(self) -> None:
        if self.chat.room_id is not None and self.input.editing is None:
            self.typing.edited(self.chat.room_id, self.composer.toPlainText())

    def _send_typing(self, room_id: int, is_typing: bool) -> None:
        self.session.set_typing(room_id, is_typing)

    def start_editing(self, item: ChatItem) -> None:
        """The composer rewrites one of my messages: Enter saves, Esc or ✕ cancels."""
        self.typing.stop()
        self.input.start_editing(item)

    # -- live events (routed by LiveEvents) ----------------------------------------------------------

    def _rooms_changed(self) -> None:
        self.no_rooms.setVisible(self.rooms.rowCount() == 0)
        self._update_header()

    def _message_added(self, follow: bool) -> None:
        if follow:
            self.chat_view.scroll_to_bottom()
        self._mark_read()

    def _refresh_room(self, room_id: int) -> None:
        self.session.room_info(room_id, owner=self).then(self._room_refreshed)

    def _room_refreshed(self, summary: dict) -> None:
        self.rooms.upsert(summary)
        self.no_rooms.setVisible(False)
        self._update_header()

    def _typing_changed(self, room_id: int) -> None:
        if room_id == self.chat.room_id:
            self.typing_label.setText(self.typing_line.text(room_id))

    # -- connection ---------------------------------------------------------------------------------------

    def on_connection(self, state: str, reason: object) -> None:
        if state == "connected":
            # The live connection starts from the server's event cursor of that moment: a list
            # loaded now misses nothing in between (and after an outage, belt and braces).
            self.load_rooms()
            self._was_connected = True
            self._mark_read()
        self.connection = state
        self._show_connection()

    def _show_connection(self) -> None:
        if self.connection == "connected":
            text = tr("connection.connected")
        elif self._was_connected or self.connection == "disconnected":
            text = tr("connection.reconnecting")
        else:
            text = tr("connection.connecting")
        colour = CONNECTION_STYLES.get(self.connection, "#7A8291")
        self.connection_label.setText(f'<span style="color:{colour}">●</span> {text}')
        self.connection_label.setToolTip(self.session.api.server_url)
        self.connection_text = text
        self.status_changed.emit(text)
        if self.connection == "connected":
            self.problem_label.clear()

    def show_problem(self, text: str) -> None:
        self.problem_label.setText(text)

    # -- menus --------------------------------------------------------------------------------------------

    def _message_menu(self, position) -> None:
        index = self.chat_view.indexAt(position)
        item: ChatItem | None = index.data(ITEM_ROLE) if index.isValid() else None
        if item is not None:
            self.message_menu(item).exec(self.chat_view.viewport().mapToGlobal(position))

    def message_menu(self, item: ChatItem) -> QMenu:
        """What can be done with a message: retry or discard a failed one; reply, react,
        copy; edit or delete one's own."""
        menu = QMenu(self)
        if item.state == "failed" and item.outbox_id is not None:
            menu.addAction(tr("message.retry"), lambda: self.session.retry(item.outbox_id))
            menu.addAction(tr("message.discard"), lambda: self.session.discard(item.outbox_id))
            menu.addSeparator()
        if item.message_id is not None and not item.deleted:
            menu.addAction(tr("message.reply"), lambda: self.input.reply_to(item))
            react = menu.addMenu(tr("message.react"))
            for emoji in REACTIONS:
                react.addAction(emoji, lambda e=emoji: self.session.toggle_reaction(item.message_id, e))
        if not item.deleted:
            menu.addAction(tr("message.copy"), lambda: QGuiApplication.clipboard().setText(item.text))
        if item.message_id is not None and not item.deleted and self.chat.room_id is not None:
            room_id = self.chat.room_id
            menu.addAction(tr("notices.post_message"), lambda: post_as_notice(self.session, room_id, item.message_id))
        if item.file is not None:
            menu.addAction(tr("files.save"), lambda: save_as(self, self.session, item.file, self._file_saved))
            if item.message_type == "image":
                menu.addAction(tr("files.view"), lambda: self._show_dialog(ImageViewer(self.session, item.file, self)))
        if item.own and item.message_id is not None and not item.deleted:
            menu.addSeparator()
            if item.message_type == "text" and not item.unreadable:
                menu.addAction(tr("chat.edit"), lambda: self.start_editing(item))
            menu.addAction(tr("message.delete"), lambda: self._delete(item))
        return menu

    def _delete(self, item: ChatItem) -> None:
        answer = QMessageBox.question(self, tr("message.delete"), tr("message.delete_confirm"))
        if answer == QMessageBox.StandardButton.Yes:
            self.session.delete_message(item.message_id)

    def _room_menu(self, position) -> None:
        index = self.room_view.indexAt(position)
        room: RoomItem | None = index.data(ITEM_ROLE) if index.isValid() else None
        if room is not None:
            self.room_menu(room).exec(self.room_view.viewport().mapToGlobal(position))

    def room_menu(self, room: RoomItem) -> QMenu:
        """Pin or unpin, mute or unmute a room (for this user only)."""
        menu = QMenu(self)
        menu.addAction(tr("room.unpin") if room.pinned else tr("room.pin"),
                       lambda: self._set_flag(room.room_id, "pinned", not room.pinned))
        menu.addAction(tr("room.unmute") if room.muted else tr("room.mute"),
                       lambda: self._set_flag(room.room_id, "muted", not room.muted))
        menu.addSeparator()
        menu.addAction(tr("notices.open"), lambda: self.notices(room.room_id))
        menu.addAction(tr("polls.open"), lambda: self.polls(room.room_id))
        menu.addAction(tr("rooms.info"), lambda: self.room_info(room.room_id))
        return menu

    # -- room dialogs ---------------------------------------------------------------------------------------

    def _show_dialog(self, dialog):
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def new_room(self) -> NewRoomDialog:
        """Pick people to talk to; the new (or existing direct) room opens when it is made."""
        dialog = NewRoomDialog(self.session, self)
        dialog.created.connect(self._room_created)
        return self._show_dialog(dialog)

    def search(self) -> SearchDialog:
        dialog = SearchDialog(self.session, self, lambda room_id: room.title if (room := self.rooms.room(room_id)) else "")
        dialog.open_room.connect(self.show_message)
        return self._show_dialog(dialog)

    def account(self, first_password: str | None = None) -> AccountDialog:
        """The account dialog; with `first_password` (the first-run admin's, just used to sign
        in), open at the password, asking for a new one."""
        return self._show_dialog(AccountDialog(self.session, self, first_password=first_password,
                                               banners=self.device_banners))

    def administration(self) -> AdminDialog:
        return self._show_dialog(AdminDialog(self.session, self))

    def _room_created(self, room_id: int) -> None:
        if self.rooms.room(room_id) is None:
            self._refresh_room(room_id)
        self.open_room(room_id)

    def room_info(self, room_id: int | None) -> RoomInfoDialog | None:
        if room_id is None:
            return None
        return self._show_dialog(RoomInfoDialog(self.session, room_id, self))

    def notices(self, room_id: int | None) -> NoticesDialog | None:
        if room_id is None:
            return None
        return self._show_dialog(NoticesDialog(self.session, room_id, self.chat.text, self))

    def room_files(self, room_id: int | None) -> RoomFilesDialog | None:
        if room_id is None:
            return None
        return self._show_dialog(RoomFilesDialog(self.session, room_id, self))

    def _file_saved(self, path: str) -> None:
        self.statusBar().showMessage(tr("files.saved", path=path), 5000)

    def polls(self, room_id: int | None) -> PollsDialog | None:
        if room_id is None:
            return None
        return self._show_dialog(PollsDialog(self.session, room_id, self))

    def _set_flag(self, room_id: int, flag: str, value: bool) -> None:
        self.session.set_room_flag(room_id, flag, value).then(self.rooms.upsert)

    # -- closing ------------------------------------------------------------------------------------------

    def close_for_good(self) -> None:
        """Close without going to the tray (sign-out, quit)."""
        self._closing = True
        self.typing.stop()
        self.emoji_picker.hide()
        self.chat.text.keys = None  # the keys go with the session
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing:
            event.accept()
            return
        event.ignore()
        self.typing.stop()
        if self.keeps_running():
            self.hide()
        else:
            self.quit_requested.emit()
