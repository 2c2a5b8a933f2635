"""The tray client's life, from its tray icon to quitting (`launch.run()` starts the process).

Start-up: the tray icon first, then the last session is resumed from the session store
(the token is rotated on the way) and the main window opens; without one (or when it is
over) the login window does. A second launch only brings the first one forward.

`ClientApp` is the conductor: it owns the settings, the session store, the bridge, the
tray and whichever window is up, and moves between signed out and signed in. Tests drive
it directly with their own client folder and keyring.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from keyring.backend import KeyringBackend
from PySide6.QtCore import QCoreApplication, QLibraryInfo, QObject, QTimer, QTranslator, Signal
from PySide6.QtWidgets import QApplication, QWidget

from messenger.client.i18n import set_language, tr
from messenger.client.services.api import LOCAL_SERVER_URL, ApiClient, ServerRefused, ServerUnreachable, local_server
from messenger.client.services.autostart import Autostart
from messenger.client.services.backoff import Backoff
from messenger.client.services.discovery import FoundServer
from messenger.client.services.desktop_notifications import DesktopNotifications
from messenger.client.services.notification_doctor import SystemDesktop, diagnose, toasts_held_back
from messenger.client.services.dirs import ClientDirs
from messenger.client.services.outbox import outbox_path
from messenger.client.services.realtime import load_cursor, save_cursor
from messenger.client.services.session_store import SessionStore, normalize_server_url
from messenger.client.services.settings import ClientSettings, installer_presets, policies, preset_fingerprint
from messenger.client.services.trust import UNTRUSTED, ServerPins, ServerTrust, ServerTrustError
from messenger.client.services.updater import TRUST_ROOT, Updater
from messenger.client.ui.bridge import Bridge, Call
from messenger.client.ui.first_start import CertificateChangedDialog, TrustDialog
from messenger.client.ui.login import LoginWindow, RegisterDialog
from messenger.client.ui.main_window import MainWindow
from messenger.client.ui.message_text import MessageText
from messenger.client.ui.notification_doctor import NotificationDoctorDialog
from messenger.client.ui.session import ChatSession
from messenger.client.ui.settings_dialog import SettingsDialog
from messenger.client.ui.tray import Tray
from messenger.client.ui.updates import Updates
from messenger.core.errors import localized

log = logging.getLogger(__name__)

RESTORE_BACKOFF = Backoff(2.0, 60.0)  # seconds: first and longest wait between tries to resume a session
CURSOR_SAVE_MS = 30_000  # the event cursor is saved this often too, for a run that ends in a crash


class ClientApp(QObject):
    signed_in = Signal()  # the main window is up
    signed_out = Signal()  # the login window is up
    attention_asked = Signal()  # the taskbar button flashes: a notification could not show, or was held back

    def __init__(self, dirs: ClientDirs, *, keyring_backend: KeyringBackend | None = None,
                 realtime_options: dict | None = None, outbox_options: dict | None = None,
                 install_dir: Path | None = None, update_trust_root: Path = TRUST_ROOT,
                 autostart: Autostart | None = None, local_server_url: str | None = LOCAL_SERVER_URL,
                 discover: Callable[[], list[FoundServer]] | None = None,
                 parent: QObject | None = None):
        """`dirs`: the client's folders (settings, session store, outbox); `keyring_backend`:
        where tokens go (default: the system's keyring or the protected file);
        `realtime_options`/`outbox_options`: tuning passed to those services; `install_dir`:
        the installed program's folder, which the updater keeps up to date (None: updates are
        off) against `update_trust_root`; `autostart`: what "start at login" sets (None: the
        setting is only saved); `local_server_url`: offered in the sign-in window when no server
        was chosen yet (or preset by the installer) and a server answers there (None: not asked);
        `discover`: finds the servers on the network for the sign-in window (None: it lists none;
        tests never multicast outside a network namespace)."""
        super().__init__(parent)
        self.dirs = dirs
        self.settings = ClientSettings(dirs.config / ClientSettings.FILE_NAME)
        self._qt_translator = QTranslator(self)
        self._apply_language()  # before the tray and the windows: they speak it from the start
        self.store = SessionStore(dirs.data, backend=keyring_backend)
        self.pins = ServerPins(dirs.data)
        self.discover = discover
        self.trust_dialog: TrustDialog | CertificateChangedDialog | None = None  # the last one shown
        self.doctor_dialog: NotificationDoctorDialog | None = None
        self.realtime_options = realtime_options or {}
        self.outbox_options = outbox_options or {}
        self.bridge = Bridge(self)
        self.text = MessageText()
        # Linux: a click on any notification names its room (the tray's messages cannot say which).
        self.desktop_notifications = DesktopNotifications(
            lambda room_id: self.bridge.post(self._notification_clicked, room_id),
            lambda room_id: self.bridge.post(self._ask_attention), open_label=tr("tray.open"))
        self.tray = Tray(self, desktop_notifications=self.desktop_notifications)
        self.desktop = SystemDesktop(self.tray.available)  # what the system says about notifications
        updater = None if install_dir is None else Updater(
            install_dir, dirs.data, "", trust_root=update_trust_root, settings=self.settings, pins=self.pins)
        self.updates = Updates(updater, self.bridge, self)
        self.autostart = autostart
        self.local_server_url = local_server_url
        self.restart_requested = False  # quit, then start the program again (a staged update)
        self.session: ChatSession | None = None
        self.main_window: MainWindow | None = None
        self._room_asked: int | None = None  # clicked before signing in: opened at sign-in
        self.login_window: LoginWindow | None = None
        self.register_dialog: RegisterDialog | None = None  # the last one opened
        self._restore_retries = 0
        self._attempt = 0  # numbers each resume or sign-in; a late answer to an older one is ignored
        self._restore_timer = QTimer(self, singleShot=True)
        self._restore_timer.timeout.connect(self._resume)
        self._cursor_timer = QTimer(self, interval=CURSOR_SAVE_MS)
        self._cursor_timer.timeout.connect(lambda: self._save_cursor(self.session, in_background=True))
        self._shut_down = False
        # Settings listeners run on the thread that made the change: hop to the GUI thread.
        self.settings.add_listener(lambda name, value: self.bridge.post(self._setting_changed, name, value))
        self.tray.open_requested.connect(self.show_front)
        self.tray.quit_requested.connect(self.quit)
        self.tray.notification_clicked.connect(self._notification_clicked)
        self.tray.restart_requested.connect(self.restart_to_update)
        self.updates.restart_requested.connect(self.restart_to_update)
        self.updates.changed.connect(lambda: self.tray.set_update_ready(self.updates.ready))

    # -- life -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Tray first, then resume the last session or ask to sign in; updates are checked
        in the background."""
        presets, enforced = installer_presets(), policies()
        self.settings.use_machine_values(presets, enforced)
        fingerprint, preset_server = preset_fingerprint(), enforced.get("server_url") or presets.get("server_url")
        if fingerprint and preset_server:
            self.pins.take_preset(preset_server, fingerprint)
        self._apply_start_at_login()
        self.desktop_notifications.start()
        self.tray.show()
        self.updates.start()
        account = self.store.last_account()
        server_url = self.settings.server_url
        if server_url and account is not None and account.server_url == normalize_server_url(server_url):
            self._resume()
        else:
            self._show_login()

    def show_front(self) -> None:
        """Bring the window in use forward (the tray's Open, a second launch)."""
        window = self.main_window or self.login_window
        if window is not None:
            window.show()
            window.showNormal()
            window.raise_()
            window.activateWindow()

    def quit(self) -> None:
        self.shutdown()
        QCoreApplication.quit()

    def restart_to_update(self) -> None:
        """Quit; `run()` then starts the program again, which swaps the update in first."""
        self.restart_requested = True
        self.quit()

    def shutdown(self) -> None:
        """Stop everything (services, windows, the tray); the saved session stays for next time."""
        if self._shut_down:
            return
        self._shut_down = True
        self._restore_timer.stop()
        self.updates.stop()
        session, _ = self._drop_session()
        if session is not None:
            session.close()
            self._save_cursor(session)
            session.api.close()
        if self.login_window is not None:
            self.login_window.close()
        self.tray.hide()
        self.desktop_notifications.stop()
        self.bridge.close()

    def _keeps_running(self) -> bool:
        """Whether closing the main window leaves the client in the tray."""
        return self.tray.available and self.settings.close_to_tray

    def _new_api(self, server_url: str, *, keep_session: bool = True) -> ApiClient:
        return ApiClient(server_url, self.store if keep_session else None, language=self.settings.effective_language,
                         trust=ServerTrust(server_url, self.pins))

    # -- resuming -----------------------------------------------------------------------------------

    def _resume(self) -> None:
        self._attempt += 1
        attempt = self._attempt
        api = self._new_api(self.settings.server_url)
        if self.login_window is not None:
            self.login_window.show_info(tr("login.restoring"))
        self.bridge.run(api.restore).then(lambda user: self._resumed(attempt, api, user)).fail(
            lambda exc: self._resume_failed(attempt, api, exc))

    def _resumed(self, attempt: int, api: ApiClient, user: dict | None) -> None:
        if attempt != self._attempt or user is None:
            # Signed in by hand meanwhile, or nothing to resume: this client is not needed.
            api.close()
            if attempt == self._attempt:
                self._show_login().show_info("")
            return
        self._start_session(api)

    def _resume_failed(self, attempt: int, api: ApiClient, exc: BaseException) -> None:
        api.close()
        if attempt != self._attempt:
            return
        if isinstance(exc, ServerUnreachable):
            # The saved session is still good: keep trying while the user does nothing else.
            self._show_login().show_info(tr("login.restore_retry"))
            self._restore_timer.start(round(RESTORE_BACKOFF.wait(self._restore_retries) * 1000))
            self._restore_retries += 1
        elif isinstance(exc, ServerRefused):
            self._show_login(error=exc.message_localized)
        elif isinstance(exc, ServerTrustError):
            self._show_login()
            self._certificate_refused(exc, api.server_url, self._resume)
        else:
            raise exc

    # -- signing in and out ------------------------------------------------------------------------------

    def _show_login(self, *, error: str = "", busy: bool = False) -> LoginWindow:
        if self.login_window is None:
            account = self.store.last_account()
            self.login_window = LoginWindow(self.settings.server_url, account.username if account else "",
                                            self.settings.device_name, self.settings.remember_me)
            self.login_window.sign_in_requested.connect(self._sign_in)
            self.login_window.register_requested.connect(self._register)
            self.login_window.server_chosen.connect(self._probe_server)
            if self.settings.server_url:
                self._probe_server(self.settings.server_url)
            elif self.local_server_url:
                self._offer_local_server(self.local_server_url)
            if self.discover is not None:
                window = self.login_window
                self.bridge.run(self.discover, owner=window).then(window.found_servers.show_servers).fail(
                    lambda exc: log.info("no servers found on the network (%s)", exc))
        window = self.login_window
        window.set_busy(busy)
        if error:
            window.show_error(error)
        window.show()
        window.raise_()
        window.activateWindow()
        self.tray.set_status("")
        self.tray.set_unread(0)
        self.signed_out.emit()
        return window

    def _sign_in(self, server_url: str, username: str, password: str, device_name: str, remember: bool) -> None:
        self._restore_timer.stop()
        self._attempt += 1
        attempt = self._attempt
        api = self._new_api(server_url)
        self.login_window.set_busy(True)
        self.bridge.run(api.sign_in, username, password, device_name=device_name, remember=remember).then(
            lambda user: self._signed_in(attempt, api, device_name, remember, password)).fail(
            lambda exc: self._sign_in_failed(attempt, api, exc, lambda: self._sign_in(
                server_url, username, password, device_name, remember)))

    def _signed_in(self, attempt: int, api: ApiClient, device_name: str, remember: bool, password: str) -> None:
        if attempt != self._attempt or self.session is not None:
            api.close()
            return
        self.settings.update(server_url=api.server_url, device_name=device_name, remember_me=remember)
        self._start_session(api)
        # Hashed off the GUI thread; a backup passphrase equal to it is refused.
        self.bridge.run(self.session.keys.remember_login_password, password)
        if api.password_is_initial:
            # The first-run admin: the password printed at the server's first start is not for keeps.
            self.main_window.account(first_password=password)

    def _sign_in_failed(self, attempt: int, api: ApiClient, exc: BaseException, again: Callable[[], None]) -> None:
        api.close()
        if attempt != self._attempt or self.login_window is None:
            return
        self.login_window.set_busy(False)
        if isinstance(exc, ServerRefused):
            self.login_window.show_error(exc.message_localized)
        elif isinstance(exc, ServerUnreachable):
            self.login_window.show_error(tr("login.unreachable"))
        elif isinstance(exc, ServerTrustError):
            self._certificate_refused(exc, api.server_url, again)
        else:
            raise exc

    def _certificate_refused(self, exc: ServerTrustError, server_url: str, again: Callable[[], None]) -> None:
        """A new server's certificate: ask, pin it and try `again`. A pinned server's other
        certificate: refuse, and say so."""
        window = self.login_window
        window.show_error(localized(exc.code, self.settings.effective_language))
        if exc.code == UNTRUSTED:
            dialog = TrustDialog(exc.server, exc.fingerprint, window)
            dialog.accepted.connect(lambda: (self.pins.trust(server_url, exc.fingerprint), window.show_error(""),
                                             again()))
        else:
            dialog = CertificateChangedDialog(exc.server, exc.fingerprint, exc.pinned or "", window)
        dialog.finished.connect(dialog.deleteLater)
        self.trust_dialog = dialog
        dialog.open()

    def _register(self, server_url: str) -> None:
        if not server_url:
            self.login_window.show_error(tr("login.bad_server"))
            return
        api = self._new_api(server_url, keep_session=False)
        dialog = RegisterDialog(lambda username, password, nickname: self.bridge.run(
            api.register, username, password, nickname, owner=dialog), self.login_window)
        dialog.accepted.connect(lambda: self._registered(dialog.registered_username))
        dialog.finished.connect(lambda _: (api.close(), dialog.deleteLater()))
        self.register_dialog = dialog
        dialog.open()

    def _registered(self, username: str) -> None:
        if self.login_window is not None:
            self.login_window.username.setText(username)
            self.login_window.password.clear()
            self.login_window.password.setFocus()
            self.login_window.show_info(tr("login.registered"))

    def _offer_local_server(self, url: str) -> None:
        """No server chosen yet: if one answers on this computer, fill it in (unless the user
        has typed something meanwhile)."""
        window = self.login_window
        self.bridge.run(local_server, url, owner=window).then(lambda found: self._local_server_found(window, found))

    def _local_server_found(self, window: LoginWindow, url: str | None) -> None:
        if url and window is self.login_window and not window.server_url():
            window.offer_server(url)
            self._probe_server(url)

    def _probe_server(self, server_url: str) -> None:
        """Ask the server (quietly) whether it takes registrations, to show or hide the link.
        A server that does not say is assumed to; its refusal is shown if it does not."""
        api = self._new_api(server_url, keep_session=False)
        window = self.login_window
        self.bridge.run(api.health, owner=window).then(
            lambda health: window.set_registration_open(bool(health.get("self_registration", True)))).fail(
            lambda exc: None).always(api.close)

    def _start_session(self, api: ApiClient) -> None:
        self._restore_retries = 0
        session = ChatSession(api, self.dirs, self.bridge, self.store, realtime_options={
                                  **self.realtime_options, "cursor": load_cursor(self._cursor_file(api))},
                              outbox_options=self.outbox_options, parent=self)
        window = MainWindow(session, self.settings, self.text, self._keeps_running)
        session.ended.connect(self._session_ended)
        window.settings_requested.connect(self.open_settings)
        window.sign_out_requested.connect(self.sign_out)
        window.quit_requested.connect(self.quit)
        window.notify.connect(self._notify)
        window.status_changed.connect(self._connection_shown)
        window.rooms.unread_total_changed.connect(self.tray.set_unread)
        self.session, self.main_window = session, window
        session.start()
        self._cursor_timer.start()
        window.load_rooms()
        if self._room_asked is not None:
            window.open_room(self._room_asked)
            self._room_asked = None
        window.show()
        window.activateWindow()
        if self.login_window is not None:
            self.login_window.close()
            self.login_window.deleteLater()
            self.login_window = None
        self.signed_in.emit()

    def sign_out(self) -> None:
        """Revoke this device, forget its token, and go back to the login window."""
        session, _ = self._drop_session()
        if session is None:
            return
        window = self._show_login(busy=True)
        # The login form waits for the revocation: signing in again before it ends could
        # have the old session's clean-up forget the new token.
        session.sign_out().always(lambda: self._signed_out(session, window))

    def _signed_out(self, session: ChatSession, window: LoginWindow) -> None:
        session.api.close()
        session.deleteLater()
        if window is self.login_window:
            window.set_busy(False)
            window.password.clear()
            window.password.setFocus()

    def _session_ended(self) -> None:
        """The server ended the session (revoked elsewhere, expired, password changed)."""
        session, _ = self._drop_session()
        if session is None:
            return
        self.bridge.run(session.close).always(lambda: (session.api.close(), session.deleteLater()))
        self._show_login(error=tr("account.password_changed" if session.password_changed else "login.signed_out_elsewhere"))

    def _cursor_file(self, api: ApiClient) -> Path:
        """Where the account's event cursor waits for the next run (named as its outbox is)."""
        outbox = outbox_path(self.dirs.data, api.server_url, api.user["username"])
        return self.dirs.data / "events" / f"{outbox.stem}.cursor"

    def _save_cursor(self, session: ChatSession | None, *, in_background: bool = False) -> None:
        cursor = session.realtime.cursor if session is not None else None
        if cursor is None:
            return
        path = self._cursor_file(session.api)
        if in_background:
            self.bridge.run(save_cursor, path, cursor)
        else:
            save_cursor(path, cursor)

    def _drop_session(self) -> tuple[ChatSession | None, MainWindow | None]:
        session, window = self.session, self.main_window
        self.session, self.main_window = None, None
        if window is not None:
            window.close_for_good()
            window.deleteLater()
        return session, window

    # -- desktop ---------------------------------------------------------------------------------------------

    def _notify(self, room_id: int, title: str, text: str) -> None:
        # No tray, or Windows holds toasts back (Focus Assist): at least flash the taskbar button.
        if not self.tray.notify(room_id, title, text) or toasts_held_back(self.desktop):
            self._ask_attention()

    def _ask_attention(self) -> None:
        if self.main_window is not None:
            QApplication.alert(self.main_window)  # until the window is used
            self.attention_asked.emit()

    def _notification_clicked(self, room_id: int) -> None:
        self.show_front()
        if not room_id:  # the settings' test notification
            return
        if self.main_window is not None:
            self.main_window.open_room(room_id)
        else:  # a toast's click started the client (Windows): its room opens once signed in
            self._room_asked = room_id

    def _connection_shown(self, text: str) -> None:
        if self.session is not None:
            user = self.session.user
            self.tray.set_status(tr("tray.status", name=user.get("nickname") or user["username"], state=text))

    def open_settings(self) -> SettingsDialog:
        """Open the settings dialog (modal to its window); what it saves takes effect through
        the settings listener."""
        parent: QWidget | None = self.main_window or self.login_window
        dialog = SettingsDialog(self.settings, signed_in=self.session is not None,
                                tray_available=self.tray.available, updates=self.updates,
                                start_at_login_by_it=self.autostart is not None and self.autostart.machine_wide,
                                parent=parent)
        dialog.test_notification_requested.connect(
            lambda: self._notify(0, tr("tray.tooltip"), tr("settings.test_notification_text")))
        dialog.notification_doctor_requested.connect(lambda: self.open_notification_doctor(dialog))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def open_notification_doctor(self, parent: QWidget) -> Call:
        """Run the notification checks on a worker thread, then show what they found."""
        muted = [room.title for room in self.main_window.rooms.rooms() if room.muted] if self.main_window else []

        def show(findings):
            self.doctor_dialog = NotificationDoctorDialog(findings, parent)
            self.doctor_dialog.finished.connect(self.doctor_dialog.deleteLater)
            self.doctor_dialog.open()

        return self.bridge.run(diagnose, self.desktop, notifications_on=self.settings.notifications, muted_rooms=muted,
                               owner=parent).then(show)

    def _apply_language(self) -> None:
        """Speak the chosen (or the system's) language, Qt's own buttons and dialogs included."""
        locale = self.settings.effective_language
        set_language(locale)
        QCoreApplication.removeTranslator(self._qt_translator)
        folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
        if self._qt_translator.load(f"qtbase_{locale.split('-')[0]}", folder):
            QCoreApplication.installTranslator(self._qt_translator)

    def _setting_changed(self, name: str, value) -> None:
        if name == "language":
            self._apply_language()
            if self.session is not None:
                self.session.api.language = self.settings.effective_language
            for window in (self.main_window, self.login_window):
                if window is not None:
                    window.retranslate()
            self.tray.retranslate()
        elif name == "start_at_login":
            self._apply_start_at_login()
        elif name == "server_url":
            self.updates.check_now()  # the first check may have come before any server was chosen
            if self.session is not None and normalize_server_url(value) != self.session.api.server_url:
                self.sign_out()
            if self.login_window is not None:
                self.login_window.server.setText(value)

    def _apply_start_at_login(self) -> None:
        """Make the system match the setting (the setting wins over a change made outside);
        a start for every user set by IT is neither doubled nor undone."""
        if self.autostart is None or self.autostart.machine_wide:
            return
        try:
            if self.settings.start_at_login:
                self.autostart.enable()  # rewritten each start: the program may have moved
            elif self.autostart.is_enabled():
                self.autostart.disable()
        except OSError:
            log.warning("start at login: cannot apply the setting", exc_info=True)
