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
    # a desk's first start: servers found on the network, the server's certificate
    "first.found_servers": ("이 네트워크에서 찾은 서버 (누르면 주소가 입력됩니다)",
                            "Servers on this network (click one to use its address)"),
    "first.found_server": ("{name}  ·  {address}  ·  버전 {version}", "{name}  ·  {address}  ·  version {version}"),
    "first.trust_title": ("처음 연결하는 서버", "A server this desk has not met"),
    "first.trust_intro": ("{server} 서버의 인증서를 이 컴퓨터가 아직 신뢰하지 않습니다. 인증서 지문(SHA-256):",
                          "This desk does not trust the certificate of {server} yet. Its fingerprint (SHA-256):"),
    "first.trust_advice": ("관리자가 알려 준 지문과 네 자리씩 모두 같을 때만 신뢰하세요. 한 번 신뢰하면 다시 묻지 않고, "
                           "인증서가 바뀌면 연결하지 않습니다.",
                           "Trust it only if every group matches the fingerprint your administrator gave. "
                           "You will not be asked again, and a different certificate will be refused."),
    "first.trust_yes": ("신뢰하고 연결", "Trust and connect"),
    "first.trust_no": ("취소", "Cancel"),
    "first.changed_title": ("서버 인증서가 바뀌었습니다", "The server's certificate changed"),
    "first.changed_text": ("{server} 서버가 이 컴퓨터가 신뢰하는 것과 다른 인증서를 보냈습니다. 누군가 서버를 사칭하고 있을 수 "
                           "있어 연결하지 않았습니다. 받은 인증서의 지문:",
                           "{server} presented a certificate other than the one this desk trusts. Someone may be "
                           "impersonating the server, so the desk did not connect. The certificate it presented:"),
    "first.changed_pinned": ("이 컴퓨터가 신뢰하는 인증서:", "The certificate this desk trusts:"),
    "first.changed_advice": ("관리자에게 알리세요. 이 경고는 건너뛸 수 없습니다.",
                             "Tell your administrator. This warning cannot be skipped."),
    # the notification doctor
    "doctor.open": ("알림이 안 보이나요?", "Why don't I see notifications?"),
    "doctor.title": ("알림 점검", "Notification check"),
    "doctor.summary_fine": ("알림을 막는 것을 찾지 못했습니다.", "Nothing here stops notifications."),
    "doctor.summary_problems": ("알림을 막는 것을 {count}개 찾았습니다.", "Found {count} thing(s) that stop notifications."),
    "doctor.not_applicable": ("이 운영체제에는 해당 없음", "does not apply here"),
    "doctor.unknown": ("시스템이 알려 주지 않아 확인하지 못함", "the system would not say"),
    "doctor.app_setting": ("메신저의 알림 설정", "The messenger's notification setting"),
    "doctor.app_setting.ok": ("메신저의 데스크톱 알림이 켜져 있습니다.", "The messenger's desktop notifications are on."),
    "doctor.app_setting.problem": ("메신저의 데스크톱 알림이 꺼져 있습니다 (이 설정 창의 '데스크톱 알림').",
                                   "The messenger's desktop notifications are off (\"Desktop notifications\" in these settings)."),
    "doctor.muted_rooms": ("알림을 끈 대화방", "Muted rooms"),
    "doctor.muted_rooms.ok": ("알림을 끈 대화방이 없습니다.", "No room is muted."),
    "doctor.muted_rooms.problem": ("이 대화방은 알림을 껐습니다: {detail}", "These rooms are muted: {detail}"),
    "doctor.focus_assist": ("Windows 집중 지원(방해 금지)", "Windows Focus Assist (Do not disturb)"),
    "doctor.focus_assist.ok": ("Windows 집중 지원이 꺼져 있습니다.", "Windows Focus Assist is off."),
    "doctor.focus_assist.priority_only": ("Windows 집중 지원이 '우선 순위만'으로 켜져 있어 메신저 알림이 숨겨집니다.",
                                          "Windows Focus Assist is on (priority only): the messenger's notifications are held back."),
    "doctor.focus_assist.alarms_only": ("Windows 집중 지원이 '알람만'으로 켜져 있어 알림이 숨겨집니다.",
                                        "Windows Focus Assist is on (alarms only): notifications are held back."),
    "doctor.focus_assist.presentation": ("Windows가 프레젠테이션 모드라 알림을 보이지 않습니다.",
                                         "Windows is in presentation mode and holds notifications back."),
    "doctor.focus_assist.busy": ("전체 화면 프로그램이 실행 중이라 Windows가 알림을 보이지 않습니다.",
                                 "A full-screen program is running, so Windows holds notifications back."),
    "doctor.focus_assist.fullscreen_d3d": ("전체 화면 게임이나 영상이 실행 중이라 Windows가 알림을 보이지 않습니다.",
                                           "A full-screen game or video is running, so Windows holds notifications back."),
    "doctor.focus_assist.quiet_time": ("Windows의 조용한 시간이라 알림이 보이지 않습니다.",
                                       "Windows is in quiet time and holds notifications back."),
    "doctor.focus_assist.app": ("전체 화면 앱이 실행 중이라 Windows가 알림을 보이지 않습니다.",
                                "A full-screen app is running, so Windows holds notifications back."),
    "doctor.windows_toasts": ("Windows의 '앱 및 다른 보낸 사람의 알림 받기'", "Windows' \"Get notifications from apps\""),
    "doctor.windows_toasts.ok": ("Windows가 앱 알림을 받습니다.", "Windows takes notifications from apps."),
    "doctor.windows_toasts.problem": ("Windows 설정 > 시스템 > 알림에서 앱 알림이 모두 꺼져 있습니다.",
                                      "All app notifications are off in Windows Settings > System > Notifications."),
    "doctor.windows_app_switch": ("Windows 설정의 메신저 알림", "The messenger in Windows' notification settings"),
    "doctor.windows_app_switch.ok": ("Windows 설정에서 메신저 알림이 켜져 있습니다.",
                                     "The messenger's notifications are on in Windows Settings."),
    "doctor.windows_app_switch.problem": ("Windows 설정 > 시스템 > 알림에서 메신저 알림이 꺼져 있습니다.",
                                          "The messenger's notifications are off in Windows Settings > System > Notifications."),
    "doctor.windows_shortcut": ("시작 메뉴 바로 가기", "The Start menu shortcut"),
    "doctor.windows_shortcut.ok": ("시작 메뉴 바로 가기에 메신저의 앱 ID가 있습니다.",
                                   "The Start menu shortcut carries the messenger's app id."),
    "doctor.windows_shortcut.problem": ("메신저의 앱 ID를 가진 시작 메뉴 바로 가기가 없어 Windows가 알림을 조용히 버립니다. "
                                        "메신저를 다시 설치하세요.",
                                        "No Start menu shortcut carries the messenger's app id, so Windows drops its "
                                        "notifications silently. Reinstall the messenger."),
    "doctor.linux_service": ("알림 서비스 (D-Bus)", "The notification service (D-Bus)"),
    "doctor.linux_service.ok": ("알림 서비스가 응답합니다: {detail}", "A notification service answers: {detail}"),
    "doctor.linux_service.problem": ("데스크톱에 알림 서비스(org.freedesktop.Notifications)가 없습니다. 알림 데몬을 설치하거나 켜세요.",
                                     "The desktop has no notification service (org.freedesktop.Notifications). "
                                     "Install or start a notification daemon."),
    "doctor.linux_tray": ("시스템 트레이", "The system tray"),
    "doctor.linux_tray.ok": ("시스템 트레이가 있습니다.", "There is a system tray."),
    "doctor.linux_tray.problem": ("시스템 트레이가 없어 메신저가 트레이에서 알림을 띄울 수 없습니다.",
                                  "There is no system tray, so the messenger cannot notify from it."),
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
    "notices.post_message": ("공지로 등록", "Pin as notice"),
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
    "chat.uploading": ("올리는 중 {percent}%", "Uploading {percent}%"),
    "chat.edit": ("수정", "Edit"),
    "chat.editing": ("메시지 수정 중: {text}", "Editing: {text}"),
    "chat.cancel_edit": ("수정 취소 (Esc)", "Cancel editing (Esc)"),
    "chat.emoji": ("이모지", "Emoji"),
    "chat.new_messages": ("새 메시지", "New messages"),
    "chat.online": ("온라인", "online"),
    "chat.offline": ("오프라인", "offline"),
    # account, device sessions, platform admin, local search
    "account.open": ("내 계정…", "Account…"),
    "account.title": ("내 계정", "Account"),
    "account.profile": ("프로필", "Profile"),
    "account.username": ("아이디", "Username"),
    "account.nickname": ("닉네임", "Nickname"),
    "account.status_message": ("상태 메시지", "Status message"),
    "account.save": ("저장", "Save"),
    "account.saved": ("저장했습니다.", "Saved."),
    "account.nickname_length": ("닉네임은 2~20자여야 합니다.", "A nickname has 2 to 20 characters."),
    "account.no_picture": ("사진 없음", "No picture"),
    "account.choose_picture": ("사진 선택…", "Choose picture…"),
    "account.remove_picture": ("사진 삭제", "Remove picture"),
    "account.pictures": ("이미지", "Images"),
    "account.picture_set": ("프로필 사진을 바꿨습니다.", "Your picture is changed."),
    "account.picture_removed": ("프로필 사진을 지웠습니다.", "Your picture is removed."),
    "account.password": ("비밀번호", "Password"),
    "account.current_password": ("현재 비밀번호", "Current password"),
    "account.new_password": ("새 비밀번호", "New password"),
    "account.new_password_again": ("새 비밀번호 확인", "New password again"),
    "account.change_password": ("비밀번호 변경", "Change password"),
    "account.password_hint": ("비밀번호를 바꾸면 이 컴퓨터를 포함한 모든 기기에서 로그아웃됩니다. "
                              "새 비밀번호로 다시 로그인하세요.",
                              "Changing the password signs out all your devices, this one too. "
                              "Then sign in with the new password."),
    "account.first_password": ("서버를 처음 시작할 때 만들어진 비밀번호로 로그인했습니다. 지금 나만의 비밀번호로 바꾸세요.",
                               "You signed in with the password made at the server's first start. "
                               "Choose your own now."),
    "account.password_fill": ("현재 비밀번호와 새 비밀번호를 입력하세요.", "Enter the current and the new password."),
    "account.password_mismatch": ("새 비밀번호가 서로 다릅니다.", "The new passwords do not match."),
    "account.password_same": ("새 비밀번호가 현재 비밀번호와 같습니다.", "The new password is the current one."),
    "account.password_changed": ("비밀번호를 바꿨습니다. 모든 기기에서 로그아웃되었습니다. 새 비밀번호로 로그인하세요.",
                                 "Your password is changed and all your devices are signed out. "
                                 "Sign in with the new password."),
    "account.devices": ("로그인한 기기", "Devices"),
    "account.device_line": ("{name} — 마지막 사용 {seen}", "{name} — last seen {seen}"),
    "account.this_device": ("{line} (이 기기)", "{line} (this device)"),
    "account.sign_out_device": ("로그아웃시키기", "Sign out"),
    "account.sign_out_others": ("다른 기기 모두 로그아웃", "Sign out all other devices"),
    "devices.recovery_banner": ("이 계정의 복구 키가 만들어졌습니다. 한 번만 보여 드리니 지금 적어 두세요.",
                                "Your account's recovery key was made: it is shown only once, write it down now."),
    "devices.show_recovery_key": ("복구 키 보기", "Show recovery key"),
    "devices.recovery_title": ("복구 키", "Recovery key"),
    "devices.recovery_explained": ("이 복구 키로 새 컴퓨터를 직접 승인하고 지난 대화를 다시 읽을 수 있습니다. "
                                   "다시 보여 드리지 않으며 어디에도 저장되지 않습니다.",
                                   "With this recovery key a new computer approves itself and reads past "
                                   "conversations again. It is not shown again and is kept nowhere."),
    "devices.recovery_warning": ("복구 키 없이 기기를 모두 잃으면 지난 메시지를 읽을 수 없게 됩니다.",
                                 "If you lose every device without it, earlier messages cannot be read."),
    "devices.copy": ("복사", "Copy"),
    "devices.written_down": ("적어 두었습니다", "I have written it down"),
    "devices.done": ("완료", "Done"),
    "devices.unverified": ("이 컴퓨터는 아직 승인되지 않았습니다. 다른 컴퓨터에서 승인하거나(코드: {code}) "
                           "복구 키를 입력하세요.",
                           "This desk is not verified yet: approve it from another of your desks "
                           "(code: {code}) or enter your recovery key."),
    "devices.enter_recovery_key": ("복구 키 입력", "Enter recovery key"),
    "devices.recover": ("승인", "Verify this desk"),
    "devices.recover_hint": ("처음 로그인한 기기에서 받은 복구 키(4자씩 8묶음)를 입력하세요.",
                             "Type the recovery key your first device showed (8 groups of 4 characters)."),
    "devices.pending": ("내 새 기기 \"{name}\"이(가) 승인을 기다립니다.",
                        "A new desk of yours, \"{name}\", is waiting for approval."),
    "devices.approve": ("승인…", "Approve…"),
    "devices.approve_title": ("기기 승인", "Approve a desk"),
    "devices.approve_hint": ("\"{name}\" 화면에 보이는 코드를 입력하세요. 코드가 같을 때만 승인됩니다. "
                             "(키 지문 {fingerprint})",
                             "Type the code \"{name}\" shows on its screen: it is approved only if the codes "
                             "match. (Key fingerprint {fingerprint})"),
    "devices.own_devices": ("내 기기", "Your desks"),
    "devices.verified": ("{name} — 승인됨", "{name} — verified"),
    "devices.waiting": ("{name} — 승인 대기", "{name} — waiting for approval"),
    "devices.identity_changed": ("{name}님의 안전 번호가 바뀌었습니다. 확인할 때까지 이 사람의 기기에는 "
                                 "새 키를 보내지 않습니다.",
                                 "{name}'s safety number changed. Their devices get no new keys until "
                                 "you compare it."),
    "devices.compare": ("안전 번호 비교", "Compare safety numbers"),
    "devices.unvouched": ("{names}: 어떤 구성원의 기기도 추가하지 않은 사람입니다(서버가 추가했을 수 있습니다). "
                          "키를 받지 못해 메시지를 읽을 수 없습니다.",
                          "{names}: added without any member's device (the server may have): they get no "
                          "keys and cannot read."),
    "devices.vouch": ("내가 추가한 사람입니다", "I added them"),
    "devices.safety_title": ("{name}님과의 안전 번호", "Safety number with {name}"),
    "devices.safety_hint": ("{name}님의 화면에 보이는 번호와 같은지 직접 만나거나 전화로 확인한 뒤 신뢰하세요.",
                            "Check in person or by phone that {name} sees the same number, then trust."),
    "devices.trust": ("신뢰", "Trust"),
    "message.not_encrypted": ("암호화되지 않음", "Not encrypted"),
    "message.not_signed": ("서명 없음", "Not signed"),
    "message.old_format": ("이전 형식", "Old format"),
    "message.tampered": ("변조됨", "Tampered"),
    "message.replayed": ("서버가 다시 보냄", "Replayed by the server"),
    "message.misattributed": ("보낸 사람·대상이 바뀜", "Sender or target changed"),
    "message.reordered": ("순서가 바뀜", "Out of order"),
    "message.unverified_sender": ("확인되지 않은 기기", "Unverified device"),
    "account.encryption": ("암호화", "Encryption"),
    "account.fingerprint": ("이 기기의 키 지문", "This device's key fingerprint"),
    "account.backup_hint": ("대화방 키를 암호로 잠가 서버에 보관합니다. 기기를 모두 잃어도 새 기기에서 이 암호로 "
                            "지난 대화를 다시 읽을 수 있습니다. 서버는 이 암호를 모릅니다.",
                            "Your room keys, locked with a passphrase, are kept on the server. If you lose every "
                            "device, a new one reads past conversations again with this passphrase. The server "
                            "never learns it."),
    "account.passphrase": ("백업 암호", "Backup passphrase"),
    "account.passphrase_again": ("백업 암호 확인", "Passphrase again"),
    "account.passphrase_short": ("백업 암호는 {count}자 이상이어야 합니다.",
                                 "The passphrase needs at least {count} characters."),
    "account.passphrase_mismatch": ("두 암호가 다릅니다.", "The two passphrases differ."),
    "account.start_over": ("암호를 잊었습니다: 기존 백업을 이 기기의 키로 바꾸기",
                           "I forgot the passphrase: replace the backup with this device's keys"),
    "account.back_up": ("키 백업", "Back up keys"),
    "account.restore": ("백업에서 키 가져오기", "Restore keys"),
    "account.backed_up": ("키를 백업했습니다 (버전 {version}). 로그인해 있는 동안 새 키도 백업됩니다.",
                          "Keys backed up (version {version}). New keys are added while you stay signed in."),
    "account.restored": ("키 {count}개를 가져왔습니다.", "{count} keys restored."),
    "admin.open": ("관리…", "Administration…"),
    "admin.title": ("플랫폼 관리", "Administration"),
    "admin.users": ("사용자", "Users"),
    "admin.devices": ("기기", "Devices"),
    "admin.audit": ("감사 기록", "Audit log"),
    "admin.settings": ("설정", "Settings"),
    "admin.status": ("상태", "Status"),
    "admin.status_active": ("사용 중", "active"),
    "admin.status_disabled": ("중지됨", "disabled"),
    "admin.status_deleted": ("삭제됨", "deleted"),
    "admin.role": ("역할", "Role"),
    "admin.platform_admin": ("관리자", "administrator"),
    "admin.last_seen": ("마지막 사용", "Last seen"),
    "admin.live_devices": ("기기 수", "Devices"),
    "admin.new_user": ("새 사용자…", "New user…"),
    "admin.password_generated": ("비워 두면 임시 비밀번호를 만듭니다", "Leave empty for a temporary password"),
    "admin.make_admin": ("플랫폼 관리자", "Platform administrator"),
    "admin.disable": ("중지", "Disable"),
    "admin.enable": ("다시 사용", "Enable"),
    "admin.reset_password": ("비밀번호 초기화", "Reset password"),
    "admin.delete": ("삭제…", "Delete…"),
    "admin.delete_confirm": ("@{name} 계정을 삭제할까요? 되돌릴 수 없습니다. 메시지는 이름 없이 남습니다.",
                             "Delete the account @{name}? This cannot be undone; its messages stay, anonymised."),
    "admin.created": ("@{name} 계정을 만들었습니다.", "Created @{name}."),
    "admin.disabled": ("@{name} 계정을 중지하고 모든 기기에서 로그아웃시켰습니다.",
                       "Disabled @{name} and signed out all its devices."),
    "admin.enabled": ("@{name} 계정을 다시 사용할 수 있습니다.", "@{name} can sign in again."),
    "admin.deleted": ("@{name} 계정을 삭제했습니다.", "Deleted @{name}."),
    "admin.password_was_reset": ("@{name}의 비밀번호를 초기화했습니다.", "Reset the password of @{name}."),
    "admin.temporary_password": ("임시 비밀번호", "Temporary password"),
    "admin.temporary_password_text": ("@{name}의 임시 비밀번호: {password}\n\n지금 한 번만 보입니다. "
                                      "본인에게 전하고 로그인 후 바꾸게 하세요.",
                                      "Temporary password of @{name}: {password}\n\nIt is shown this once. "
                                      "Give it to them and have them change it after signing in."),
    "admin.device": ("기기", "Device"),
    "admin.signed_in_at": ("로그인", "Signed in"),
    "admin.address": ("주소", "Address"),
    "admin.device_signed_out": ("{name} 기기를 로그아웃시켰습니다.", "Signed out {name}."),
    "admin.refresh": ("새로 고침", "Refresh"),
    "admin.when": ("시각", "When"),
    "admin.action": ("동작", "Action"),
    "admin.account": ("계정", "Account"),
    "admin.by": ("실행한 사람", "By"),
    "admin.details": ("내용", "Details"),
    "admin.load_more": ("더 보기", "Load more"),
    "admin.mode": ("접속 방식", "Access"),
    "admin.mode_hybrid": ("데스크톱과 브라우저", "Desktop and browser"),
    "admin.mode_desktop-only": ("데스크톱 전용", "Desktop only"),
    "admin.mode_forced": ("서버의 DESKTOP_ONLY_MODE 환경 변수가 정합니다.",
                          "Set by the server's DESKTOP_ONLY_MODE environment variable."),
    "admin.self_registration": ("누구나 회원 가입 가능", "Anyone may register"),
    "admin.e2e_policy": ("종단 간 암호화", "End-to-end encryption"),
    "admin.e2e_required": ("필수", "required"),
    "admin.e2e_optional": ("선택", "optional"),
    "admin.e2e_off": ("끔", "off"),
    "admin.retention_days": ("메시지 보관 기간(일)", "Keep messages (days)"),
    "admin.keep_forever": ("계속 보관", "forever"),
    "admin.audit_days": ("감사 기록 보관 기간(일)", "Keep the audit log (days)"),
    "admin.nothing_changed": ("바뀐 설정이 없습니다.", "Nothing changed."),
    "admin.settings_saved": ("설정을 저장했습니다.", "Settings saved."),
    "search.open": ("메시지 검색…", "Search messages…"),
    "search.title": ("메시지 검색", "Search messages"),
    "search.hint": ("찾을 단어", "Words to find"),
    "search.where": ("이 컴퓨터에서 읽은 메시지(암호화된 메시지 포함)에서 찾습니다.",
                     "Searches the messages this computer has shown, encrypted ones included."),
    "search.found": ("{count}개 찾음", "{count} found"),
    "search.none": ("찾은 메시지가 없습니다.", "No messages found."),
    # start at login, updates
    "settings.locked_by_policy": ("관리자 정책으로 정해진 설정입니다", "Set by your administrator's policy"),
    "settings.start_at_login_it": ("IT 부서가 모든 사용자에게 자동 실행을 설정했습니다",
                                   "IT set Messenger to start for every user"),
    "settings.version": ("버전", "Version"),
    "settings.updates": ("업데이트", "Updates"),
    "settings.test_notification": ("알림 시험하기", "Send a test notification"),
    "settings.test_notification_text": ("알림이 이렇게 표시됩니다.", "This is how notifications look."),
    "update.off": ("소스에서 실행 중: 자동 업데이트 꺼짐", "off: running from the sources"),
    "update.not_checked": ("아직 확인하지 않음", "not checked yet"),
    "update.checking": ("업데이트 확인 중…", "checking for updates…"),
    "update.up_to_date": ("최신 버전입니다", "up to date"),
    "update.available": ("업데이트 {version} 있음", "update {version} available"),
    "update.ask_it": ("업데이트 {version} 있음, IT 부서에 문의하세요", "update {version} available, ask IT"),
    "update.downloading": ("다운로드 중 {percent}%", "downloading {percent}%"),
    "update.staged": ("업데이트 {version} 준비됨 — 다시 시작하면 적용됩니다",
                      "update {version} ready — restart to update"),
    "update.failed": ("업데이트 확인 실패: {reason}", "update check failed: {reason}"),
    "update.check_now": ("지금 확인", "Check now"),
    "update.restart": ("다시 시작하여 업데이트", "Restart to update"),
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
