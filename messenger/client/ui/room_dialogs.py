"""Dialogs for rooms: a new conversation (direct or group) from a user picker, inviting
people into a group, and a room's info (members, admin roles, rename, kick, leave).

Every change goes through the ChatSession; what the server broadcasts back
(room_updated, room_members_updated, admin_updated, ...) is what the lists then show.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import tr
from messenger.client.ui.session import ChatSession
from messenger.client.ui.dialog_parts import StatusLine, close_buttons, hint_line, ok_cancel_buttons
from messenger.client.ui.models import ITEM_ROLE, RowListModel, select_row, selected_row
from messenger.core import protocol



def display_name(user: dict) -> str:
    """"Nickname (@username)", or the username alone."""
    nickname = user.get("nickname")
    return f"{nickname} (@{user['username']})" if nickname else f"@{user['username']}"


class UserListModel(RowListModel[dict]):
    """People (user or member dicts from the server), one row each; with `checkable`, each
    row has a check box and the model keeps who is checked (whatever a filter hides)."""

    picked_changed = Signal()

    def __init__(self, parent=None, *, checkable: bool = False):
        super().__init__(parent)
        self.checkable = checkable
        self._picked: set[int] = set()

    def row_data(self, user: dict, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            name = display_name(user)
            return tr("rooms.admin_mark", name=name) if user.get("role") == "admin" else name
        if role == Qt.ItemDataRole.ToolTipRole:
            return user.get("status_message") or None
        if role == Qt.ItemDataRole.CheckStateRole and self.checkable:
            return Qt.CheckState.Checked if user["id"] in self._picked else Qt.CheckState.Unchecked
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        return flags | Qt.ItemFlag.ItemIsUserCheckable if self.checkable else flags

    def setData(self, index: QModelIndex, value, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not (index.isValid() and self.checkable and role == Qt.ItemDataRole.CheckStateRole):
            return False
        self.set_picked(self._rows[index.row()]["id"], Qt.CheckState(value) == Qt.CheckState.Checked)
        return True

    def set_picked(self, user_id: int, picked: bool) -> None:
        if picked:
            self._picked.add(user_id)
        else:
            self._picked.discard(user_id)
        for row, user in enumerate(self._rows):
            if user["id"] == user_id:
                self.dataChanged.emit(self.index(row), self.index(row), [Qt.ItemDataRole.CheckStateRole])
        self.picked_changed.emit()

    def picked_ids(self) -> list[int]:
        return sorted(self._picked)

    def ordered(self, users: list[dict]) -> list[dict]:
        ordered = sorted(users, key=lambda u: ((u.get("nickname") or u["username"]).casefold(), u["id"]))
        self._picked &= {u["id"] for u in ordered}  # before the views ask again
        return ordered

    users = RowListModel.rows


class UserPicker(QWidget):
    """A searchable list of the server's users; several may be picked (checked), and the
    search only narrows what is shown, never who is picked.

    From the keyboard: type to search; Enter picks the highlighted (else the first) match and
    clears the search for the next name; Down goes into the list, where Space picks or
    unpicks and Up from the top row (or typing) goes back to the search. Enter with nothing
    searched for (or in the list) asks to go ahead (`submitted`), once someone is picked."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = UserListModel(self, checkable=True)
        self.filtered = QSortFilterProxyModel(self)
        self.filtered.setSourceModel(self.model)
        self.filtered.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search = QLineEdit()
        self.search.setPlaceholderText(tr("rooms.search"))
        self.search.textChanged.connect(self._searched)
        self.search.installEventFilter(self)
        self.view = QListView()
        self.view.setModel(self.filtered)
        self.view.installEventFilter(self)
        # A click anywhere on a row checks or unchecks it.
        self.view.clicked.connect(self._toggle)
        self.setFocusProxy(self.search)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.view, 1)

    def show_users(self, users: list[dict], leave_out: set[int]) -> None:
        """List `users` except those in `leave_out` (oneself, people already in the room)."""
        self.model.reset([u for u in users if u["id"] not in leave_out])

    def _toggle(self, index: QModelIndex) -> None:
        user = index.data(ITEM_ROLE)
        self.model.set_picked(user["id"], user["id"] not in self.model.picked_ids())

    def _searched(self, text: str) -> None:
        self.filtered.setFilterFixedString(text)
        if self.filtered.rowCount():
            self.view.setCurrentIndex(self.filtered.index(0, 0))  # what Enter would pick

    def eventFilter(self, watched, event) -> bool:
        plain = Qt.KeyboardModifier.KeypadModifier | Qt.KeyboardModifier.ShiftModifier
        if event.type() != QEvent.Type.KeyPress or event.modifiers() & ~plain:
            return super().eventFilter(watched, event)
        key = event.key()
        if watched is self.search:
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._enter_in_search()
                return True
            if key == Qt.Key.Key_Down and self.filtered.rowCount():
                if not self.view.currentIndex().isValid():
                    self.view.setCurrentIndex(self.filtered.index(0, 0))
                self.view.setFocus(Qt.FocusReason.TabFocusReason)
                return True
        elif watched is self.view:
            current = self.view.currentIndex()
            if key == Qt.Key.Key_Space:
                if current.isValid():
                    self._toggle(current)
                return True  # never typed into the search, never a second toggle by the view
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                if not self.picked_ids() and current.isValid():
                    self._toggle(current)
                self._submit()
                return True
            if key == Qt.Key.Key_Up and (not current.isValid() or current.row() == 0):
                self.search.setFocus(Qt.FocusReason.TabFocusReason)
                return True
            if event.text().isprintable() and event.text().strip():
                self.search.setFocus(Qt.FocusReason.OtherFocusReason)
                self.search.insert(event.text())
                return True
        return super().eventFilter(watched, event)

    def _enter_in_search(self) -> None:
        """Pick the highlighted (else the first) match; with nothing searched for, go ahead
        (a name that matches nobody does neither: it is likely a typo)."""
        if not self.search.text().strip():
            self._submit()
            return
        if not self.filtered.rowCount():
            return
        current = self.view.currentIndex()
        index = current if current.isValid() else self.filtered.index(0, 0)
        self.model.set_picked(index.data(ITEM_ROLE)["id"], True)
        self.search.clear()

    def _submit(self) -> None:
        if self.picked_ids():
            self.submitted.emit()

    def shown_index(self, user_id: int) -> QModelIndex:
        """The view's index of `user_id`, invalid if the search hides it (or it is not listed)."""
        for row in range(self.filtered.rowCount()):
            index = self.filtered.index(row, 0)
            if index.data(ITEM_ROLE)["id"] == user_id:
                return index
        return QModelIndex()

    def picked_ids(self) -> list[int]:
        return self.model.picked_ids()


class _PickerDialog(QDialog):
    """A user picker with an OK button that is enabled once someone is picked."""

    def __init__(self, session: ChatSession, title: str, ok_text: str, leave_out: set[int], parent=None):
        super().__init__(parent)
        self.session = session
        self.setWindowTitle(title)
        self.resize(380, 480)
        self.picker = UserPicker()
        self.error = StatusLine()
        self.buttons = ok_cancel_buttons(self, self.submit)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        self.ok_button.setEnabled(False)
        self.picker.submitted.connect(self._submit_once)
        self.picker.model.picked_changed.connect(lambda: self.ok_button.setEnabled(bool(self.picker.picked_ids())))
        self.layout_ = QVBoxLayout(self)
        self.layout_.addWidget(self.picker, 1)
        self.layout_.addWidget(self.error)
        self.layout_.addWidget(self.buttons)
        self.loaded = False
        self.picker.setFocus()  # typing a name is the first thing to do
        session.users(owner=self).then(lambda users: self._users_arrived(users, leave_out))

    def _users_arrived(self, users: list[dict], leave_out: set[int]) -> None:
        self.picker.show_users(users, leave_out)
        self.loaded = True

    def _refused(self, exc: BaseException) -> None:
        self.ok_button.setEnabled(True)
        self.error.show_refusal(exc)

    def _submit_once(self) -> None:
        if self.ok_button.isEnabled():  # not while the last submit is on its way
            self.submit()

    def submit(self) -> None:
        raise NotImplementedError


class NewRoomDialog(_PickerDialog):
    """Start a conversation: one person picked is a direct room, several a group."""

    created = Signal(int)  # the room id (a new room, or the existing direct room)

    def __init__(self, session: ChatSession, parent=None):
        super().__init__(session, tr("rooms.new_title"), tr("rooms.create"), {session.user_id}, parent)
        self.name = QLineEdit()
        self.name.setPlaceholderText(tr("rooms.name"))
        hint = hint_line(tr("rooms.pick_hint"))
        self.layout_.insertWidget(0, self.name)
        self.layout_.insertWidget(1, hint)
        # Tab goes search, list, group name, buttons (the name is optional, so it comes after).
        QWidget.setTabOrder(self.picker.view, self.name)
        QWidget.setTabOrder(self.name, self.buttons)

    def submit(self) -> None:
        ids = self.picker.picked_ids()
        if not ids:
            return
        self.ok_button.setEnabled(False)
        name = self.name.text().strip() or None
        self.session.create_room(ids, name if len(ids) > 1 else None, owner=self).then(
            self._created).fail(self._refused)

    def _created(self, answer: dict) -> None:
        self.created.emit(answer["room_id"])
        self.accept()


class InviteDialog(_PickerDialog):
    """Invite people who are not in the group yet."""

    invited = Signal(list)  # the user ids added

    def __init__(self, session: ChatSession, room_id: int, member_ids: set[int], parent=None):
        super().__init__(session, tr("rooms.invite_title"), tr("rooms.invite_do"), member_ids | {session.user_id},
                         parent)
        self.room_id = room_id

    def submit(self) -> None:
        ids = self.picker.picked_ids()
        if not ids:
            return
        self.ok_button.setEnabled(False)
        self.session.invite(self.room_id, ids, owner=self).then(self._invited).fail(self._refused)

    def _invited(self, answer: dict) -> None:
        self.invited.emit(list(answer.get("added") or []))
        self.accept()


class RoomInfoDialog(QDialog):
    """A room's members and what can be done with them; kept current by the live events."""

    def __init__(self, session: ChatSession, room_id: int, parent=None):
        super().__init__(parent)
        self.session = session
        self.room_id = room_id
        self.room: dict = {}
        self.setWindowTitle(tr("rooms.info_title"))
        self.resize(420, 520)
        self.name = QLineEdit()
        self.rename_button = QPushButton(tr("rooms.rename"))
        self.rename_button.clicked.connect(self.rename)
        name_row = QHBoxLayout()
        name_row.addWidget(self.name, 1)
        name_row.addWidget(self.rename_button)
        self.members = UserListModel(self)
        self.member_view = QListView()
        self.member_view.setModel(self.members)
        self.member_view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.invite_button = QPushButton(tr("rooms.invite"))
        self.invite_button.clicked.connect(self.invite)
        self.kick_button = QPushButton(tr("rooms.kick"))
        self.kick_button.clicked.connect(self.kick_selected)
        self.admin_button = QPushButton(tr("rooms.make_admin"))
        self.admin_button.clicked.connect(self.toggle_admin_selected)
        member_row = QHBoxLayout()
        member_row.addWidget(self.invite_button)
        member_row.addWidget(self.kick_button)
        member_row.addWidget(self.admin_button)
        self.leave_button = QPushButton(tr("rooms.leave"))
        self.leave_button.clicked.connect(self.confirm_leave)
        self.error = StatusLine()
        layout = QVBoxLayout(self)
        layout.addLayout(name_row)
        layout.addWidget(self.member_view, 1)
        layout.addLayout(member_row)
        layout.addWidget(self.error)
        layout.addWidget(self.leave_button)
        layout.addWidget(close_buttons(self))
        self.loaded = False
        self._update_buttons()
        session.event_received.connect(self._on_event)
        self.reload()

    # -- what it shows ----------------------------------------------------------------------------

    def reload(self) -> None:
        self.session.room_info(self.room_id, owner=self).then(self._info_arrived)

    def _info_arrived(self, room: dict) -> None:
        self.room = room
        self.name.setText(room.get("name") or "")
        self.members.reset(room.get("members") or [])
        self.loaded = True
        self._update_buttons()

    @property
    def group(self) -> bool:
        return self.room.get("type") == "group"

    @property
    def i_am_admin(self) -> bool:
        me = next((m for m in self.members.users() if m["id"] == self.session.user_id), None)
        return me is not None and me.get("role") == "admin"

    def selected(self) -> dict | None:
        return selected_row(self.member_view)

    def select(self, user_id: int) -> bool:
        """Select the member `user_id`; True if listed."""
        return select_row(self.member_view, lambda user: user["id"] == user_id)

    def _update_buttons(self) -> None:
        member = self.selected()
        other = member is not None and member["id"] != self.session.user_id
        admin = self.group and self.i_am_admin
        self.name.setEnabled(self.group)
        self.rename_button.setEnabled(self.group)
        self.invite_button.setEnabled(self.group)
        self.leave_button.setEnabled(self.group)
        self.kick_button.setEnabled(admin and other)
        self.admin_button.setEnabled(admin and other)
        is_admin = member is not None and member.get("role") == "admin"
        self.admin_button.setText(tr("rooms.remove_admin") if is_admin else tr("rooms.make_admin"))

    def _on_event(self, name: str, data: dict) -> None:
        if data.get("room_id") != self.room_id:
            return
        if name == protocol.ROOM_UPDATED and data.get("action") == "removed":
            self.reject()  # we are no longer in the room
        elif name in (protocol.ROOM_MEMBERS_UPDATED, protocol.ADMIN_UPDATED, protocol.ROOM_NAME_UPDATED):
            self.reload()

    # -- changes ----------------------------------------------------------------------------------

    def rename(self) -> None:
        name = self.name.text().strip()
        if name:
            self.error.clear()
            self.session.rename_room(self.room_id, name, owner=self).fail(self.error.show_refusal)

    def kick_selected(self) -> None:
        member = self.selected()
        if member is not None:
            self.error.clear()
            self.session.kick(self.room_id, member["id"], owner=self).fail(self.error.show_refusal)

    def toggle_admin_selected(self) -> None:
        member = self.selected()
        if member is not None:
            self.error.clear()
            make_admin = member.get("role") != "admin"
            self.session.set_room_admin(self.room_id, member["id"], make_admin, owner=self).fail(self.error.show_refusal)

    def invite(self) -> InviteDialog:
        dialog = InviteDialog(self.session, self.room_id, {m["id"] for m in self.members.users()}, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.invite_dialog = dialog
        return dialog

    def confirm_leave(self) -> None:
        answer = QMessageBox.question(self, tr("rooms.leave"), tr("rooms.leave_confirm"))
        if answer == QMessageBox.StandardButton.Yes:
            self.leave()

    def leave(self) -> None:
        self.session.leave_room(self.room_id, owner=self).then(lambda _: self.accept()).fail(self.error.show_refusal)
