"""Verification reports: named checks, passed or not and why, and reports of stacks.

A report lists every check in a fixed order (``names``); a check that cannot run is
failed with ``skipped: <why>``, never left out, so ``ok`` means every step ran and passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mcledger.node.verifier.names import BUNDLE_FORMAT, CHECK_NAMES


@dataclass(frozen=True)
class Check:
    """One named step of a verification: passed or not, and why."""

    name: str
    passed: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class VerificationReport:
    """The checks in ``CHECK_NAMES`` order; ``ok`` only when there are checks and all passed."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failed(self) -> tuple[str, ...]:
        """The names of the checks that did not pass (skipped ones included)."""
        return tuple(check.name for check in self.checks if not check.passed)

    def check(self, name: str) -> Check:
        """The check called ``name``; KeyError if the report has none."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [check.to_json() for check in self.checks]}


def unparsable_bundle_report(error: Exception | str) -> VerificationReport:
    """The report for a bundle that did not parse: ``bundle.format`` fails, the rest skip."""
    skipped = "skipped: the bundle did not parse"
    return VerificationReport(
        (
            Check(BUNDLE_FORMAT, False, str(error)),
            *(Check(name, False, skipped) for name in CHECK_NAMES[1:]),
        )
    )


@dataclass(frozen=True)
class CredentialReport(VerificationReport):
    """One credential's checks (``failed`` and ``check`` are about these alone) and its
    components' reports; ``ok`` only when there are checks, all passed, and every
    component is ok."""

    credential_id: str | None = None
    components: tuple[CredentialReport, ...] = ()

    @property
    def ok(self) -> bool:
        return super().ok and all(component.ok for component in self.components)

    def walk(self) -> Iterator[CredentialReport]:
        """This report and every component report below it, depth first."""
        yield self
        for component in self.components:
            yield from component.walk()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.credential_id,
            "ok": self.ok,
            "checks": [check.to_json() for check in self.checks],
            "components": [component.to_json() for component in self.components],
        }
