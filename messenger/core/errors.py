"""Stable error codes with their Korean and English texts.

Both sides use this table: the server to answer, the client to show a code it
received in the user's language. Codes never change once released.
"""

from __future__ import annotations

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
}


def localized(code: str, locale: str) -> str:
    """The text for `code` in `locale` (Korean unless English is asked for)."""
    _, ko, en = ERRORS.get(code, ERRORS["INTERNAL_ERROR"])
    return en if locale == "en-US" else ko


def pick_locale(*candidates: str | None) -> str:
    """The first supported locale among header-like values ("en", "en-US,en;q=0.9", ...)."""
    for value in candidates:
        if not value:
            continue
        for part in value.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("en"):
                return "en-US"
            if tag.startswith("ko"):
                return "ko-KR"
    return DEFAULT_LOCALE
