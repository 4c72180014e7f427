"""The offering catalogue (versioned achievements) and the issuers' public profiles.

Principle 3 of the Council Recommendation: an offering that changes gets a new
version; credentials already awarded keep the version they name. Versions are
numbered 1, 2, … per achievement and never change once stored. Every write is
one transaction with its entry in the operations log.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mcledger.node.credentials.annex import (
    FieldError,
    validate_achievement,
    validate_issuer_profile,
)
from mcledger.node.credentials.build import AchievementVersion, IssuerProfile
from mcledger.node.errors import NodeError
from mcledger.node.index.models import issuer_t, utcnow
from mcledger.node.index.models_catalogue import achievement_t, issuer_profile_t
from mcledger.node.index.oplog import record_operation
from mcledger.node.issuing.issuers import UnknownIssuerError

ACHIEVEMENT_ID_PREFIX = "ach_"
_VERSION_RETRIES = 5  # concurrent new versions of one achievement: the loser takes the next number

# Public (camelCase) profile field -> issuer_profile column.
PROFILE_COLUMNS = {
    "legalName": "legal_name",
    "legalIdentifier": "legal_identifier",
    "country": "country",
    "region": "region",
    "qaRegister": "qa_register",
    "qaIdentifier": "qa_identifier",
}


class CatalogueError(NodeError):
    """Base of the catalogue's errors."""


class InvalidEntryError(CatalogueError):
    """A description or profile with bad fields; ``errors`` names every one."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} invalid field(s): " + ", ".join(e.path for e in errors))
        self.errors = errors


class UnknownAchievementError(CatalogueError):
    """No achievement (or no such version of it) in the catalogue."""


class AnotherIssuersAchievementError(CatalogueError):
    """The achievement belongs to another issuer; only its own issuer may version it."""


class IncompleteProfileError(InvalidEntryError):
    """The issuer's profile lacks what every credential must state (legal name, legal
    identifier, country) or a DID; set them with ``PUT /v1/issuers/{id}``."""


@dataclass(frozen=True)
class AchievementPage:
    achievements: list[AchievementVersion]
    next_after: str | None  # pass as ``after`` for the next page; None on the last


@dataclass(frozen=True)
class PublicProfile:
    """What ``GET /v1/issuers/{id}`` shows: legal identity, QA, DID and chain address."""

    issuer_id: str
    name: str
    did: str
    chain_address: str
    fields: Mapping[str, str | None]  # PROFILE_COLUMNS' public names -> values
    did_method: str | None


# --- achievements --------------------------------------------------------------------------------


def new_achievement_id() -> str:
    return ACHIEVEMENT_ID_PREFIX + secrets.token_hex(10)


def _checked(body: Any) -> dict[str, Any]:
    errors = validate_achievement(body)
    if errors:
        raise InvalidEntryError(errors)
    return dict(body)


def _version(row: Any) -> AchievementVersion:
    return AchievementVersion(
        id=row.id,
        version=row.version,
        issuer_id=row.issuer_id,
        body=json.loads(row.body),
        created_at=row.created_at,
    )


def create_achievement(
    engine: Engine, issuer_id: str, body: Any, *, actor: str = "node"
) -> AchievementVersion:
    """Store a new achievement as version 1 (``InvalidEntryError`` naming every bad field)."""
    return _store(engine, issuer_id, new_achievement_id(), 1, _checked(body), actor)


def add_achievement_version(
    engine: Engine, issuer_id: str, achievement_id: str, body: Any, *, actor: str = "node"
) -> AchievementVersion:
    """Store ``body`` as the next version of the issuer's achievement ``achievement_id``."""
    checked = _checked(body)
    for _ in range(_VERSION_RETRIES):
        latest = get_achievement(engine, achievement_id)
        if latest.issuer_id != issuer_id:
            raise AnotherIssuersAchievementError(
                f"achievement {achievement_id!r} belongs to issuer {latest.issuer_id!r}"
            )
        try:
            return _store(engine, issuer_id, achievement_id, latest.version + 1, checked, actor)
        except IntegrityError:  # another request stored that version first
            continue
    raise CatalogueError(f"achievement {achievement_id!r} is being changed concurrently; retry")


def _store(
    engine: Engine,
    issuer_id: str,
    achievement_id: str,
    version: int,
    body: dict[str, Any],
    actor: str,
) -> AchievementVersion:
    created_at = utcnow()
    with engine.begin() as conn:
        if conn.execute(select(issuer_t.c.id).where(issuer_t.c.id == issuer_id)).first() is None:
            raise UnknownIssuerError(f"no issuer {issuer_id!r} in the index")
        conn.execute(
            insert(achievement_t).values(
                id=achievement_id,
                version=version,
                issuer_id=issuer_id,
                body=json.dumps(body, ensure_ascii=False, sort_keys=True),
                created_at=created_at,
            )
        )
        record_operation(
            conn,
            actor=actor,
            action="achievement.created" if version == 1 else "achievement.versioned",
            subject=f"achievement:{achievement_id}",
            details={"issuer": issuer_id, "version": version, "title": body["title"]},
        )
    return AchievementVersion(achievement_id, version, issuer_id, body, created_at)


def get_achievement(
    engine: Engine, achievement_id: str, version: int | None = None
) -> AchievementVersion:
    """The latest version of an achievement, or ``version`` of it."""
    query = select(achievement_t).where(achievement_t.c.id == achievement_id)
    if version is None:
        query = query.order_by(achievement_t.c.version.desc()).limit(1)
    else:
        query = query.where(achievement_t.c.version == version)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        which = f"version {version} of " if version is not None else ""
        raise UnknownAchievementError(f"no {which}achievement {achievement_id!r} in the catalogue")
    return _version(row)


def list_achievements(
    engine: Engine, *, issuer_id: str | None = None, limit: int = 50, after: str | None = None
) -> AchievementPage:
    """The latest version of each achievement, ordered by id; page on with ``after``."""
    latest = select(
        achievement_t.c.id.label("id"), func.max(achievement_t.c.version).label("version")
    ).group_by(achievement_t.c.id)
    if issuer_id is not None:
        latest = latest.where(achievement_t.c.issuer_id == issuer_id)
    if after is not None:
        latest = latest.where(achievement_t.c.id > after)
    newest = latest.subquery()
    query = (
        select(achievement_t)
        .join(
            newest,
            and_(achievement_t.c.id == newest.c.id, achievement_t.c.version == newest.c.version),
        )
        .order_by(achievement_t.c.id)
        .limit(limit + 1)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    items = [_version(row) for row in rows[:limit]]
    return AchievementPage(items, items[-1].id if len(rows) > limit else None)


# --- issuer profiles -----------------------------------------------------------------------------


def get_issuer_profile(engine: Engine, issuer_id: str) -> PublicProfile:
    """The issuer's public profile; fields never set are None."""
    query = (
        select(issuer_t, issuer_profile_t)
        .select_from(issuer_t)
        .outerjoin(issuer_profile_t, issuer_profile_t.c.issuer_id == issuer_t.c.id)
        .where(issuer_t.c.id == issuer_id)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise UnknownIssuerError(f"no issuer {issuer_id!r} in the index")
    values = row._mapping
    return PublicProfile(
        issuer_id=issuer_id,
        name=values[issuer_t.c.name],
        did=values[issuer_t.c.did],
        chain_address=values[issuer_t.c.chain_address],
        fields={
            name: values[issuer_profile_t.c[column]] for name, column in PROFILE_COLUMNS.items()
        },
        did_method=values[issuer_profile_t.c.did_method],
    )


def update_issuer_profile(
    engine: Engine, issuer_id: str, changes: Any, *, actor: str = "node"
) -> PublicProfile:
    """Set some of the profile's fields (``PROFILE_COLUMNS`` names, and ``did``)."""
    errors = validate_issuer_profile(changes, partial=True)
    if errors:
        raise InvalidEntryError(errors)
    values = {PROFILE_COLUMNS[k]: v for k, v in changes.items() if k in PROFILE_COLUMNS}
    did = changes.get("did")
    if did is not None:
        values["did_method"] = did.split(":")[1]
    with engine.begin() as conn:
        if conn.execute(select(issuer_t.c.id).where(issuer_t.c.id == issuer_id)).first() is None:
            raise UnknownIssuerError(f"no issuer {issuer_id!r} in the index")
        if did is not None:
            conn.execute(update(issuer_t).where(issuer_t.c.id == issuer_id).values(did=did))
        if "legal_name" in values:  # the issuer's display name is its legal name
            conn.execute(
                update(issuer_t).where(issuer_t.c.id == issuer_id).values(name=values["legal_name"])
            )
        where = issuer_profile_t.c.issuer_id == issuer_id
        exists = conn.execute(select(issuer_profile_t.c.issuer_id).where(where)).first()
        if exists is None:
            conn.execute(
                insert(issuer_profile_t).values(issuer_id=issuer_id, updated_at=utcnow(), **values)
            )
        else:
            conn.execute(
                update(issuer_profile_t).where(where).values(updated_at=utcnow(), **values)
            )
        record_operation(
            conn,
            actor=actor,
            action="issuer.profile-updated",
            subject=f"issuer:{issuer_id}",
            details={"fields": sorted(changes)},
        )
    return get_issuer_profile(engine, issuer_id)


def issuer_profile_for_credentials(engine: Engine, issuer_id: str) -> IssuerProfile:
    """The profile as credentials state it; ``IncompleteProfileError`` names what is missing."""
    profile = get_issuer_profile(engine, issuer_id)
    public = {k: v for k, v in profile.fields.items() if v is not None}
    if profile.did:
        public["did"] = profile.did
    errors = validate_issuer_profile(public)
    if not profile.did:
        errors.append(FieldError(("did",), "required field is missing"))
    if errors:
        raise IncompleteProfileError(errors)
    fields = profile.fields
    return IssuerProfile(
        issuer_id=issuer_id,
        did=profile.did,
        legal_name=str(fields["legalName"]),
        legal_identifier=str(fields["legalIdentifier"]),
        country=str(fields["country"]),
        region=fields["region"],
        qa_register=fields["qaRegister"],
        qa_identifier=fields["qaIdentifier"],
    )
