"""Stable error codes with their Korean and English texts.

Both sides use this table: the server to answer, the client to show a code it
received in the user's language. Codes never change once released.
"""

from __future__ import annotations

import re

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

DEFAULT_LOCALE = "ko-KR"
LOCALES = ("ko-KR", "en-US")

# code: (HTTP status, Korean text, English text)
ERRORS: dict[str, tuple[int, str, str]] = {
    # request shape
    "INVALID_JSON": (400, "요청 본문이 올바른 JSON이 아닙니다.", "The request body is not valid JSON."),
    "VALIDATION_ERROR": (400, "입력값이 올바르지 않습니다.", "Some input is not valid."),
    "PAYLOAD_TOO_LARGE": (413, "요청이 너무 큽니다.", "The request is too large."),
    "NOT_FOUND": (404, "찾을 수 없습니다.", "Not found."),
    "METHOD_NOT_ALLOWED": (405, "허용되지 않는 요청 방식입니다.", "This method is not allowed here."),
    "RATE_LIMITED": (429, "요청이 너무 많습니다. 잠시 후 다시 시도하세요.", "Too many requests. Try again later."),
    "INTERNAL_ERROR": (500, "서버 오류가 발생했습니다.", "The server hit an error."),
    # authentication
    "AUTH_REQUIRED": (401, "로그인이 필요합니다.", "You need to sign in."),
    "AUTH_INVALID_CREDENTIALS": (401, "아이디 또는 비밀번호가 올바르지 않습니다.", "Wrong username or password."),
    "AUTH_TOKEN_INVALID_OR_EXPIRED": (401, "세션이 만료되었거나 유효하지 않습니다.", "The session expired or is not valid."),
    "AUTH_ACCOUNT_DISABLED": (403, "사용이 중지된 계정입니다.", "This account is disabled."),
    "AUTH_WRONG_PASSWORD": (403, "현재 비밀번호가 올바르지 않습니다.", "The current password is wrong."),
    "CSRF_FAILED": (403, "보안 토큰(CSRF)이 올바르지 않습니다.", "The security token (CSRF) is missing or wrong."),
    "ORIGIN_NOT_ALLOWED": (403, "허용되지 않은 출처의 요청입니다.", "Requests from this origin are not allowed."),
    "BROWSER_ACCESS_DISABLED": (403, "데스크톱 전용 모드에서는 브라우저로 접속할 수 없습니다.", "Browser access is off: this server is desktop-only."),
    "REGISTRATION_DISABLED": (403, "회원 가입이 허용되지 않습니다.", "Self-registration is turned off."),
    "USERNAME_TAKEN": (409, "이미 사용 중인 아이디입니다.", "This username is taken."),
    "PASSWORD_TOO_WEAK": (400, "비밀번호는 8자 이상이어야 합니다.", "The password needs at least 8 characters."),
    # permissions
    "FORBIDDEN": (403, "권한이 없습니다.", "You are not allowed to do this."),
    "ROOM_ADMIN_REQUIRED": (403, "방 관리자만 할 수 있습니다.", "Only a room admin can do this."),
    "PLATFORM_ADMIN_REQUIRED": (403, "관리자만 할 수 있습니다.", "Only an administrator can do this."),
    # rooms
    "ROOM_NOT_FOUND": (404, "대화방을 찾을 수 없습니다.", "Room not found."),
    "USER_NOT_FOUND": (404, "사용자를 찾을 수 없습니다.", "User not found."),
    "ROOM_LAST_ADMIN": (409, "마지막 방 관리자는 해제할 수 없습니다.", "The last room admin cannot be removed."),
    "ROOM_CANNOT_KICK_ADMIN": (403, "방 관리자는 내보낼 수 없습니다.", "A room admin cannot be removed from the room."),
    "ROOM_DIRECT_FIXED": (409, "1:1 대화방의 구성원은 바꿀 수 없습니다.", "The members of a direct room cannot change."),
    "ROOM_NOT_MEMBER": (404, "대화방의 구성원이 아닙니다.", "This user is not in the room."),
    "PIN_NOT_FOUND": (404, "공지를 찾을 수 없습니다.", "Notice not found."),
    # messages
    "MESSAGE_NOT_FOUND": (404, "메시지를 찾을 수 없습니다.", "Message not found."),
    "MESSAGE_TOO_LONG": (413, "메시지가 너무 깁니다.", "The message is too long."),
    "MESSAGE_TYPE_NOT_ALLOWED": (400, "보낼 수 없는 메시지 종류입니다.", "This message type cannot be sent."),
    "MESSAGE_NOT_SENDER": (403, "본인이 보낸 메시지만 바꿀 수 있습니다.", "Only the sender can change this message."),
    "MESSAGE_DELETED": (409, "삭제된 메시지입니다.", "The message was deleted."),
    "REPLY_NOT_IN_ROOM": (400, "답장 대상 메시지가 이 대화방에 없습니다.", "The replied message is not in this room."),
    "UPLOAD_TOKEN_INVALID": (400, "파일 전송 토큰이 유효하지 않습니다.", "The upload token is not valid."),
    # profile
    "IMAGE_INVALID": (400, "지원하지 않는 이미지입니다 (png, jpg, gif, webp).", "Unsupported image (png, jpg, gif, webp)."),
    # platform administration
    "ADMIN_SELF_ACTION": (409, "자신의 계정은 중지하거나 삭제할 수 없습니다.", "Administrators cannot disable or delete their own account."),
    "LAST_PLATFORM_ADMIN": (409, "마지막 관리자는 중지하거나 삭제할 수 없습니다.", "The last platform administrator cannot be disabled or deleted."),
    "DEVICE_SESSION_NOT_FOUND": (404, "기기 세션을 찾을 수 없습니다.", "Device session not found."),
    # client updates
    "CLIENT_VERSION_INVALID": (400, "클라이언트 버전 형식이 올바르지 않습니다.", "The client version is not a valid version."),
    "UPDATE_CHANNEL_INVALID": (400, "업데이트 채널은 stable 또는 canary여야 합니다.", "The update channel must be stable or canary."),
    # end-to-end keys
    "DEVICE_TOKEN_REQUIRED": (403, "암호화 키는 로그인한 데스크톱 기기에서만 다룰 수 있습니다.", "Encryption keys are handled by a signed-in desktop device only."),
    "DEVICE_KEYS_NOT_PUBLISHED": (409, "이 기기의 공개 키가 아직 등록되지 않았습니다.", "This device has not published its public keys yet."),
    "DEVICE_KEYS_ALREADY_PUBLISHED": (409, "이 기기는 이미 다른 공개 키를 등록했습니다. 새 키는 다시 로그인해서 새 기기로 등록하세요.", "This device already published other public keys; sign in again to register new ones as a new device."),
    "ROOM_KEY_VERSION_CONFLICT": (409, "대화방 키 버전이 맞지 않습니다. 키 상태를 다시 불러오세요.", "The room key version does not match; reload the room's key state."),
    "ROOM_KEY_TARGET_INVALID": (403, "대화방 구성원의 사용 중인 기기에만 대화방 키를 보낼 수 있습니다.", "Room keys can only be sealed to live devices of the room's members."),
    "ROOM_KEY_NOT_ENTITLED": (403, "이 대화방 키 버전을 받을 수 없습니다.", "This room key version is not available to this member."),
    "ROOM_KEY_PACKAGE_TOO_LARGE": (413, "봉인된 키가 너무 큽니다.", "A sealed key package is too large."),
    "KEY_BACKUP_NOT_FOUND": (404, "키 백업이 없습니다.", "There is no key backup."),
    "IDENTITY_KEY_NOT_FOUND": (404, "아직 신원 키가 없습니다.", "There is no identity key yet."),
    "IDENTITY_KEY_ALREADY_PUBLISHED": (409, "이 사용자는 이미 다른 신원 키를 등록했습니다.", "This user already published another identity key."),
    "KEY_BACKUP_VERSION_CONFLICT": (409, "다른 기기가 키 백업을 먼저 바꿨습니다. 다시 불러와 합친 뒤 저장하세요.", "Another device changed the key backup first; reload, merge and save again."),
    "KEY_BACKUP_TOO_LARGE": (413, "키 백업이 너무 큽니다.", "The key backup is too large."),
    # files
    "FILE_TOO_LARGE": (413, "파일이 너무 큽니다.", "The file is too large."),
    "UPLOAD_QUOTA_EXCEEDED": (413, "파일 저장 공간이 부족합니다. 예전 파일을 지운 뒤 다시 시도하세요.", "Your file storage is full; delete old files and try again."),
    "FILE_TYPE_NOT_ALLOWED": (415, "보낼 수 없는 파일 형식입니다.", "This kind of file cannot be sent."),
    "FILE_CONTENT_MISMATCH": (415, "파일 내용이 확장자와 맞지 않습니다.", "The file's content does not match its extension."),
    "PLAINTEXT_UPLOAD_DISABLED": (403, "이 서버에서는 암호화한 파일만 보낼 수 있습니다.", "This server accepts end-to-end encrypted files only."),
    "PLAINTEXT_MESSAGE_DISABLED": (403, "이 서버에서는 종단 간 암호화한 메시지만 보낼 수 있습니다.", "This server accepts end-to-end encrypted messages only."),
    "FILE_NOT_FOUND": (404, "파일을 찾을 수 없습니다.", "File not found."),
    "FILE_DELETE_NOT_ALLOWED": (403, "올린 사람이나 방 관리자만 파일을 지울 수 있습니다.", "Only the uploader or a room admin can delete this file."),
    # polls
    "POLL_NOT_FOUND": (404, "투표를 찾을 수 없습니다.", "Poll not found."),
    "POLL_CLOSED": (409, "마감된 투표입니다.", "The poll is closed."),
    "POLL_OPTION_INVALID": (400, "이 투표의 선택지가 아니거나 선택 개수가 맞지 않습니다.", "The choice is not an option of this poll, or the number of choices is wrong."),
    "POLL_CLOSE_NOT_ALLOWED": (403, "투표를 만든 사람이나 방 관리자만 마감할 수 있습니다.", "Only the poll's creator or a room admin can close it."),
    # end-to-end encryption on the client (never sent by the server; shown in place of a message or for a failed step)
    "E2E_MALFORMED": (400, "암호화된 내용의 형식이 올바르지 않아 열 수 없습니다.", "The encrypted content is malformed and cannot be opened."),
    "E2E_WRONG_KEY": (400, "이 기기에는 이 메시지를 열 키가 없습니다.", "This device has no key for this message."),
    "E2E_TAMPERED": (400, "보낸 뒤에 내용이 바뀐 메시지라서 표시하지 않습니다.", "This message was changed after it was sent, so it is not shown."),
    "E2E_AUTH_FAILED": (400, "열 수 없습니다. 키가 다르거나 내용이 바뀌었습니다.", "Cannot open: the key is wrong or the content was changed."),
    "E2E_UNVERIFIED_SENDER": (400, "보낸 기기를 확인할 수 없어 받지 않았습니다.", "Refused: it was not sealed by the device it claims."),
    "E2E_SIGNATURE_INVALID": (400, "보낸 기기의 서명이 맞지 않아(내용이 바뀌었거나 다른 대화방에서 옮겨 왔습니다) 표시하지 않습니다.", "The sender's signature does not check (changed, or moved from another room), so it is not shown."),
    "E2E_MISATTRIBUTED": (400, "서버가 보여 주는 보낸 사람이나 답장·수정 대상이 서명된 것과 달라 표시하지 않습니다.", "The server shows another sender, type or reply or edit target than the one signed, so it is not shown."),
    "E2E_REPLAYED": (400, "이미 받은 메시지를 서버가 다시 보냈습니다. 표시하지 않습니다.", "The server sent an earlier message again; it is not shown."),
    "E2E_REORDERED": (400, "보낸 사람의 메시지 순서가 바뀌어 있어 표시하지 않습니다.", "This message is out of its sender's order, so it is not shown."),
    "E2E_MEMBER_UNVOUCHED": (400, "대화방 구성원이 추가한 적 없는 사람이 구성원 목록에 있습니다(서버가 추가했을 수 있습니다). 그 사람에게는 키를 보내지 않습니다.", "The member list shows someone no member added (the server may have); no keys go to them."),
    "E2E_NOT_SIGNED": (400, "서명되지 않은 이전 방식 메시지입니다. 보낸 사람은 서버가 알려 준 것입니다.", "Not signed (an earlier format): the sender shown is the server's word."),
    "E2E_OLD_FORMAT": (400, "예전 메신저의 메시지입니다. 그 서버가 대화방 키를 가지고 있었습니다.", "Old format: the previous messenger's server held this room's key."),
    "E2E_WAITING_FOR_KEYS": (400, "🔒 키를 기다리는 중입니다. 키가 도착하면 저절로 열립니다.", "🔒 Waiting for keys; this opens by itself when they arrive."),
    "E2E_NOT_ENCRYPTED": (400, "종단간 암호화되지 않은 메시지입니다.", "This message is not end-to-end encrypted."),
    "E2E_ROOM_KEY_UNAVAILABLE": (400, "대화방 키를 준비하지 못해 보내지 못했습니다. 잠시 후 다시 시도하세요.", "No room key could be made or received, so nothing was sent. Try again shortly."),
    "E2E_DEVICE_KEYS_LOST": (400, "이 기기의 암호화 키를 찾을 수 없습니다. 다시 로그인하세요.", "This device's encryption keys are gone. Sign in again."),
    "E2E_DEVICE_UNVERIFIED": (400, "이 기기는 아직 승인되지 않았습니다. 다른 기기에서 확인 코드로 승인하거나 복구 키를 입력하세요.", "This device is not approved yet: approve it from another of your devices with its code, or enter your recovery key."),
    "E2E_VERIFICATION_CODE_WRONG": (400, "확인 코드가 맞지 않습니다. 승인하지 않았습니다.", "The verification code does not match; nothing was approved."),
    "E2E_IDENTITY_CHANGED": (400, "상대의 신원 키가 바뀌었습니다. 안전 번호를 직접 확인하기 전에는 그 기기에 키를 보내지 않습니다.", "This person's identity key changed; no keys go to their devices until you check the safety number."),
    "E2E_IDENTITY_UNAVAILABLE": (400, "이 기기에는 신원 키가 없어 다른 기기를 승인할 수 없습니다.", "This device does not hold your identity key, so it cannot approve devices."),
    "E2E_RECOVERY_KEY_WRONG": (400, "복구 키가 틀렸거나 복구 정보가 손상되었습니다.", "The recovery key is wrong, or the recovery data is damaged."),
    "E2E_BACKUP_PASSPHRASE_WEAK": (400, "키 백업 암호는 12자 이상이어야 합니다.", "A key backup passphrase needs at least 12 characters."),
    "E2E_BACKUP_PASSPHRASE_IS_PASSWORD": (400, "키 백업 암호는 로그인 비밀번호와 달라야 합니다. 서버는 로그인할 때마다 비밀번호를 봅니다.", "The key backup passphrase must not be your login password: the server sees that at every sign-in."),
    "E2E_BACKUP_PASSPHRASE_WRONG": (400, "키 백업 암호가 틀렸거나 백업이 손상되었습니다.", "The key backup passphrase is wrong, or the backup is damaged."),
    # the client itself
    "SERVER_UNREACHABLE": (503, "서버에 연결할 수 없습니다.", "Cannot reach the server."),
    "TIMED_OUT": (408, "정해진 시간 안에 끝나지 않았습니다.", "It did not finish in time."),
    "SERVER_CERTIFICATE_UNTRUSTED": (495, "이 컴퓨터가 아직 신뢰하지 않은 서버 인증서입니다. 관리자가 알려 준 지문과 같은지 확인하세요.",
                                     "This desk has not trusted the server's certificate yet. Compare its fingerprint with the one your administrator gave."),
    "SERVER_CERTIFICATE_CHANGED": (495, "서버 인증서가 이 컴퓨터가 신뢰하는 것과 다릅니다. 누군가 서버를 사칭하고 있을 수 있으니 연결하지 않았습니다. 관리자에게 문의하세요.",
                                   "The server's certificate is not the one this desk trusts. Someone may be impersonating the server, so the desk did not connect. Ask your administrator."),
}


def localized(code: str, locale: str) -> str:
    """The text for `code` in `locale` (Korean unless English is asked for)."""
    _, ko, en = ERRORS.get(code, ERRORS["INTERNAL_ERROR"])
    return en if locale == "en-US" else ko


def pick_locale(*candidates: str | None) -> str:
    """The supported locale that the first header-like value naming one likes best, by its q
    weights ("en", "en-US,en;q=0.9", "ko;q=0.5, en"); Korean when none does."""
    languages = {locale.split("-")[0]: locale for locale in LOCALES}
    for value in candidates:
        if not value:
            continue
        # One region per language here, so a tag's language alone decides (en-GB reads English),
        # by its first two letters: Windows names the system's locale "English_United States".
        accepted = LanguageAccept([(re.split("[-_]", tag, maxsplit=1)[0][:2].lower(), q)
                                   for tag, q in parse_accept_header(value, LanguageAccept)])
        language = accepted.best_match(list(languages))
        if language is not None:
            return languages[language]
    return DEFAULT_LOCALE
