"""Backup and restore of a server's data dir and its database as one zip file.

The archive holds:
  manifest.json   {format, app_version, schema_revision, created_at, database, files: [{path, size, sha256}]}
  messenger.db    SQLite: a consistent snapshot taken with SQLite's online backup API (never
                  a file copy, which could catch the database between two writes); safe
                  while the server runs, which keeps writing during the backup
  database.pgdump PostgreSQL instead: `pg_dump`'s custom format, one consistent snapshot too
  secret_key, config.toml, tls/, uploads/, profile_images/   as they are on disk

Restore goes into an empty or new folder (and, for PostgreSQL, an empty database) only,
checks every file against the manifest before anything is put in place, and brings an
older schema up to date with the migrations.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from alembic.script import ScriptDirectory

from messenger import __version__
from messenger.server.config import ServerConfig
from messenger.core.files import sync_folder
from messenger.server.db import MIGRATIONS, migrate_database
from messenger.server.db.snapshot import (SnapshotError, postgres_dump, postgres_restore, postgres_revision,
                                          sqlite_revision_checked, sqlite_snapshot)

log = logging.getLogger("messenger.server")

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "messenger.db"
PG_DUMP = "database.pgdump"
KEPT_FILES = ("secret_key", "config.toml")
KEPT_FOLDERS = ("tls", "uploads", "profile_images")
# Already compressed (images) or encrypted (E2E blobs): deflating them only costs time.
STORED_FOLDERS = ("uploads", "profile_images")
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore refused or failed; the message says why, for the admin."""


def known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}


def head_revision() -> str:
    [head] = ScriptDirectory(str(MIGRATIONS)).get_heads()  # the migrations are one line
    return head


# --- backup --------------------------------------------------------------------------------

def create_backup(config: ServerConfig, target: Path) -> dict[str, Any]:
    """Write the backup of `config`'s data dir to `target` (atomically, owner-only) and
    return its manifest."""
    data_dir = Path(config.data_dir)
    url = config.sqlalchemy_url
    on_sqlite = url.startswith("sqlite:///")
    if on_sqlite and not Path(url.removeprefix("sqlite:///")).is_file():
        raise BackupError(f"there is no server database at {url.removeprefix('sqlite:///')}")
    target = Path(target).resolve()
    if target.is_dir():
        raise BackupError(f"{target} is a folder; give the backup file's name")
    if target.is_relative_to(data_dir.resolve()):
        raise BackupError("write the backup outside the data dir (it would back itself up, and a lost "
                          "disk would take both)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".messenger-backup-", dir=target.parent) as work:
        name = DATABASE if on_sqlite else PG_DUMP
        snapshot = Path(work) / name
        revision = snapshot_database(url, snapshot)
        entries = [(name, snapshot), *_data_files(data_dir)]
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            manifest = _write_archive(tmp, entries, revision, name)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    sync_folder(target.parent)
    return manifest


def snapshot_database(url: str, target: Path) -> str:
    """The live database copied consistently to `target`; returns its schema revision."""
    try:
        if url.startswith("sqlite:///"):
            return sqlite_snapshot(Path(url.removeprefix("sqlite:///")), target)
        return postgres_dump(url, target)
    except SnapshotError as exc:
        raise BackupError(str(exc)) from None


def _data_files(data_dir: Path) -> list[tuple[str, Path]]:
    found = [(name, data_dir / name) for name in KEPT_FILES if (data_dir / name).is_file()]
    for folder in KEPT_FOLDERS:
        for path in sorted((data_dir / folder).rglob("*")):
            if path.is_file() and not path.is_symlink():
                found.append((path.relative_to(data_dir).as_posix(), path))
    return found


def _write_archive(tmp: Path, entries: list[tuple[str, Path]], revision: str, database: str) -> dict[str, Any]:
    files = []
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds the server's keys
    with os.fdopen(fd, "wb") as fh:
        with zipfile.ZipFile(fh, "w", allowZip64=True) as archive:
            for name, path in entries:
                written = _add_file(archive, name, path)
                if written is not None:
                    files.append(written)
            manifest = {
                "format": FORMAT,
                "app_version": __version__,
                "schema_revision": revision,
                "created_at": datetime.now(timezone.utc).isoformat(),
                "database": database,
                "files": files,
            }
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False),
                             compress_type=zipfile.ZIP_DEFLATED)
        fh.flush()
        os.fsync(fh.fileno())
    return manifest


def _add_file(archive: zipfile.ZipFile, name: str, path: Path) -> dict[str, Any] | None:
    """Stream one file into the archive; returns its manifest entry, or None if it went
    away meanwhile (an upload deleted during the backup)."""
    stored = name.split("/", 1)[0] in STORED_FOLDERS
    info = zipfile.ZipInfo(name, date_time=datetime.now(timezone.utc).timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    digest, size = hashlib.sha256(), 0
    try:
        source = open(path, "rb")
    except FileNotFoundError:
        log.warning("backup: %s disappeared before it was copied; left out", name)
        return None
    with source, archive.open(info, "w", force_zip64=True) as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return {"path": name, "size": size, "sha256": digest.hexdigest()}


# --- restore -------------------------------------------------------------------------------

def restore_backup(archive_path: Path, data_dir: Path, database_url: str | None = None) -> dict[str, Any]:
    """Restore a backup into `data_dir`, which must be empty or not exist yet; a PostgreSQL
    backup's database goes into the (empty) database at `database_url`.

    Every file is checked against the manifest's sha256 before the folder is put in place;
    the database is then migrated to this version's schema. Returns the manifest, with
    `restored_schema_revision` added.
    """
    data_dir = Path(data_dir).resolve()
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} is not empty: restore only into an empty or new folder, "
                          "so that nothing there is overwritten")
    try:
        archive = zipfile.ZipFile(archive_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError(f"{archive_path} is not a backup archive: {exc}") from None
    with archive:
        manifest = _read_manifest(archive)
        dumped = manifest["database"] == PG_DUMP
        if dumped and not database_url:
            raise BackupError("this backup holds a PostgreSQL database: name the new, empty database to restore "
                              "it into with --database-url (or MESSENGER_DATABASE_URL)")
        if not dumped and database_url:
            raise BackupError("this backup holds an SQLite database: restore it without a database URL, then "
                              "move it with move-to")
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restoring-", dir=data_dir.parent))
        try:
            for entry in manifest["files"]:
                _extract(archive, entry, staging)
            if database_url:  # a dump (a URL comes with a dump only, checked above)
                manifest["restored_schema_revision"] = _restore_postgresql(staging / PG_DUMP, database_url)
            else:
                manifest["restored_schema_revision"] = _upgrade(staging / DATABASE)
            if data_dir.exists():
                data_dir.rmdir()
            os.replace(staging, data_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    sync_folder(data_dir.parent)
    return manifest


def _read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(archive.read(MANIFEST))
        files = manifest["files"]
        paths = [entry["path"] for entry in files]
        if manifest["format"] != FORMAT or not all(isinstance(e["sha256"], str) for e in files):
            raise ValueError("unknown format")
    except (KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        raise BackupError(f"the archive has no valid {MANIFEST} ({exc})") from None
    for path in paths:
        if not _safe_member(path):
            raise BackupError(f"the archive holds a file outside the data dir's layout: {path!r}")
    manifest.setdefault("database", DATABASE)
    if manifest["database"] not in (DATABASE, PG_DUMP) or manifest["database"] not in paths:
        raise BackupError("the archive holds no database")
    listed, present = set(paths), set(archive.namelist()) - {MANIFEST}
    if listed != present or len(paths) != len(listed):
        extra = sorted(present - listed) or sorted(listed - present) or ["(duplicates)"]
        raise BackupError(f"the archive does not match its manifest: {', '.join(extra[:5])}")
    revision = manifest.get("schema_revision")
    if revision not in known_revisions():
        raise BackupError(f"the backup's database schema ({revision}) is newer than this version knows; "
                          f"restore it with messenger {manifest.get('app_version')} or later")
    return manifest


def _safe_member(path: object) -> bool:
    """A relative path inside one of the places a backup writes to, nothing else."""
    if not isinstance(path, str) or "\\" in path or not path:
        return False
    parts = PurePosixPath(path).parts
    if PurePosixPath(path).is_absolute() or ".." in parts or "." in parts:
        return False
    return path in (DATABASE, PG_DUMP, *KEPT_FILES) or (len(parts) > 1 and parts[0] in KEPT_FOLDERS)


def _extract(archive: zipfile.ZipFile, entry: dict[str, Any], staging: Path) -> None:
    path = staging / entry["path"]
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with archive.open(entry["path"]) as source, os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise BackupError(f"{entry['path']}: the archive is damaged ({exc})") from None
    if digest.hexdigest() != entry["sha256"]:
        raise BackupError(f"{entry['path']}: its sha256 does not match the manifest; "
                          "the archive is damaged or was altered")


def _restore_postgresql(dump: Path, url: str) -> str:
    """Load the dump into the database at `url`, migrate it; the dump file is not kept."""
    try:
        postgres_restore(dump, url)
        migrate_database(url)
        revision = postgres_revision(url)
    except SnapshotError as exc:
        raise BackupError(f"the restored database: {exc}") from None
    dump.unlink()
    return revision


def _upgrade(db_file: Path) -> str:
    """Run the migrations on a restored database; returns the revision it ends at."""
    migrate_database(f"sqlite:///{db_file}")
    try:
        return sqlite_revision_checked(db_file)
    except SnapshotError as exc:
        raise BackupError(f"the restored database: {exc}") from None
