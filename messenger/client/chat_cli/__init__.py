"""`messenger chat ...`: the scriptable command-line client, on the desktop app's services.

    messenger chat --server https://chat.office:5000 login alice --password-stdin
    messenger chat rooms
    messenger chat send ROOM "text"            (TEXT "-": read it from standard input)
    messenger chat send-file ROOM PATH
    messenger chat history ROOM --limit 20
    messenger chat tail ROOM --count 1 --timeout 60
    messenger chat backup-keys --passphrase-stdin / restore-keys --passphrase-stdin
    messenger chat devices                     (your devices: verified or waiting for approval)
    messenger chat approve DEVICE_ID --code "12345 67890 12345"
    messenger chat recover --recovery-key-stdin (approve this device with your recovery key)
    messenger chat safety-number @username / trust @username
    messenger chat reset-identity --yes        (every device and the recovery key lost)
    messenger chat logout

ROOM is a room id, a room's exact name, or `@username` for the direct room with that person
(made if there is none yet). Everything is end-to-end encrypted as in the desktop app: this
is a device of its own, with its own keys. Its state (token and device keys in the OS keyring
or the protected fallback file, the sealed room-key cache, settings) lives in --home DIR,
$MESSENGER_CLIENT_HOME, or its own platform folders (a `chat` folder in the desktop app's),
so that it never shares a sign-in with the desktop app.

Output: messages on standard output (one line each; --json: one JSON object per line), status
lines on standard error. What `history` and `tail` print counts as read (--keep-unread: not).
Exit codes: 0 done, 1 failed (standard error names the stable error code: `error: CODE: text`),
2 usage. Warnings that do not stop a command are standard error lines `warning: CODE: text`
(E2E_DEVICE_UNVERIFIED, E2E_IDENTITY_CHANGED).

Verified devices: each user has an identity key, made on their first device, that signs their
devices. A new device of yours gets no keys until one of your devices that holds the identity
approves it (`devices` there shows it, `approve` with the code the new device prints), or until
you enter the recovery key on it (`recover`); the recovery key is printed once, when the
identity is made. Other people's identities are pinned on first use; a changed one is refused
and warned about until you compare the safety number and `trust` it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line itself is wrong: exit 2."""


def add_chat_commands(commands) -> None:
    """The `chat` subcommand and its own subcommands (kept light: services load on use)."""
    chat = commands.add_parser("chat", help="command-line client: end-to-end encrypted messages for scripts",
                               description="The command-line client. ROOM: a room id, its exact name, or @username.")
    chat.add_argument("--server", help="server address, e.g. https://chat.office:5000 (default: the last one)")
    chat.add_argument("--home", type=Path,
                      help="this client's folder (default: $MESSENGER_CLIENT_HOME, else its own platform "
                           "folders, apart from the desktop app's)")
    chat.add_argument("--lang", choices=["ko-KR", "en-US"], help="language of error texts (default: the setting)")
    chat.add_argument("--ca-bundle", help="CA certificate file for a server with its own certificate")
    chat.add_argument("--trust", metavar="FINGERPRINT",
                      help="the SHA-256 fingerprint the administrator gave for a server this folder has not "
                           "trusted yet (messenger admin show-fingerprint); else it asks on a terminal")
    chat.add_argument("--discover", action="store_true",
                      help="list the messenger servers announced on the local network, then exit")
    chat.add_argument("--verbose", action="store_true", help="log what the client does on standard error")
    sub = chat.add_subparsers(dest="chat_command", metavar="COMMAND")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="one JSON object per line")
    # The options of the two commands that print messages (history, tail).
    reading = argparse.ArgumentParser(add_help=False)
    reading.add_argument("--save-files", type=Path, metavar="DIR", help="download and decrypt files into DIR")
    reading.add_argument("--keep-unread", action="store_true",
                         help="leave your read mark where it is (default: what is printed counts as read)")

    login = sub.add_parser("login", help="sign in: this folder becomes a new device with its own keys")
    login.add_argument("username", nargs="?")
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    login.add_argument("--device-name", help="how this device shows in the session list")
    sub.add_parser("logout", help="sign this device out and forget its keys")
    sub.add_parser("rooms", help="list your rooms", parents=[output])
    send = sub.add_parser("send", help="send an encrypted text message; prints its id")
    send.add_argument("room")
    send.add_argument("text", help='the message ("-": read it from standard input)')
    send_file = sub.add_parser("send-file", help="encrypt a file, send it (an image if it is one); prints its id")
    send_file.add_argument("room")
    send_file.add_argument("path", type=Path)
    history = sub.add_parser("history", help="print a room's latest messages, decrypted, oldest first",
                             parents=[output, reading])
    history.add_argument("room")
    history.add_argument("--limit", type=int, default=50, help="how many messages (default 50)")
    history.add_argument("--wait-keys", type=float, default=5.0, metavar="SECONDS",
                         help="wait this long for missing keys to arrive (default 5)")
    tail = sub.add_parser("tail", help="print messages as they arrive, decrypted (Ctrl+C stops)",
                          parents=[output, reading])
    tail.add_argument("room")
    tail.add_argument("--count", type=int, help="stop after this many messages (exit 1 if --timeout comes first)")
    tail.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after this long")
    tail.add_argument("--wait-keys", type=float, default=10.0, metavar="SECONDS",
                      help="hold a message waiting for its key this long before printing it as waiting (default 10)")
    # The key backup's secret, for the two commands that open it (backup-keys, restore-keys).
    backup_secret = argparse.ArgumentParser(add_help=False)
    backup_secret.add_argument("--passphrase-stdin", action="store_true", help="read the passphrase from standard input")
    backup_secret.add_argument("--recovery-key-stdin", action="store_true",
                               help="the backup is under your recovery key instead of a passphrase: read it from "
                                    "standard input")
    backup = sub.add_parser("backup-keys", help="store this device's room keys in your encrypted key backup",
                            parents=[backup_secret])
    backup.add_argument("--start-over", action="store_true",
                        help="replace a backup whose passphrase is lost with this device's keys")
    sub.add_parser("restore-keys", help="take the room keys of your key backup", parents=[backup_secret])
    sub.add_parser("devices", help="your devices: verified, or waiting for approval (with this device's code)",
                   parents=[output])
    approve = sub.add_parser("approve", help="approve another of your devices after comparing its code")
    approve.add_argument("device_id", type=int)
    approve.add_argument("--code", required=True, help="the code the new device shows (spaces do not matter)")
    recover = sub.add_parser("recover", help="approve this device with your recovery key")
    recover.add_argument("--recovery-key-stdin", action="store_true", help="read the recovery key from standard input")
    safety = sub.add_parser("safety-number", help="the number you and USER compare to know your keys are real")
    safety.add_argument("user", help="@username or a user id")
    reset = sub.add_parser("reset-identity", help="make a new identity when every device and the recovery key are lost")
    reset.add_argument("--yes", action="store_true", required=True,
                       help="confirm: your contacts are warned, and what only the old identity's devices could read is lost")
    trust = sub.add_parser("trust", help="accept USER's changed identity (after comparing the safety number)")
    trust.add_argument("user", help="@username or a user id")


def run_chat(args) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from messenger.client.services.api import ServerRefused, ServerUnreachable
    from messenger.client.services.keys import E2EError
    from messenger.client.services.trust import ServerTrustError
    from messenger.core.e2e import EnvelopeError
    from messenger.core.errors import localized

    from messenger.client.chat_cli.commands import COMMANDS, cmd_discover
    from messenger.client.chat_cli.session import CliSession

    session = CliSession(args)
    try:
        if args.discover:
            return cmd_discover(args)
        if args.chat_command is None:
            raise UsageError("say what to do: a COMMAND, or --discover")
        session.ensure_trusted()
        return COMMANDS[args.chat_command](session, args)
    except UsageError as exc:
        print(f"messenger chat: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServerRefused as exc:
        signed_out = exc.code in ("AUTH_REQUIRED", "AUTH_TOKEN_INVALID_OR_EXPIRED")
        hint = "  (sign in: messenger chat login)" if signed_out else ""
        return _failed(exc.code, exc.message_localized, exc.message, hint)
    except (E2EError, EnvelopeError) as exc:
        return _failed(exc.code, localized(exc.code, session.language), str(exc))
    except ServerUnreachable as exc:
        return _failed("SERVER_UNREACHABLE", localized("SERVER_UNREACHABLE", session.language), str(exc))
    except ServerTrustError as exc:
        return _failed(exc.code, localized(exc.code, session.language), str(exc))
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        session.close()


def _failed(code: str, text: str, detail: str = "", hint: str = "") -> int:
    detail = f" ({detail})" if detail and detail not in (code, text) else ""
    print(f"error: {code}: {text}{detail}{hint}", file=sys.stderr)
    return EXIT_ERROR
