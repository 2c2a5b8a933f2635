"""The desktop client's words, in Korean and English, and how it writes dates and times.

`tr("login.sign_in")` gives a text in the current language; `set_language("en-US")`
changes it (the app follows the `language` setting, whose "auto" is the system's).
Error texts are not here: they come from the server, localized, or from
messenger.core.errors for a code the client names itself.
"""

from __future__ import annotations

from datetime import date, datetime

from messenger.core.errors import DEFAULT_LOCALE, LOCALES

# key: (Korean, English). `{name}` fields are filled by `tr(key, name=...)`.
TEXTS: dict[str, tuple[str, str]] = {
    "app.name": ("메신저", "Messenger"),
    # sign-in
    "login.title": ("메신저 로그인", "Sign in to Messenger"),
    "login.server": ("서버 주소", "Server address"),
    "login.server_hint": ("예: https://chat.office:5000", "e.g. https://chat.office:5000"),
    "login.username": ("아이디", "Username"),
    "login.password": ("비밀번호", "Password"),
    "login.device": ("기기 이름", "Device name"),
    "login.remember": ("로그인 상태 유지", "Keep me signed in"),
    "login.sign_in": ("로그인", "Sign in"),
    "login.signing_in": ("로그인하는 중…", "Signing in…"),
    "login.register": ("계정이 없으신가요? 회원 가입", "No account yet? Register"),
    "login.fill_all": ("서버 주소, 아이디, 비밀번호를 입력하세요.", "Enter the server address, username and password."),
    "login.bad_server": ("서버 주소는 http:// 또는 https://로 시작해야 합니다.",
                         "The server address must start with http:// or https://."),
    "login.unreachable": ("서버에 연결할 수 없습니다. 주소와 네트워크를 확인하세요.",
                          "Cannot reach the server. Check the address and the network."),
    "login.restoring": ("이전 세션을 다시 여는 중…", "Resuming your session…"),
    "login.restore_retry": ("서버에 연결할 수 없습니다. 잠시 후 다시 시도합니다…",
                            "Cannot reach the server. Trying again shortly…"),
    "login.signed_out_elsewhere": ("세션이 끝났습니다. 다시 로그인하세요.", "Your session ended. Please sign in again."),
    "login.registered": ("가입했습니다. 이제 로그인하세요.", "You are registered. Now sign in."),
    # registration
    "register.title": ("회원 가입", "Register"),
    "register.nickname": ("이름(닉네임)", "Display name"),
    "register.confirm": ("비밀번호 확인", "Confirm password"),
    "register.mismatch": ("비밀번호가 서로 다릅니다.", "The passwords do not match."),
    "register.submit": ("가입", "Register"),
    # main window
    "main.menu": ("메신저", "Messenger"),
    "main.settings": ("설정…", "Settings…"),
    "main.sign_out": ("로그아웃", "Sign out"),
    "main.quit": ("종료", "Quit"),
    "main.pick_room": ("왼쪽에서 대화방을 고르세요.", "Pick a conversation on the left."),
    "main.no_rooms": ("아직 대화방이 없습니다.", "No conversations yet."),
    "main.members": ("{count}명", "{count} members"),
    "main.send": ("보내기", "Send"),
    "main.composer_hint": ("메시지 입력 (Enter: 보내기, Shift+Enter: 줄바꿈)",
                           "Write a message (Enter: send, Shift+Enter: new line)"),
    "main.replying_to": ("{name}에게 답장: {text}", "Replying to {name}: {text}"),
    "main.cancel_reply": ("답장 취소", "Cancel reply"),
    "main.loading_older": ("이전 메시지를 불러오는 중…", "Loading older messages…"),
    "main.signed_in_as": ("{name} (@{username})", "{name} (@{username})"),
    # connection
    "connection.connected": ("연결됨", "Connected"),
    "connection.connecting": ("연결하는 중…", "Connecting…"),
    "connection.reconnecting": ("다시 연결하는 중…", "Reconnecting…"),
    # typing
    "typing.one": ("{name} 님이 입력 중…", "{name} is typing…"),
    "typing.two": ("{first}, {second} 님이 입력 중…", "{first} and {second} are typing…"),
    "typing.many": ("{count}명이 입력 중…", "{count} people are typing…"),
    # rooms
    "room.group": ("그룹 대화", "Group chat"),
    "room.alone": ("대화 상대 없음", "Nobody else here"),
    "room.no_messages": ("아직 메시지가 없습니다", "No messages yet"),
    "room.pin": ("상단 고정", "Pin to top"),
    "room.unpin": ("고정 해제", "Unpin"),
    "room.mute": ("알림 끄기", "Mute"),
    "room.unmute": ("알림 켜기", "Unmute"),
    # messages
    "message.deleted": ("삭제된 메시지입니다.", "This message was deleted."),
    "message.edited": ("수정됨", "edited"),
    "message.file": ("📎 {name}", "📎 {name}"),
    "message.image": ("🖼 {name}", "🖼 {name}"),
    "message.pending": ("보내는 중", "Sending"),
    "message.failed": ("보내지 못함", "Not sent"),
    "message.unknown_sender": ("(알 수 없음)", "(unknown)"),
    "message.reply": ("답장", "Reply"),
    "message.react": ("공감", "React"),
    "message.copy": ("복사", "Copy"),
    "message.delete": ("삭제", "Delete"),
    "message.delete_confirm": ("이 메시지를 모두에게서 삭제할까요?", "Delete this message for everyone?"),
    "message.retry": ("다시 보내기", "Send again"),
    "message.discard": ("보내지 않고 지우기", "Discard"),
    # tray
    "tray.open": ("열기", "Open"),
    "tray.tooltip": ("메신저", "Messenger"),
    "tray.tooltip_unread": ("메신저 — 읽지 않은 메시지 {count}개", "Messenger — {count} unread"),
    "tray.signed_out": ("로그인하지 않음", "Not signed in"),
    "tray.status": ("{name} · {state}", "{name} · {state}"),
    # settings
    "settings.title": ("설정", "Settings"),
    "settings.server": ("서버 주소", "Server address"),
    "settings.server_change": ("서버를 바꾸면 로그아웃됩니다. 계속할까요?",
                               "Changing the server signs you out. Continue?"),
    "settings.language": ("언어", "Language"),
    "settings.language_auto": ("시스템 설정 따르기", "Same as the system"),
    "settings.notifications": ("새 메시지 알림 표시", "Show notifications for new messages"),
    "settings.start_at_login": ("컴퓨터를 켜면 자동 실행", "Start when I sign in to the computer"),
    "settings.close_to_tray": ("창을 닫으면 트레이에서 계속 실행", "Closing the window keeps Messenger in the tray"),
    "settings.update_channel": ("업데이트 채널", "Update channel"),
    "settings.channel_stable": ("안정 버전 (stable)", "Stable"),
    "settings.channel_canary": ("미리보기 (canary)", "Canary (preview)"),
    "settings.device": ("기기 이름", "Device name"),
    # crash report
    "crash.title": ("오류 보고", "Error report"),
    "crash.text": ("예기치 않은 오류가 발생했습니다. 아래 내용을 관리자에게 보내 주세요. 기록 파일: {path}",
                   "Something went wrong. Please send the details below to your administrator. Log file: {path}"),
    "crash.copy": ("복사", "Copy"),
    # rooms: new conversation, invite, room info
    "rooms.new": ("새 대화…", "New conversation…"),
    "rooms.new_title": ("새 대화", "New conversation"),
    "rooms.search": ("이름이나 아이디로 찾기", "Search by name or username"),
    "rooms.name": ("그룹 이름 (선택)", "Group name (optional)"),
    "rooms.pick_hint": ("한 명을 고르면 1:1 대화, 여러 명이면 그룹 대화입니다.",
                        "Pick one person for a direct chat, several for a group."),
    "rooms.create": ("대화 시작", "Start"),
    "rooms.invite": ("초대…", "Invite…"),
    "rooms.invite_title": ("대화방에 초대", "Invite to the room"),
    "rooms.invite_do": ("초대", "Invite"),
    "rooms.info": ("대화방 정보…", "Room info…"),
    "rooms.info_title": ("대화방 정보", "Room info"),
    "rooms.rename": ("이름 바꾸기", "Rename"),
    "rooms.kick": ("내보내기", "Remove from room"),
    "rooms.make_admin": ("관리자로 지정", "Make admin"),
    "rooms.remove_admin": ("관리자 해제", "Remove admin"),
    "rooms.leave": ("대화방 나가기", "Leave room"),
    "rooms.leave_confirm": ("이 대화방에서 나갈까요?", "Leave this room?"),
    "rooms.admin_mark": ("{name} · 관리자", "{name} · admin"),
    # notices
    "notices.title": ("공지", "Notices"),
    "notices.open": ("공지…", "Notices…"),
    "notices.add": ("공지 추가", "Add notice"),
    "notices.remove": ("공지 삭제", "Remove notice"),
    "notices.hint": ("공지 내용", "Notice text"),
    "notices.pin_message": ("공지로 등록", "Pin as notice"),
    "notices.by": ("{text} — {name}", "{text} — {name}"),
    # polls
    "polls.open": ("투표…", "Polls…"),
    "polls.title": ("투표", "Polls"),
    "polls.new": ("새 투표…", "New poll…"),
    "polls.new_title": ("새 투표", "New poll"),
    "polls.question": ("질문", "Question"),
    "polls.option": ("선택지 {number}", "Option {number}"),
    "polls.add_option": ("선택지 추가", "Add option"),
    "polls.multiple": ("여러 개 선택 가능", "Allow several choices"),
    "polls.anonymous": ("익명 투표", "Anonymous"),
    "polls.ends": ("마감 시간 지정", "Ends at"),
    "polls.create": ("만들기", "Create"),
    "polls.vote": ("투표하기", "Vote"),
    "polls.change_vote": ("다시 투표", "Change vote"),
    "polls.close": ("투표 마감", "Close poll"),
    "polls.closed": ("마감됨", "Closed"),
    "polls.result": ("{text} — {count}표", "{text} — {count} votes"),
    "polls.summary": ("{question} ({voters}명 참여)", "{question} ({voters} voted)"),
    "polls.need_two": ("질문과 서로 다른 선택지 2~10개를 입력하세요.",
                       "Enter a question and 2 to 10 different options."),
    # files
    "files.attach": ("파일 첨부", "Attach a file"),
    "files.open": ("파일…", "Files…"),
    "files.title": ("대화방 파일", "Room files"),
    "files.save": ("다른 이름으로 저장…", "Save as…"),
    "files.view": ("이미지 보기", "View image"),
    "files.uploading": ("{name} 올리는 중… {percent}%", "Uploading {name}… {percent}%"),
    "files.sent": ("{name}을(를) 보냈습니다.", "Sent {name}."),
    "files.saved": ("{path}에 저장했습니다.", "Saved to {path}."),
    "files.entry": ("{name} ({size}) — {who}", "{name} ({size}) — {who}"),
    # dates
    "date.today": ("오늘", "Today"),
    "date.yesterday": ("어제", "Yesterday"),
    # chat: editing, emoji, new-messages divider, encryption
    # account, device sessions, platform admin, local search
    # start at login, updates
}

WEEKDAYS = {
    "ko-KR": ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일"),
    "en-US": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December")
LANGUAGE_NAMES = {"ko-KR": "한국어", "en-US": "English"}

_language = DEFAULT_LOCALE


def set_language(locale: str) -> None:
    """Speak `locale` ("ko-KR" or "en-US") from now on; anything else means the default."""
    global _language
    _language = locale if locale in LOCALES else DEFAULT_LOCALE


def language() -> str:
    return _language


def tr(key: str, **fields) -> str:
    """The text for `key` in the current language, with `fields` filled in."""
    ko, en = TEXTS[key]
    text = en if _language == "en-US" else ko
    return text.format(**fields) if fields else text


def clock(moment: datetime) -> str:
    """A local time of day: "오후 3:05" / "3:05 PM"."""
    hour = moment.hour % 12 or 12
    if _language == "en-US":
        return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
    return f"{'오전' if moment.hour < 12 else '오후'} {hour}:{moment.minute:02d}"


def long_date(day: date) -> str:
    """A day separator: "2026년 11월 25일 수요일" / "Wednesday, November 25, 2026"."""
    weekday = WEEKDAYS[_language][day.weekday()]
    if _language == "en-US":
        return f"{weekday}, {MONTHS_EN[day.month - 1]} {day.day}, {day.year}"
    return f"{day.year}년 {day.month}월 {day.day}일 {weekday}"


def short_when(moment: datetime, today: date) -> str:
    """When a room last spoke, for the room list: a time today, "어제", else a date."""
    day = moment.date()
    if day == today:
        return clock(moment)
    if (today - day).days == 1:
        return tr("date.yesterday")
    if day.year == today.year:
        return f"{day.month}/{day.day}" if _language == "en-US" else f"{day.month}월 {day.day}일"
    return day.isoformat()
