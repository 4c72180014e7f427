"""A test-only fault hook: kill this process at a named point of the state machine.

Crash tests set MCLEDGER_FAULT_POINT (through Settings) to a point name such as
`anchor.signed`; the process dies with SIGKILL there, as on a power cut, and
the test restarts it to show that nothing is lost or done twice.
"""

from __future__ import annotations

import os
import signal

from mcledger.node.pipeline.txmachine import Fault

FAULT_POINTS = (
    "batch.sealed",
    "anchor.signed",
    "anchor.sent",
    "anchor.mined",
    "anchor.replacement-signed",
    "anchor.confirmed",
    "revocations.sealed",
    "revocation.signed",
    "revocation.sent",
    "revocation.mined",
    "revocation.replacement-signed",
    "revocation.confirmed",
)


def fault_hook(point: str | None) -> Fault | None:
    """A hook that kills the process at ``point``; None when no point is set."""
    if not point:
        return None
    if point not in FAULT_POINTS:
        raise ValueError(f"unknown fault point {point!r}; known: {', '.join(FAULT_POINTS)}")

    def hit(name: str) -> None:
        if name == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return hit
