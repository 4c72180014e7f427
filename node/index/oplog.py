"""The append-only operations log: what the node did, when, and who asked."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert

from mcledger.node.index.models import Operation, utcnow


def record_operation(
    conn: Connection, *, actor: str, action: str, subject: str = "", details: dict[str, Any]
) -> None:
    """Append one entry in the caller's transaction, so it commits with what it records."""
    conn.execute(
        insert(Operation).values(
            at=utcnow(),
            actor=actor,
            action=action,
            subject=subject,
            details=json.dumps(details, sort_keys=True, default=str),
        )
    )
