"""The client's list models: `RowListModel`, the one every list of the dialogs is made of
(people, devices, notices, polls, files, search hits), what the room list
(ui/room_list.py) and the chat (ui/chat_model.py) share, and picking a row in a view by
its ITEM_ROLE object (`select_row`, `selected_row`).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable, Generic, Iterable, TypeVar

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QAbstractItemView


ITEM_ROLE = Qt.ItemDataRole.UserRole + 1  # the row's own object (a RoomItem, a ChatItem, a poll's dict...)
ModelIndex = QModelIndex | QPersistentModelIndex
Row = TypeVar("Row")


HANGUL_SYLLABLES = "\uac00-\ud7a3"


def mentions(text: str, me: dict) -> bool:
    """Whether `text` names me: `@username` or `@nickname`, any case, as a whole word; a
    Korean name may carry a particle or suffix ("@김민수님", "@김민수씨"), but a Latin one
    must end there ("@kimx" is someone else, not kim)."""
    names = [name for name in (me.get("username"), me.get("nickname")) if name]
    return any(re.search(rf"@{re.escape(name)}{_name_end(name)}", text, re.IGNORECASE) for name in names)


def _name_end(name: str) -> str:
    """What may follow a name in a mention: after a Hangul syllable, Hangul (a particle)
    or no word character; after anything else, no word character."""
    if re.match(rf"[{HANGUL_SYLLABLES}]", name[-1]):
        return rf"(?![^\W{HANGUL_SYLLABLES}])"
    return r"(?!\w)"


def selected_row(view: QAbstractItemView) -> Any:
    """The ITEM_ROLE object of the row selected in `view` (None: none is)."""
    rows = view.selectionModel().selectedIndexes()
    return rows[0].data(ITEM_ROLE) if rows else None


def select_row(view: QAbstractItemView, test: Callable[[Any], bool]) -> bool:
    """Make the first row of `view` whose ITEM_ROLE object passes `test` the current one;
    True if there is one. Lists and the admin's tables alike answer ITEM_ROLE."""
    model = view.model()
    for number in range(model.rowCount()):
        index = model.index(number, 0)
        if test(index.data(ITEM_ROLE)):
            view.setCurrentIndex(index)
            return True
    return False


def local_time(value: str | None) -> datetime | None:
    """A server time (ISO-8601 UTC) in this computer's time zone."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone()


class RowListModel(QAbstractListModel, Generic[Row]):
    """Rows of one kind, in the order `ordered` gives them. `data` answers ITEM_ROLE with the
    row itself and asks `row_data(row, role)` for everything else (DisplayRole, ToolTipRole...)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[Row] = []

    def row_data(self, row: Row, role: int) -> Any:
        """What a row shows for `role` (None: nothing)."""
        return None

    def ordered(self, rows: list[Row]) -> list[Row]:
        """The rows in the order the list shows them (as given, unless a model says otherwise)."""
        return rows

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        return row if role == ITEM_ROLE else self.row_data(row, role)

    def reset(self, rows: Iterable[Row]) -> None:
        self.beginResetModel()
        self._rows = self.ordered(list(rows))
        self.endResetModel()

    def rows(self) -> list[Row]:
        return list(self._rows)

    def changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row), self.index(row))

