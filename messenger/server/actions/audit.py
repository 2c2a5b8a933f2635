"""The security log. Rows are staged in the caller's transaction; never a token or password."""

from __future__ import annotations

from typing import Any

from messenger.server.db.models import AuditEvent
from messenger.server.extensions import database


def record_audit(action: str, user_id: int | None, ip: str | None = None, user_agent: str | None = None,
                 **details: Any) -> None:
    database.session.add(AuditEvent(action=action, user_id=user_id, ip_address=ip,
                                    user_agent=(user_agent or "")[:255] or None, details=details or None))
