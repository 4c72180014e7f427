"""Sample issuers, achievements and status entries shared by the credential tests and
benchmarks (one place, so the samples cannot drift apart)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert

from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from mcledger.node.credentials.build import AchievementVersion, IssuerProfile, build_credential
from mcledger.node.index.models import revocation_t, utcnow

ISSUED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ACADEMY = "https://academy.example"


def academy_profile(did: str) -> IssuerProfile:
    return IssuerProfile(
        issuer_id="academy",
        did=did,
        legal_name="Rīga Technical Academy",
        legal_identifier="LV90000012345",
        country="LV",
        region="Rīga",
        qa_register="DEQAR",
        qa_identifier="DEQARINST0123",
    )


def achievement(
    body: Mapping[str, Any] = EXAMPLE_ACHIEVEMENT,
    *,
    achievement_id: str = "ach_dpf",
    version: int = 1,
    issuer_id: str = "academy",
) -> AchievementVersion:
    return AchievementVersion(
        achievement_id, version, issuer_id, dict(body), datetime(2026, 11, 1, tzinfo=UTC)
    )


def status_entry(index: int = 42, base: str = ACADEMY) -> dict[str, Any]:
    return {
        "id": f"{base}/v1/status-lists/1#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(index),
        "statusListCredential": f"{base}/v1/status-lists/1",
    }


def academy_credential(
    issuer_did: str, credential_id: str = "urn:uuid:0f3e6c1a-52d4-4f8e-9b0c-7a2d9e4b6f11"
) -> dict[str, Any]:
    """A full micro-credential as the node builds it (VC 2.0 + Open Badges 3.0 + mcledger)."""
    return build_credential(
        academy_profile(issuer_did),
        achievement(),
        EXAMPLE_AWARD,
        credential_id=credential_id,
        issued_at=ISSUED_AT,
        status_entry=status_entry(),
    )


def learner_awards(
    count: int, *, achievement_id: str = "ach_dpf", learner_dids: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """A CSV's worth of awards: every learner differs, a third have a DID (taken in turn
    from ``learner_dids``, when given), most a grade."""
    awards = []
    for n in range(count):
        learner: dict[str, Any] = {"name": f"Learner Nr. {n} Bērziņa", "identifier": f"LU-{n:06}"}
        if n % 3 == 0 and learner_dids:
            learner["id"] = learner_dids[n % len(learner_dids)]
        award: dict[str, Any] = {
            "achievement": achievement_id,
            "learner": learner,
            "awardedOn": f"2026-11-{n % 28 + 1:02}",
            "place": ("Rīga", "Liepāja", "Daugavpils")[n % 3],
        }
        if n % 5:
            award["grade"] = f"{n % 10 + 1}/10"
        awards.append(award)
    return awards


def insert_revocations(engine: Engine, issuer_id: str, count: int, reason: int = 1) -> list[str]:
    """``count`` revocations of random digests, as node.revocation.revocations records them (the
    revocation flush and the audit read these rows); returns the digests."""
    return revoke_digests(engine, issuer_id, [os.urandom(32).hex() for _ in range(count)], reason)


def revoke_digests(engine: Engine, issuer_id: str, digests: list[str], reason: int) -> list[str]:
    """Revocations of ``digests``, recorded as node.revocation.revocations records them."""
    with engine.begin() as conn:
        conn.execute(
            insert(revocation_t),
            [
                {
                    "issuer_id": issuer_id,
                    "digest": digest,
                    "reason": reason,
                    "note": "",
                    "revoked_at": utcnow(),
                }
                for digest in digests
            ],
        )
    return digests
