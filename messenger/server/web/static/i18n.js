// Korean (the default, as the server's) and English.
const TEXTS = {
  "ko-KR": {
    username: "아이디", password: "비밀번호", remember: "로그인 상태 유지", sign_in: "로그인", sign_out: "로그아웃",
    new_conversation: "새 대화", pick_room: "대화방을 고르세요", older: "이전 메시지", attach: "파일",
    send: "보내기", group_name: "그룹 이름 (선택)", cancel: "취소", start: "시작", new_poll: "투표",
    question: "질문", multiple_choice: "복수 선택", anonymous: "익명", create: "만들기",
    options_hint: "선택지를 한 줄에 하나씩", recovery_title: "복구 키",
    recovery_text: "이 복구 키를 적어 두세요. 다시 보여 주지 않습니다. 모든 기기를 잃으면 이 키로만 대화 기록을 되찾을 수 있습니다.",
    written_down: "적어 두었습니다", pin: "고정", unpin: "고정 해제", mute: "알림 끄기", unmute: "알림 켜기",
    pending: "보내는 중…", failed: "보내지 못함", retry: "다시 보내기", edited: "수정됨", deleted: "삭제된 메시지입니다",
    reply: "답장", edit: "수정", delete: "삭제", notice: "공지로", read_by: "읽음",
    waiting_for_keys: "키를 기다리는 중…", tampered: "⚠ 변조된 메시지입니다 (표시하지 않음)",
    replayed: "⚠ 서버가 이미 받은 메시지를 다시 보냈습니다 (표시하지 않음)",
    misattributed: "⚠ 서버가 보낸 사람이나 답장·수정 대상을 바꿨습니다 (표시하지 않음)",
    reordered: "⚠ 보낸 사람의 메시지 순서가 바뀌었습니다 (표시하지 않음)",
    unverified_sender: "⚠ 확인되지 않은 기기에서 보낸 메시지입니다 (표시하지 않음)",
    cannot_decrypt: "이 기기에서 열 수 없는 메시지입니다", malformed: "잘못된 형식의 메시지입니다",
    not_encrypted: "⚠ 암호화되지 않음", legacy: "이전 시스템의 메시지",
    not_signed: "서명되지 않음 (이전 방식: 보낸 사람은 서버가 알려 준 것)",
    identity_changed: "⚠ {name}님의 안전 번호가 바뀌었습니다. 그 사이 이 사람의 메시지는 표시하지 않고, 이 사람의 기기에는 키를 보내지 않습니다. 이 사람의 화면에 보이는 안전 번호와 같은지 직접 만나거나 전화로 확인한 뒤 신뢰하세요.",
    trust_identity: "같은 번호입니다: 신뢰", typing: "입력 중…", online: "접속 중",
    download: "내려받기", uploading: "올리는 중", file_too_large: "파일이 너무 큽니다 (최대 {max})",
    unverified: "이 브라우저는 아직 승인되지 않았습니다. 데스크톱 앱에서 이 코드를 비교해 승인하세요: {code}",
    session_expired: "세션이 만료되었습니다. 다시 로그인하세요.", edit_prompt: "메시지 수정",
    notice_title: "공지", closed: "마감됨", voters: "명 참여", lang: "English",
    notification_new: "새 메시지", you: "나", use_recovery_key: "복구 키로 승인",
    approve_text: "새 기기가 승인을 기다립니다. 그 기기에 표시된 코드를 입력하세요.", approve: "승인",
    code_wrong: "코드가 맞지 않습니다. 아무것도 승인하지 않았습니다.",
    recovery_key_wrong: "복구 키가 맞지 않습니다.", recovery_key_malformed: "복구 키는 4글자씩 8묶음입니다.",
    ended_browser_access_disabled: "이 서버는 이제 데스크톱 앱 전용입니다. 브라우저에서 로그아웃되었습니다.",
    ended_logout: "로그아웃되었습니다.", ended_revoked_by_user: "다른 기기에서 이 브라우저를 로그아웃했습니다.",
  },
  "en-US": {
    username: "Username", password: "Password", remember: "Keep me signed in", sign_in: "Sign in", sign_out: "Sign out",
    new_conversation: "New conversation", pick_room: "Pick a conversation", older: "Older messages", attach: "File",
    send: "Send", group_name: "Group name (optional)", cancel: "Cancel", start: "Start", new_poll: "Poll",
    question: "Question", multiple_choice: "Multiple choice", anonymous: "Anonymous", create: "Create",
    options_hint: "One option per line", recovery_title: "Recovery key",
    recovery_text: "Write this recovery key down. It is not shown again. If you lose every device, only this key brings your history back.",
    written_down: "I have written it down", pin: "Pin", unpin: "Unpin", mute: "Mute", unmute: "Unmute",
    pending: "Sending…", failed: "Not sent", retry: "Retry", edited: "edited", deleted: "This message was deleted",
    reply: "Reply", edit: "Edit", delete: "Delete", notice: "Make notice", read_by: "read",
    waiting_for_keys: "Waiting for keys…", tampered: "⚠ This message was tampered with (not shown)",
    replayed: "⚠ The server sent an earlier message again (not shown)",
    misattributed: "⚠ The server changed its sender or its reply or edit target (not shown)",
    reordered: "⚠ Out of its sender's order (not shown)",
    unverified_sender: "⚠ Sent from a device that is not verified (not shown)",
    cannot_decrypt: "This device cannot open this message", malformed: "This message is malformed",
    not_encrypted: "⚠ Not encrypted", legacy: "From the old system", typing: "typing…", online: "online",
    not_signed: "Not signed (an earlier format: the sender shown is the server's word)",
    identity_changed: "⚠ {name}'s safety number changed. Until it is checked, their messages are not shown and no keys go to their devices. Check in person or by phone that their screen shows this safety number, then trust it.",
    trust_identity: "Same number: trust",
    download: "Download", uploading: "Uploading", file_too_large: "The file is too large (at most {max})",
    unverified: "This browser is not approved yet. Approve it from the desktop app after comparing this code: {code}",
    session_expired: "Your session expired. Sign in again.", edit_prompt: "Edit message",
    notice_title: "Notice", closed: "closed", voters: "voted", lang: "한국어",
    notification_new: "New message", you: "me", use_recovery_key: "Approve with recovery key",
    approve_text: "A new device waits for approval: type the code it shows.", approve: "Approve",
    code_wrong: "The code does not match: nothing was approved.",
    recovery_key_wrong: "That recovery key does not match.", recovery_key_malformed: "A recovery key is 8 groups of 4 characters.",
    ended_browser_access_disabled: "This server is now desktop-only: the browser was signed out.",
    ended_logout: "You signed out.", ended_revoked_by_user: "This browser was signed out from another device.",
  },
};

export let locale = localStorage.getItem("locale") || (navigator.language.startsWith("ko") ? "ko-KR" : "en-US");

export function t(key, values = {}) {
  return (TEXTS[locale][key] || key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
}

export function setLocale(next) {
  locale = next;
  localStorage.setItem("locale", next);
  document.documentElement.lang = next.slice(0, 2);
  for (const element of document.querySelectorAll("[data-text]")) element.textContent = t(element.dataset.text);
}
