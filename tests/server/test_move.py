"""`messenger admin move-to`: an office on its SQLite file moves into PostgreSQL without losing
a row, and the server started on PostgreSQL serves its history."""

import hashlib
import shutil
import subprocess
import sys

from sqlalchemy import create_engine, select, text

from harness import PASSWORD, ServerProcess, Socket, login, register_and_login, unique_name
from messaging import contents, open_room
from messenger.server.db.models import Base
from messenger.server.db.move import MOVED_NOTE
from uploading import PDF, send_file, send_text, uploaded


def every_row(url: str) -> dict[str, list]:
    """Each table's rows, read through the models' types (so both databases give Python values)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {table.name: [tuple(row) for row in connection.execute(
                select(table).order_by(*table.primary_key.columns))] for table in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


def files_of(data_dir) -> dict[str, str]:
    return {path.relative_to(data_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in data_dir.rglob("*") if path.is_file() and not path.name.startswith("messenger.db")}


def move(data_dir, url: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "messenger", "admin", "--data-dir", str(data_dir), "move-to",
                           "--database-url", url], capture_output=True, text=True, timeout=300)


def test_an_office_moves_from_sqlite_to_postgresql_with_every_row_and_file(tmp_path, postgres):
    data_dir = tmp_path / "office"
    office = ServerProcess(data_dir, e2e_policy="optional").start()
    try:
        alice, bob = register_and_login(office), register_and_login(office)
        room_id = open_room(alice, bob, name="총무팀")
        sock = Socket(office.url, alice.token)
        sent = [send_text(sock, room_id, f"이사 전 메시지 {n} quarterly") for n in range(5)]
        sent.append(send_text(sock, room_id, "v3:sealed:blob", encrypted=True))
        file_message = send_file(sock, room_id, uploaded(alice, room_id, "4분기_예산안.pdf", PDF)["upload_token"])
        assert file_message["ok"], file_message
        assert bob.post(f"/api/messages/{sent[0]}/reactions", json={"emoji": "👍"}).status_code in (200, 201)
        sock.call("message_read", {"room_id": room_id, "message_id": sent[-1]})
        sock.close()
        history_before = contents(bob, room_id)
    finally:
        office.stop()
    before = every_row(office.database_url)
    files_before = files_of(data_dir)
    untouched_copy = tmp_path / "copy"
    shutil.copytree(data_dir, untouched_copy)
    url = postgres.database(unique_name("moved"))

    moved = move(data_dir, url)
    assert moved.returncode == 0, moved.stderr
    assert f"  messages: {len(before['messages'])}\n" in moved.stdout

    assert every_row(url) == before  # every table, every row, every column
    assert before["messages"] and before["message_reactions"] and before["room_files"] and before["events"]
    files_after = files_of(data_dir)
    assert files_after.pop(MOVED_NOTE) and files_after == files_before  # uploads and keys stay where they were
    engine = create_engine(url)
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if "id" in table.primary_key.columns:
                highest = max((row[0] for row in before[table.name]), default=0)
                assert connection.execute(text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id'))")
                                          ).scalar_one() > highest, table.name
    engine.dispose()

    again = move(data_dir, url)
    assert again.returncode == 1 and "ALREADY_MOVED" in again.stderr
    into_full = move(untouched_copy, url)
    assert into_full.returncode == 1 and "MOVE_TARGET_NOT_EMPTY" in into_full.stderr
    wrong = move(untouched_copy, "sqlite:///elsewhere.db")
    assert wrong.returncode == 1 and "MOVE_TARGET_INVALID" in wrong.stderr
    on_sqlite = subprocess.run([sys.executable, "-m", "messenger", "--serve", "--port", "0", "--data-dir",
                                str(data_dir)], capture_output=True, text=True, timeout=60,
                               env={**office.environment})
    assert on_sqlite.returncode == 78 and "DATABASE_MOVED" in on_sqlite.stderr

    on_postgresql = ServerProcess(data_dir, env={"MESSENGER_DATABASE_URL": url}).start()
    try:
        bob_again = login(on_postgresql, bob.user["username"], PASSWORD)
        assert contents(bob_again, room_id) == history_before
        [listed] = bob_again.get(f"/api/rooms/{room_id}/files").json()["files"]
        assert bob_again.get(f"/uploads/{listed['id']}").content == PDF
        found = bob_again.get("/api/search", params={"q": "quarterly"}).json()["results"]
        assert sorted(hit["message_id"] for hit in found) == sent[:5]
        sock = Socket(on_postgresql.url, bob_again.token)
        assert send_text(sock, room_id, "이사 후 첫 메시지") > max(sent)
        sock.close()
    finally:
        on_postgresql.stop()
