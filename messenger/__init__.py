"""Self-hosted office messenger: one program that is both the server and the desktop client."""

__version__ = "0.1.0"
