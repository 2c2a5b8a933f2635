"""The outbox's preparers and the file steps of services/messages.py, without Qt: a real
server, real keys on two desks."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from client_kit import new_account, signed_in
from keyring.backends import fail

from messenger.client.services.keys import E2EKeys
from messenger.client.services.messages import (
    download_file,
    read_file_entry,
    read_content,
    seal_and_upload_outgoing_file,
    seal_outgoing_text,
)
from messenger.client.services.outbox import OutboxState, OutgoingMessage
from messenger.client.services.session_store import SessionStore


@pytest.fixture
def desks(server, tmp_path):
    """`desks()`: started E2EKeys of a new user on a desk of their own; all closed afterwards."""
    made = []

    def make() -> E2EKeys:
        store = SessionStore(tmp_path / f"desk{len(made)}", backend=fail.Keyring())
        keys = E2EKeys(signed_in(server.url, new_account(server), store), store)
        keys.start()
        made.append(keys)
        return keys

    yield make
    for keys in made:
        keys.close()
        keys.api.close()


def outgoing(room_id: int, message_type: str, content: str) -> OutgoingMessage:
    """A message as the outbox keeps it (its row, as Outbox.get gives it back)."""
    return OutgoingMessage(1, uuid.uuid4().hex, room_id, message_type, content, True, None, OutboxState.PENDING,
                           0, None, None, time.time())


def test_a_text_is_sealed_for_the_room(desks):
    kim, lee = desks(), desks()
    room_id = kim.api.create_room([lee.api.user["id"]])["room_id"]
    fields = seal_outgoing_text(kim, outgoing(room_id, "text", "점심 먹었어요?"), timeout=10)
    assert fields["encrypted"] is True and "점심" not in fields["content"]
    lee.sync_room(room_id)
    assert read_content(lee, room_id, fields["content"], encrypted=True).text == "점심 먹었어요?"


def test_a_file_sealed_and_uploaded_for_the_outbox_lists_and_downloads_on_another_desk(desks, realtimes, tmp_path):
    kim, lee = desks(), desks()
    room_id = kim.api.create_room([lee.api.user["id"]])["room_id"]
    data = b"quarterly numbers " * 5000
    message = outgoing(room_id, "file", json.dumps({"name": "보고서.txt", "size": 90000,
                                                    "path": str(tmp_path / "outbox-copy")}))
    percents: list[int] = []
    fields = seal_and_upload_outgoing_file(kim, kim.api, message, data, timeout=10, progress=percents.append)
    assert percents == sorted(set(percents)) and percents[-1] == 100  # once per percent, up to the end
    live = realtimes(kim.api)
    live.start()
    assert live.wait_synced(15)
    live.send_message(room_id, fields["content"], encrypted=True, client_msg_id=message.client_msg_id,
                      message_type="file", upload_token=fields["upload_token"])

    [entry] = lee.api.room_files(room_id)
    assert entry["encrypted"] and entry["file_name"] != "보고서.txt"  # the server never sees the name
    lee.sync_room(room_id)
    entry = read_file_entry(lee, lee.api, room_id, entry)
    assert entry["file_name"] == "보고서.txt" and entry["file_size"] == 90000
    saved = download_file(lee.api, entry["id"], tmp_path / "saved.txt", entry["file_key"])
    assert saved.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["desk0", "desk1", "saved.txt"]
