"""Socket.IO handlers: thin, like the HTTP routes."""
