"""Message search over what the server may read, one way per database.

SQLite has the FTS5 index `messages_fts` (made by migration 0003 and kept in step by its
triggers): unencrypted text and system messages, and the names of plaintext uploads.
PostgreSQL has pg_trgm GIN indexes on the same text and names (migration 0006): ILIKE
narrows the candidates through them, then a regular expression keeps FTS5's rule (each
term's words in order, the last one a word beginning, the others whole words), so both
find the same messages. Ciphertext is never searched: the clients search encrypted rooms
over their own local index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, column, false, func, literal_column, or_, select, table
from sqlalchemy.orm import QueryableAttribute, aliased
from sqlalchemy.sql import Select

from messenger.server.db import database
from messenger.server.db.models import Message, RoomFile

SNIPPET_TOKENS = 16  # words around the match (SQLite)
SNIPPET_CHARS = 80  # characters around the match (PostgreSQL)
ELLIPSIS = "…"
# What FTS5's unicode61 tokenizer keeps as a word: letters and digits (Hangul syllables are letters).
WORD = re.compile(r"[^\W_]+")
# ICU's Unicode character classes whatever locale the database was made with (in a "C"
# database, [[:alnum:]] would know ASCII only).
UNICODE_COLLATION = "und-x-icu"


@dataclass(frozen=True)
class SearchHit:
    message_id: int
    room_id: int
    sender_id: int
    message_type: str
    created_at: datetime
    snippet: str
    file_id: int | None
    file_name: str | None


def search_messages(terms: list[str], room_ids: Select[int], *, room_id: int | None = None,
                    date_from: datetime | None = None, date_to: datetime | None = None,
                    file_only: bool = False, offset: int = 0, limit: int = 20) -> list[SearchHit]:
    """Live messages in `room_ids` (a select of room ids) whose readable text or plaintext
    file name holds every term (as a word beginning), newest first. `file_only`: file names
    only. `date_to` is exclusive."""
    search = _search_fts5 if database.is_sqlite else _search_trigram
    conditions: list[ColumnElement[bool]] = [Message.room_id.in_(room_ids), Message.deleted_at.is_(None)]
    if room_id is not None:
        conditions.append(Message.room_id == room_id)
    if date_from is not None:
        conditions.append(Message.created_at >= date_from)
    if date_to is not None:
        conditions.append(Message.created_at < date_to)
    if file_only:
        conditions.append(Message.message_type.in_(("file", "image")))
    return search(terms, conditions, file_only, offset, limit)


def _plain_file_join() -> ColumnElement[bool]:
    return and_(RoomFile.message_id == Message.id, RoomFile.encrypted.is_(False), RoomFile.deleted_at.is_(None))


def _fts5_query(terms: list[str], file_only: bool) -> str:
    """Every term as a quoted prefix phrase, so user input is never read as FTS5 syntax."""
    phrases = " ".join('"' + term.replace('"', '""') + '"*' for term in terms)
    return f"file_name : ({phrases})" if file_only else phrases


def _search_fts5(terms: list[str], conditions: list[ColumnElement[bool]], file_only: bool, offset: int,
                 limit: int) -> list[SearchHit]:
    fts = table("messages_fts", column("rowid"))
    index: ColumnElement[str] = literal_column("messages_fts")
    statement = (
        select(Message.id, Message.room_id, Message.sender_id, Message.message_type, Message.created_at,
               func.snippet(index, -1, "", "", ELLIPSIS, SNIPPET_TOKENS), RoomFile.id, RoomFile.file_name)
        .select_from(fts)
        .join(Message, Message.id == fts.c.rowid)
        .outerjoin(RoomFile, _plain_file_join())
        .where(index.op("MATCH")(_fts5_query(terms, file_only)), *conditions)
        .order_by(Message.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [SearchHit(*row) for row in database.session.execute(statement)]


def _word_beginning(words: list[str]) -> str:
    """FTS5's prefix phrase `"w1 w2"*` as a PostgreSQL regular expression (words hold letters
    and digits only, so none needs escaping, nor in ILIKE)."""
    return "(^|[^[:alnum:]])" + "[^[:alnum:]]+".join(words)


def _matches(column: QueryableAttribute[str], words: list[str]) -> ColumnElement[bool]:
    """The trigram index finds candidates (ILIKE); the expression keeps word beginnings."""
    return and_(*(column.ilike(f"%{word}%") for word in words),
                column.collate(UNICODE_COLLATION).op("~*")(_word_beginning(words)))


def _search_trigram(terms: list[str], conditions: list[ColumnElement[bool]], file_only: bool, offset: int,
                    limit: int) -> list[SearchHit]:
    # Each term's matches as subqueries of their own, each able to use its trigram index, with
    # `= false` as in the partial indexes' predicates.
    texts, names = aliased(Message), aliased(RoomFile)
    for term in terms:
        words = WORD.findall(term)
        if not words:  # nothing FTS5 would index: it finds nothing either
            conditions.append(false())
            continue
        in_name = Message.id.in_(select(names.message_id).where(
            names.encrypted == false(), names.deleted_at.is_(None), _matches(names.file_name, words)))
        in_text = false() if file_only else Message.id.in_(select(texts.id).where(
            texts.encrypted == false(), texts.message_type.in_(("text", "system")), _matches(texts.content, words)))
        conditions.append(or_(in_text, in_name))
    statement = (
        select(Message, RoomFile.id, RoomFile.file_name)
        .outerjoin(RoomFile, _plain_file_join())
        .where(*conditions)
        .order_by(Message.id.desc())
        .offset(offset)
        .limit(limit)
    )
    hits = []
    for message, file_id, file_name in database.session.execute(statement):
        text = message.content if not message.encrypted and message.message_type in ("text", "system") else ""
        hits.append(SearchHit(message.id, message.room_id, message.sender_id, message.message_type,
                              message.created_at, _snippet(text, terms) or file_name or "", file_id, file_name))
    return hits


def _snippet(text: str, terms: list[str]) -> str:
    """Some characters of `text` around the first term found in it ('' if none is)."""
    folded = text.casefold()
    found = [at for at in (folded.find(term.casefold()) for term in terms) if at >= 0]
    if not found:
        return ""
    start = max(0, min(found) - SNIPPET_CHARS // 2)
    end = start + SNIPPET_CHARS
    return (ELLIPSIS if start else "") + text[start:end] + (ELLIPSIS if end < len(text) else "")
