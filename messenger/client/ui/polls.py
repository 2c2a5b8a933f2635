"""Polls: making one (question, 2-10 options, multiple choice, anonymous, an optional end),
and a room's polls with their results, where one votes, changes the vote, or closes it.

The list follows the server's poll_created / poll_updated events. A broadcast poll has
no `my_votes` (it has no single viewer): our own choice is kept from our last answer.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from PySide6.QtCore import QDateTime, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QCheckBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import tr
from messenger.client.ui.session import ChatSession
from messenger.client.ui.dialog_parts import StatusLine, close_buttons, ok_cancel_buttons
from messenger.client.ui.models import ITEM_ROLE, RowListModel, select_row
from messenger.core import protocol

MIN_OPTIONS, MAX_OPTIONS = 2, 10  # the server's limits (contract section 6)


class PollListModel(RowListModel[dict]):
    """A room's polls, newest first."""

    def row_data(self, poll: dict, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            text = tr("polls.summary", question=poll["question"], voters=poll.get("total_voters", 0))
            return f"{text} · {tr('polls.closed')}" if poll.get("closed") else text
        return None

    def ordered(self, polls: list[dict]) -> list[dict]:
        return sorted(polls, key=lambda p: p["id"], reverse=True)

    def apply(self, poll: dict) -> None:
        """A poll as the server now shows it (an event or an answer); keeps our own
        `my_votes` when the new one has none."""
        for row, known in enumerate(self._rows):
            if known["id"] == poll["id"]:
                if poll.get("my_votes") is None:
                    poll = {**poll, "my_votes": known.get("my_votes")}
                self._rows[row] = poll
                self.changed(row)
                return
        self.reset(self._rows + [poll])

    def poll(self, poll_id: int) -> dict | None:
        return next((p for p in self._rows if p["id"] == poll_id), None)

    polls = RowListModel.rows


class NewPollDialog(QDialog):
    """Make a poll in a room."""

    created = Signal(dict)  # the poll, as its creator sees it

    def __init__(self, session: ChatSession, room_id: int, parent=None):
        super().__init__(parent)
        self.session = session
        self.room_id = room_id
        self.setWindowTitle(tr("polls.new_title"))
        self.question = QLineEdit()
        self.question.setPlaceholderText(tr("polls.question"))
        self.option_edits: list[QLineEdit] = []
        self.options_box = QVBoxLayout()
        self.add_option_button = QPushButton(tr("polls.add_option"))
        self.add_option_button.clicked.connect(self.add_option)
        self.multiple = QCheckBox(tr("polls.multiple"))
        self.anonymous = QCheckBox(tr("polls.anonymous"))
        self.has_end = QCheckBox(tr("polls.ends"))
        self.ends_at = QDateTimeEdit(QDateTime.currentDateTime().addDays(1))
        self.ends_at.setCalendarPopup(True)
        self.ends_at.setEnabled(False)
        self.has_end.toggled.connect(self.ends_at.setEnabled)
        end_row = QHBoxLayout()
        end_row.addWidget(self.has_end)
        end_row.addWidget(self.ends_at, 1)
        self.error = StatusLine()
        self.buttons = ok_cancel_buttons(self, self.submit)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(tr("polls.create"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.question)
        layout.addLayout(self.options_box)
        layout.addWidget(self.add_option_button)
        layout.addWidget(self.multiple)
        layout.addWidget(self.anonymous)
        layout.addLayout(end_row)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        for _ in range(MIN_OPTIONS):
            self.add_option()

    def add_option(self) -> QLineEdit | None:
        if len(self.option_edits) >= MAX_OPTIONS:
            return None
        edit = QLineEdit()
        edit.setPlaceholderText(tr("polls.option", number=len(self.option_edits) + 1))
        self.option_edits.append(edit)
        self.options_box.addWidget(edit)
        self.add_option_button.setEnabled(len(self.option_edits) < MAX_OPTIONS)
        return edit

    def options(self) -> list[str]:
        return [text for text in (edit.text().strip() for edit in self.option_edits) if text]

    def submit(self) -> None:
        question, options = self.question.text().strip(), self.options()
        if not question or not MIN_OPTIONS <= len(options) <= MAX_OPTIONS or len(set(options)) != len(options):
            self.error.setText(tr("polls.need_two"))
            return
        ends_at = None
        if self.has_end.isChecked():
            ends_at = self.ends_at.dateTime().toPython().astimezone(UTC).isoformat()
        self.error.clear()
        self.ok_button.setEnabled(False)
        self.session.create_poll(self.room_id, question, options, multiple_choice=self.multiple.isChecked(),
                                 anonymous=self.anonymous.isChecked(), ends_at=ends_at, owner=self).then(
            self._created).fail(self._refused)

    def _created(self, poll: dict) -> None:
        self.created.emit(poll)
        self.accept()

    def _refused(self, exc: BaseException) -> None:
        self.ok_button.setEnabled(True)
        self.error.show_refusal(exc)


class PollCard(QFrame):
    """One poll: its options with their counts, one's choice, and Vote / Close."""

    vote_requested = Signal(int, list)  # (poll id, option ids)
    close_requested = Signal(int)

    def __init__(self, me_id: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.me_id = me_id
        self.poll: dict | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.question = QLabel()
        self.question.setWordWrap(True)
        font = self.question.font()
        font.setBold(True)
        self.question.setFont(font)
        self.choices: list[QAbstractButton] = []
        self.group = QButtonGroup(self)
        self.choice_box = QVBoxLayout()
        self.status = QLabel()
        self.status.setStyleSheet("color: #7A8291;")
        self.vote_button = QPushButton()
        self.vote_button.clicked.connect(self._vote)
        self.close_button = QPushButton(tr("polls.close"))
        self.close_button.clicked.connect(lambda: self.poll and self.close_requested.emit(self.poll["id"]))
        buttons = QHBoxLayout()
        buttons.addWidget(self.vote_button)
        buttons.addWidget(self.close_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.question)
        layout.addLayout(self.choice_box)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.show_poll(None)

    def show_poll(self, poll: dict | None, can_close: bool = False) -> None:
        """Show `poll` (None: nothing); `can_close`: whether this user may close it."""
        self.poll = poll
        for button in self.choices:
            self.group.removeButton(button)
            button.deleteLater()
        self.choices = []
        self.setVisible(poll is not None)
        if poll is None:
            return
        self.question.setText(poll["question"])
        self.group.setExclusive(not poll.get("multiple_choice"))
        mine = set(poll.get("my_votes") or [])
        for option in poll["options"][:MAX_OPTIONS]:  # a server that sends more is not believed
            kind = QCheckBox if poll.get("multiple_choice") else QRadioButton
            button = kind(tr("polls.result", text=option["text"], count=option.get("vote_count", 0)))
            button.setProperty("option_id", option["id"])
            button.setChecked(option["id"] in mine)
            button.setEnabled(not poll.get("closed"))
            self.group.addButton(button)
            self.choice_box.addWidget(button)
            self.choices.append(button)
        closed = bool(poll.get("closed"))
        self.status.setText(tr("polls.closed") if closed else "")
        self.vote_button.setText(tr("polls.change_vote") if mine else tr("polls.vote"))
        self.vote_button.setEnabled(not closed)
        self.close_button.setVisible(can_close and not closed)

    def counts(self) -> dict[str, int]:
        """Option text -> votes, as shown."""
        return {o["text"]: o.get("vote_count", 0) for o in (self.poll or {}).get("options", [])}

    def choose(self, option_ids: list[int]) -> None:
        for button in self.choices:
            button.setChecked(button.property("option_id") in option_ids)

    def _vote(self) -> None:
        chosen = [b.property("option_id") for b in self.choices if b.isChecked()]
        if self.poll is not None and chosen:
            self.vote_requested.emit(self.poll["id"], chosen)


class PollsDialog(QDialog):
    """A room's polls: pick one to see its results and vote; make a new one."""

    def __init__(self, session: ChatSession, room_id: int, parent=None):
        super().__init__(parent)
        self.session = session
        self.room_id = room_id
        self.is_admin = False
        self.setWindowTitle(tr("polls.title"))
        self.resize(460, 560)
        self.model = PollListModel(self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.selectionModel().currentChanged.connect(lambda *_: self._show_current())
        self.model.dataChanged.connect(lambda *_: self._show_current())
        self.card = PollCard(session.user_id)
        self.card.vote_requested.connect(self.vote)
        self.card.close_requested.connect(self.close_poll)
        self.new_button = QPushButton(tr("polls.new"))
        self.new_button.clicked.connect(self.new_poll)
        self.error = StatusLine()
        bottom = QHBoxLayout()
        bottom.addWidget(self.new_button)
        bottom.addStretch(1)
        bottom.addWidget(close_buttons(self))
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.card)
        layout.addWidget(self.error)
        layout.addLayout(bottom)
        self.loaded = False
        session.event_received.connect(self._on_event)
        session.polls(room_id, owner=self).then(self._arrived)
        # Whether we may close others' polls (room admins may).
        session.room_info(room_id, owner=self).then(self._room_arrived)

    def _arrived(self, polls: list[dict]) -> None:
        self.model.reset(polls)
        self.loaded = True
        if self.model.rowCount() and not self.view.currentIndex().isValid():
            self.view.setCurrentIndex(self.model.index(0))  # the newest poll's results at once

    def _room_arrived(self, room: dict) -> None:
        self.is_admin = room.get("role") == "admin"
        self._show_current()

    def _on_event(self, name: str, data: dict) -> None:
        if name in (protocol.POLL_CREATED, protocol.POLL_UPDATED) and data.get("room_id") == self.room_id \
                and isinstance(data.get("poll"), dict):
            self.model.apply(data["poll"])
        elif name == protocol.ROOM_UPDATED and data.get("room_id") == self.room_id and data.get("action") == "removed":
            self.reject()

    def select(self, poll_id: int) -> bool:
        return select_row(self.view, lambda poll: poll["id"] == poll_id)

    def _show_current(self) -> None:
        poll = self.view.currentIndex().data(ITEM_ROLE)
        if poll is not None and self.card.poll is not None and self.card.poll["id"] == poll["id"] \
                and poll == self.card.poll:
            return  # unchanged: keep what the user is ticking
        can_close = poll is not None and (poll.get("created_by") == self.session.user_id or self.is_admin)
        self.card.show_poll(poll, can_close)

    def _answered(self, poll: dict) -> None:
        self.error.clear()
        self.model.apply(poll)

    def vote(self, poll_id: int, option_ids: list[int]) -> None:
        self.session.vote(poll_id, option_ids, owner=self).then(self._answered).fail(self.error.show_refusal)

    def close_poll(self, poll_id: int) -> None:
        self.session.close_poll(poll_id, owner=self).then(self._answered).fail(self.error.show_refusal)

    def new_poll(self) -> NewPollDialog:
        dialog = NewPollDialog(self.session, self.room_id, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.created.connect(lambda poll: (self.model.apply(poll), self.select(poll["id"])))
        dialog.open()
        return dialog
