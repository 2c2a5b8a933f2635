"""The wire protocol both sides speak: event names and limits (contract sections 3-4)."""

# Client -> server socket events.
SEND_MESSAGE = "send_message"
MESSAGE_READ = "message_read"
TYPING = "typing"
EDIT_MESSAGE = "edit_message"
DELETE_MESSAGE = "delete_message"
JOIN_ROOM = "join_room"
LEAVE_ROOM = "leave_room"
SUBSCRIBE_ROOMS = "subscribe_rooms"

# Server -> client canonical events; only the server emits these.
NEW_MESSAGE = "new_message"
MESSAGE_EDITED = "message_edited"
MESSAGE_DELETED = "message_deleted"
REACTION_UPDATED = "reaction_updated"
ROOM_UPDATED = "room_updated"
ROOM_MEMBERS_UPDATED = "room_members_updated"
ROOM_NAME_UPDATED = "room_name_updated"
PIN_UPDATED = "pin_updated"
POLL_CREATED = "poll_created"
POLL_UPDATED = "poll_updated"
ADMIN_UPDATED = "admin_updated"
READ_UPDATED = "read_updated"
USER_STATUS = "user_status"
USER_PROFILE_UPDATED = "user_profile_updated"
USER_TYPING = "user_typing"
ERROR = "error"
# Sent to a user's sockets just before the server closes them (logout elsewhere, password change).
SESSION_REVOKED = "session_revoked"

MESSAGE_TYPES_SENDABLE = ("text", "file", "image")
MAX_CIPHERTEXT_CHARS = 200_000
MAX_PLAINTEXT_CHARS = 10_000
HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200
EVENTS_MAX_LIMIT = 500
# Different emoji on one message: more is refused (VALIDATION_ERROR), and a client shows no more.
MAX_REACTION_KINDS = 50
