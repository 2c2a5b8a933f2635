"""Message socket events (send, read, typing, edit, delete)."""
