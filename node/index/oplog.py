"""The append-only operations log: what the node did, when, and who asked."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert

from mcledger.node.index.models import Operation, utcnow


def record_operation(
    conn: Connection, *, actor: str, action: str, subject: str = "", details: dict[str, Any]
) -> None:
    """Append one entry in the caller's transaction, so it commits with what it records."""
    entry = {"actor": actor, "action": action, "subject": subject, "details": details}
    record_operations(conn, [entry])


def record_operations(conn: Connection, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append several entries (each ``record_operation``'s keyword arguments) in one
    statement, in the caller's transaction (the intake writer logs a group's requests so)."""
    if not entries:
        return
    at = utcnow()
    rows = [
        {
            "at": at,
            "actor": entry["actor"],
            "action": entry["action"],
            "subject": entry.get("subject", ""),
            "details": json.dumps(entry["details"], sort_keys=True, default=str),
        }
        for entry in entries
    ]
    conn.execute(insert(Operation), rows)
