"""Signed updates (tufup on TUF): check, download in the background, apply at the next start.

- `check()` asks the update repository (SERVER/updates/...) for the newest release on the
  channel from the settings (stable: final releases; canary: pre-releases too).
- `download(progress)` fetches a binary patch or the full archive, verifies it against the
  signed metadata and unpacks it into a sibling staging folder (`<install>.update`).
- `apply_staged()`, called at start before the program loads anything else from the install
  folder, swaps the staged files in with `os.replace`, keeping every replaced file in
  `<install>.previous` and a journal, so an interrupted swap is rolled back (`recover()`) and
  the old version stays runnable.

No TUF or download error ever escapes: every method returns an `UpdateState` whose `status` is
"failed" and whose `message` reads "update check failed: <reason>".

Per-machine installs (the MSI leaves a `managed-install` marker in the program folder, or the
user cannot write it): the updater never downloads or applies and reports status "ask_it"
("update <v> available, ask IT"); IT deploys the new installer. A staged update is applied only
when it is newer than the installed version (an installer may have brought a newer one since)
and no other process of the install runs (messenger/install_use.py); otherwise it waits or goes.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from messenger import __version__, install_use
from messenger.client.services.trust import ServerPins, ServerTrust

log = logging.getLogger(__name__)

APP_NAME = "messenger"  # archive names messenger-<version>.tar.gz, as updates/repository.py publishes
VERSION_MARKER = "VERSION"
TRUST_ROOT = Path(__file__).resolve().parent.parent / "update_root.json"  # copied from the repository at build
STAGED_SUFFIX = ".update"
PREVIOUS_SUFFIX = ".previous"
JOURNAL = "swap-in-progress"
MANAGED_MARKER = "managed-install"  # written by the MSI: IT updates this install, never the client
PRE_RELEASES = {"stable": None, "canary": "a"}  # tufup's `pre`: "a" admits alpha, beta and rc


class TarDiff:
    """A tufup `BinaryDiff` that knows the archive is a tar of files (tufup's default, bsdiff over
    the whole tar, took 200 s and 3.6 GB for a 198 MB bundle). A file whose bytes already exist
    in the old tar is copied from it; a changed file of modest size is bsdiff'ed against its old
    self; anything else (headers, new files) is stored zlib-compressed. The patched tar is
    verified by tufup against the signed hash, so a wrong patch can never be installed."""

    MAGIC = b"MSGTARDIFF1\n"
    COPY, DATA, BSDIFF = 1, 2, 3
    BSDIFF_LIMIT = 8 << 20  # bigger changed files are stored whole: bsdiff's time grows fast

    @staticmethod
    def _files(tar_bytes: bytes) -> list:
        import io
        import tarfile

        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
            return [member for member in tar.getmembers() if member.isfile() and member.size]

    @classmethod
    def diff(cls, *, src_bytes: bytes, dst_bytes: bytes) -> bytes:
        import hashlib
        import struct
        import zlib

        import bsdiff4

        src_view, dst_view = memoryview(src_bytes), memoryview(dst_bytes)
        by_hash, by_name = {}, {}
        for member in cls._files(src_bytes):
            piece = src_view[member.offset_data:member.offset_data + member.size]
            by_hash.setdefault(hashlib.sha256(piece).digest(), member)
            by_name[member.name] = member
        out = [cls.MAGIC]

        def data(start: int, end: int) -> None:
            if end > start:
                packed = zlib.compress(dst_view[start:end], 6)
                out.append(struct.pack("<BQ", cls.DATA, len(packed)) + packed)

        cursor = 0
        for member in cls._files(dst_bytes):
            start, end = member.offset_data, member.offset_data + member.size
            piece = dst_view[start:end]
            same = by_hash.get(hashlib.sha256(piece).digest())
            old = by_name.get(member.name)
            if same is not None:
                data(cursor, start)
                out.append(struct.pack("<BQQ", cls.COPY, same.offset_data, same.size))
            elif old is not None and max(old.size, member.size) <= cls.BSDIFF_LIMIT:
                data(cursor, start)
                patch = bsdiff4.diff(bytes(src_view[old.offset_data:old.offset_data + old.size]), bytes(piece))
                out.append(struct.pack("<BQQQ", cls.BSDIFF, old.offset_data, old.size, len(patch)) + patch)
            else:
                continue  # stored with the bytes around it
            cursor = end
        data(cursor, len(dst_bytes))
        return b"".join(out)

    @classmethod
    def patch(cls, *, src_bytes: bytes, patch_bytes: bytes) -> bytes:
        import struct
        import zlib

        import bsdiff4

        if not patch_bytes.startswith(cls.MAGIC):
            raise ValueError("not a messenger tar patch")
        view, out, at = memoryview(patch_bytes), [], len(cls.MAGIC)
        while at < len(view):
            op = view[at]
            if op == cls.COPY:
                _, offset, size = struct.unpack_from("<BQQ", view, at)
                out.append(src_bytes[offset:offset + size])
                at += 17
            elif op == cls.DATA:
                _, size = struct.unpack_from("<BQ", view, at)
                out.append(zlib.decompress(view[at + 9:at + 9 + size]))
                at += 9 + size
            elif op == cls.BSDIFF:
                _, offset, old_size, size = struct.unpack_from("<BQQQ", view, at)
                out.append(bsdiff4.patch(src_bytes[offset:offset + old_size], bytes(view[at + 25:at + 25 + size])))
                at += 25 + size
            else:
                raise ValueError(f"unknown patch operation {op}")
        return b"".join(out)


def _fast_patcher():
    """tufup's Patcher re-compresses the patched archive at gzip level 9 (33 s of a 42-51 s apply
    for 198 MB); the archive only has to be unpacked once, so level 1 does."""
    import gzip

    from tufup.common import Patcher

    class FastPatcher(Patcher):
        @classmethod
        def patch_and_verify(cls, src_path, dst_path, patch_targets, binary_diff=None):
            if not patch_targets:
                raise ValueError("no patch targets")
            with gzip.open(src_path, mode="rb") as src_file:
                tar_bytes = src_file.read()
            for patch_meta, patch_path in sorted(patch_targets.items()):  # noqa: B007 - the last one checks below
                tar_bytes = binary_diff.patch(src_bytes=tar_bytes, patch_bytes=patch_path.read_bytes())
            cls._verify_tar_size_and_hash(tar_content=tar_bytes, expected=patch_meta.custom_internal)
            with gzip.open(dst_path, mode="wb", compresslevel=1) as dst_file:
                dst_file.write(tar_bytes)

    return FastPatcher


def _fetcher_for(trust: ServerTrust):
    """tufup's fetcher, with the TLS settings of trust.py (a pinned certificate, or the CAs)."""
    from requests.adapters import HTTPAdapter
    from tufup.client import AuthRequestsFetcher

    class TrustedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["ssl_context"] = trust.ssl_context()
            super().init_poolmanager(*args, **kwargs)

        def send(self, request, **kwargs):
            if trust.pins is not None and trust.pins.get(trust.server_url) is not None:
                # The pin is the check, made in the handshake; requests' CA check (or a
                # REQUESTS_CA_BUNDLE in the environment) would refuse the certificate first.
                kwargs["verify"] = False
            return super().send(request, **kwargs)

    class TrustedFetcher(AuthRequestsFetcher):
        def _get_session(self, url: str):
            session = super()._get_session(url)
            if trust.https and not isinstance(session.get_adapter("https://"), TrustedAdapter):
                session.mount("https://", TrustedAdapter())
            return session

    return TrustedFetcher


@dataclass(frozen=True)
class UpdateState:
    """status: up_to_date | available | ask_it | downloading | staged | waiting (staged, another
    process of the install runs) | applied | failed."""

    status: str
    version: str | None = None
    reason: str = ""

    @property
    def message(self) -> str:
        if self.status == "failed":
            return f"update check failed: {self.reason}"
        if self.status == "ask_it":
            return f"update {self.version} available, ask IT"
        if self.status == "waiting":
            return f"update {self.version} waits: another process of this install runs"
        return f"{self.status} {self.version or ''}".strip()


def installed_version(install_dir: Path) -> str:
    """The version marker written by the publisher, or the running program's version."""
    marker = Path(install_dir) / VERSION_MARKER
    return marker.read_text(encoding="utf-8").strip() if marker.exists() else __version__


def _entries(folder: Path) -> list[Path]:
    """Files and symlinks (the link itself, even to a folder) under `folder`."""
    return [p for p in folder.rglob("*") if p.is_symlink() or not p.is_dir()]


def is_managed(install_dir: Path) -> bool:
    """Whether IT installed this folder (the MSI's marker): the client never updates it."""
    return (Path(install_dir) / MANAGED_MARKER).exists()


def _newer(version: str, than: str) -> bool:
    try:
        return Version(version) > Version(than)
    except InvalidVersion:
        return False


def _replace(source: Path, target: Path, tries: int = 5, pause: float = 0.2) -> None:
    """os.replace, tried again for a second: on Windows an antivirus scanning a file holds it
    for a moment (PermissionError). Anything else fails at once (and the swap is rolled back)."""
    for attempt in range(tries):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if attempt == tries - 1:
                raise
            time.sleep(pause)


def _writable(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


class Updater:
    """Updates the onedir installation in `install_dir` from `server_url`/updates."""

    def __init__(self, install_dir: Path, data_dir: Path, server_url: str, channel: str = "stable",
                 current_version: str | None = None, trust_root: Path = TRUST_ROOT, settings=None,
                 pins: ServerPins | None = None):
        """`settings` (ClientSettings), when given, decides the channel and (once one is set)
        the server at every check, so a change of `update_channel` or `server_url` applies
        from the next check; otherwise `channel` and `server_url` do. `pins`: the desk's pinned
        server certificates, checked on the downloads as on every other connection."""
        self.settings = settings
        self.pins = pins
        self._channel = channel
        self._server_url = server_url
        self.install_dir = Path(install_dir)
        self.cache_dir = Path(data_dir) / "updates"  # TUF metadata and downloaded targets
        self.current_version = current_version or installed_version(self.install_dir)
        self.trust_root = Path(trust_root)
        self.staged_dir = self.install_dir.with_name(self.install_dir.name + STAGED_SUFFIX)
        self.previous_dir = self.install_dir.with_name(self.install_dir.name + PREVIOUS_SUFFIX)
        self.state = UpdateState("up_to_date", self.current_version)
        self._client = None
        self._timer: threading.Timer | None = None
        self._stopped = False
        self._busy = threading.Lock()  # a periodic check, a check on request and a download take turns

    @property
    def channel(self) -> str:
        return self.settings.get("update_channel") if self.settings is not None else self._channel

    @property
    def server_url(self) -> str:
        chosen = self.settings.get("server_url") if self.settings is not None else ""
        return (chosen or self._server_url).rstrip("/")

    # -- checking ------------------------------------------------------------------------------

    def _new_client(self):
        import tufup.client
        from tufup.client import Client

        tufup.client.Patcher = _fast_patcher()  # the client module looks it up at apply time
        # ... and its fetcher when a client is made: downloads take this server's TLS settings.
        tufup.client.AuthRequestsFetcher = _fetcher_for(ServerTrust(self.server_url, self.pins))

        metadata_dir, target_dir = self.cache_dir / "metadata", self.cache_dir / "targets"
        for folder in (metadata_dir, target_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if not (metadata_dir / "root.json").exists():
            if not self.trust_root.exists():
                raise FileNotFoundError(f"no update trust root at {self.trust_root}")
            shutil.copyfile(self.trust_root, metadata_dir / "root.json")
        class OnceRefreshedClient(Client):
            # tufup swallows download and signature errors in its own refresh into a log line and
            # "no update"; check() refreshes first so they reach it with their reason.
            refreshed = False

            def refresh(self):
                if not self.refreshed:
                    super().refresh()
                    self.refreshed = True

        return OnceRefreshedClient(
            app_name=APP_NAME, app_install_dir=self.install_dir, current_version=self.current_version,
            metadata_dir=metadata_dir, metadata_base_url=f"{self.server_url}/updates/metadata/",
            target_dir=target_dir, target_base_url=f"{self.server_url}/updates/targets/",
            extract_dir=self.staged_dir, refresh_required=False, binary_diff=TarDiff)

    def check(self) -> UpdateState:
        """Refresh the signed metadata and say whether a newer release exists on the channel
        (or "staged" when that release is already downloaded and waits for the next start)."""
        with self._busy:
            return self._check()

    def _check(self) -> UpdateState:
        try:
            if not self.server_url:
                raise ValueError("no server address is set")
            self._client = self._new_client()
            self._client.refresh()
            found = self._client.check_for_updates(pre=PRE_RELEASES.get(self.channel))
            if found is None:
                self.state = UpdateState("up_to_date", self.current_version)
            elif is_managed(self.install_dir) or not (_writable(self.install_dir) and _writable(self.install_dir.parent)):
                self.state = UpdateState("ask_it", str(found.version))
            elif self.staged_version() == str(found.version):
                self.state = UpdateState("staged", str(found.version))
            else:
                self.state = UpdateState("available", str(found.version))
        except Exception as exc:  # noqa: BLE001 - TUF errors (rollback, expiry, signature) arrive uncaught
            self.state = self._failed(exc)
        return self.state

    def start_periodic(self, every_seconds: float = 4 * 3600,
                       on_state: Callable[[UpdateState], None] = lambda state: None) -> None:
        """Check now and then every `every_seconds` in a daemon thread, reporting each state."""
        self._stopped = False

        def run():
            on_state(self.check())
            if self._stopped:
                return
            self._timer = threading.Timer(every_seconds, run)
            self._timer.daemon = True
            self._timer.start()

        threading.Thread(target=run, daemon=True, name="update-check").start()

    def stop(self) -> None:
        """No more periodic checks (a check already running still reports)."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()

    # -- downloading ---------------------------------------------------------------------------

    def download(self, progress: Callable[[int, int], None] = lambda done, total: None) -> UpdateState:
        """Download, verify and stage the release found by `check()`; `progress(done, total)`
        is called per chunk. Ends in "staged" (apply at next start) or "failed"."""
        with self._busy:
            return self._download(progress)

    def _download(self, progress: Callable[[int, int], None]) -> UpdateState:
        if self.state.status != "available" or self._client is None:
            return self.state
        staged: list[bool] = []

        def stage(src_dir, dst_dir, **_):
            # tufup's own installer raises on Linux and would copy over the running program.
            (Path(src_dir) / VERSION_MARKER).write_text(self.state.version, encoding="utf-8")
            staged.append(True)

        try:
            shutil.rmtree(self.staged_dir, ignore_errors=True)
            self.staged_dir.mkdir()
            self.state = UpdateState("downloading", self.state.version)
            self._client.download_and_apply_update(
                skip_confirmation=True, install=stage,
                progress_hook=lambda bytes_downloaded, bytes_expected: progress(bytes_downloaded, bytes_expected))
            if not staged:  # tufup logs a failed patch verification and returns
                raise RuntimeError("the downloaded update did not verify")
            self.state = UpdateState("staged", self.state.version)
        except Exception as exc:  # noqa: BLE001 - no update error may crash the client
            shutil.rmtree(self.staged_dir, ignore_errors=True)
            self.state = self._failed(exc)
        return self.state

    def download_in_background(self, progress: Callable[[int, int], None] = lambda done, total: None,
                               done: Callable[[UpdateState], None] = lambda state: None) -> threading.Thread:
        thread = threading.Thread(target=lambda: done(self.download(progress)), daemon=True, name="update-download")
        thread.start()
        return thread

    # -- applying ------------------------------------------------------------------------------

    def staged_version(self) -> str | None:
        """The version downloaded and waiting for the next start, if any."""
        marker = self.staged_dir / VERSION_MARKER
        return marker.read_text(encoding="utf-8").strip() if marker.exists() else None

    def apply_staged(self) -> UpdateState:
        """At start: finish or roll back an interrupted swap, then swap in a staged update if it
        is newer than this install and no other process of the install runs (status "waiting":
        the next start tries again). A staged version not newer (an installer brought a newer
        one meanwhile), or any staged files in a managed install, are discarded. On any failure
        the replaced files are put back and the old version keeps running."""
        with install_use.for_folder(self.install_dir).alone() as alone:
            if not alone:
                if self.staged_version() is not None or (self.previous_dir / JOURNAL).exists():
                    log.info("update waits: another process of %s runs", self.install_dir)
                    self.state = UpdateState("waiting", self.staged_version())
                return self.state
            return self._apply_staged()

    def _apply_staged(self) -> UpdateState:
        self.recover()
        marker = self.staged_dir / VERSION_MARKER
        if not marker.exists():
            return self.state
        version = marker.read_text(encoding="utf-8").strip()
        current = installed_version(self.install_dir)
        if is_managed(self.install_dir) or not _newer(version, current):
            why = "IT manages this install" if is_managed(self.install_dir) else f"{current} is installed"
            log.warning("discarding the staged update %s: %s", version, why)
            shutil.rmtree(self.staged_dir, ignore_errors=True)
            return self.state
        try:
            shutil.rmtree(self.previous_dir, ignore_errors=True)
            self.previous_dir.mkdir()
            (self.previous_dir / JOURNAL).write_text(version, encoding="utf-8")
            # the marker last: a half-swapped folder never claims to be the new version
            files = sorted(p for p in _entries(self.staged_dir) if p != marker) + [marker]
            for source in files:
                relative = source.relative_to(self.staged_dir)
                target, backup = self.install_dir / relative, self.previous_dir / relative
                if target.exists():
                    backup.parent.mkdir(parents=True, exist_ok=True)
                    _replace(target, backup)
                target.parent.mkdir(parents=True, exist_ok=True)
                _replace(source, target)
            (self.previous_dir / JOURNAL).unlink()
        except Exception as exc:  # noqa: BLE001 - no update error may crash the client
            try:
                self.recover()
            except OSError as still:  # the journal stays: the next start tries again
                log.warning("rollback incomplete: %s", still)
            self.state = self._failed(exc)
            return self.state
        shutil.rmtree(self.staged_dir, ignore_errors=True)
        shutil.rmtree(self.previous_dir, ignore_errors=True)
        self.current_version = version
        self.state = UpdateState("applied", version)
        return self.state

    def recover(self) -> bool:
        """Undo a swap that stopped half-way (journal present): put every saved file back.
        Returns whether anything was rolled back."""
        if not (self.previous_dir / JOURNAL).exists():
            return False
        for backup in sorted(p for p in _entries(self.previous_dir) if p.name != JOURNAL):
            target = self.install_dir / backup.relative_to(self.previous_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(backup, target)
        # files new in the update stay as harmless extras; the old marker is back in place
        shutil.rmtree(self.previous_dir, ignore_errors=True)
        shutil.rmtree(self.staged_dir, ignore_errors=True)
        log.warning("rolled back an interrupted update in %s", self.install_dir)
        return True

    def _failed(self, exc: Exception) -> UpdateState:
        refused = ServerTrust(self.server_url, self.pins).explain(exc) if self.server_url else None
        reason = f"{refused.code}: {refused}" if refused else f"{type(exc).__name__}: {exc}"
        log.warning("update check failed: %s", reason)
        return UpdateState("failed", None, reason)
