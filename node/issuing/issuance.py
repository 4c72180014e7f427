"""Issuing micro-credentials: validate, build, sign, digest, index, in that order.

A credential and its digest's submission row are written in one transaction,
so an issued credential is always queued for anchoring and never half-stored.
The learner gets a per-credential secret link; only its SHA-256 is kept.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from mcledger.node.credentials.annex import FieldError, validate_award
from mcledger.node.credentials.annex_credential import validate_credential
from mcledger.node.credentials.build import AchievementVersion
from mcledger.node.credentials.dataintegrity import credential_digest, sign_credential
from mcledger.node.credentials.fastpath import sign_and_digest as fast_sign_and_digest
from mcledger.node.credentials.loader import check_contexts, default_loader
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.errors import NodeError
from mcledger.node.index.models import operation_t, utcnow
from mcledger.node.index.models_credentials import credential_t
from mcledger.node.index.oplog import record_operation
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.issuing.award_batches import (
    AwardBatch,
    IssuedCredential,
    SignAndDigest,
    StoredCredential,
    sign_batch,
    stored_body,
)
from mcledger.node.issuing.catalogue import (
    get_achievement,
    get_issuer_profile,
    issuer_profile_for_credentials,
    update_issuer_profile,
)
from mcledger.node.issuing.status_lists import release_status_entries, reserve_many

DID_KEY_FRAGMENT = "key-1"


def did_document(did: str, key: Ed25519SigningKey) -> dict[str, Any]:
    """The DID document of a did:web issuer: its Ed25519 key as a Multikey that may assert
    credentials (W3C DID 1.0, Controlled Identifiers "Multikey")."""
    method = f"{did}#{DID_KEY_FRAGMENT}"
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [
            {
                "id": method,
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": key.public_key_multibase,
            }
        ],
        "assertionMethod": [method],
        "authentication": [method],
    }


class IssuanceError(NodeError):
    """A credential cannot be issued as asked."""


class InvalidCredentialRequest(IssuanceError):
    """The award or credential is invalid; ``errors`` names every bad field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors[:5]))


class UnknownCredentialError(IssuanceError):
    """No credential with that id in the index."""


class CredentialAccessError(IssuanceError):
    """The caller may not read or change this credential."""


_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def _relative_ids(credential: Mapping[str, Any]) -> list[FieldError]:
    """Ids must be absolute IRIs: a relative one would be signed against a made-up base
    that other JSON-LD processors do not use, and their verification would fail."""
    places: list[tuple[tuple[str | int, ...], Any]] = [(("id",), credential.get("id"))]
    subject = credential.get("credentialSubject")
    if isinstance(subject, dict):
        places.append((("credentialSubject", "id"), subject.get("id")))
    return [
        FieldError(loc, "must be an absolute IRI (e.g. urn:uuid:…)")
        for loc, value in places
        if value is not None and not (isinstance(value, str) and _ABSOLUTE_IRI.match(value))
    ]


def full_sign_and_digest(
    unsigned: Mapping[str, Any], key: Ed25519SigningKey, method: str, created: datetime
) -> tuple[dict[str, Any], bytes]:
    """The reference path: sign, then digest the signed credential (pyld throughout)."""
    signed = sign_credential(unsigned, key, method, created)
    return signed, credential_digest(signed)


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _learner_key() -> str:
    """A learner link's secret: 192 random bits (only its SHA-256 is kept)."""
    return secrets.token_urlsafe(24)


class CredentialIssuer:
    """Issues credentials for one issuer with its Ed25519 key."""

    def __init__(
        self,
        engine: Engine,
        issuer_id: str,
        key: Ed25519SigningKey,
        *,
        store_bodies: bool = True,
        sign_and_digest: SignAndDigest | None = None,
        did: str | None = None,
        base_url: str = "http://127.0.0.1:8000",
    ) -> None:
        self.engine = engine
        self.issuer_id = issuer_id
        self.key = key
        # did:key by default; a did:web (or did:ebsi) DID names the same key as #key-1 in
        # the DID document the node serves (see did_document).
        self.did = did or key.did
        self.verification_method = (
            key.verification_method if self.did == key.did else f"{self.did}#{DID_KEY_FRAGMENT}"
        )
        self.store_bodies = store_bodies
        self.base_url = base_url.rstrip("/")  # where status lists are published
        # Credentials of one achievement share their shape: the fast path expands it once
        # and is byte-identical to full_sign_and_digest (tests/node/credentials/test_fastpath).
        self.sign_and_digest = sign_and_digest or fast_sign_and_digest

    # -- the two request forms -------------------------------------------------------------
    def issue_award(self, award: Any, *, actor: str) -> IssuedCredential:
        """Issue from an award (POST /v1/credentials with an achievement id)."""
        errors = validate_award(award)
        if errors:
            raise InvalidCredentialRequest(errors)
        return self.issue_awards([award], actor=actor)[0]

    def issue_awards(
        self, awards: Sequence[Mapping[str, Any]], *, actor: str
    ) -> list[IssuedCredential]:
        """Issue validated awards together: the catalogue is read once per achievement and
        all of them are stored in one transaction (all or none)."""
        batch = self.prepare_awards(awards)
        try:
            issued = sign_batch(batch, self.key, self.sign_and_digest)
            self.store_many(list(zip(issued, batch.achievement_versions(), strict=True)), actor)
        except BaseException:
            release_status_entries(self.engine, batch.credential_ids)
            raise
        return issued

    def prepare_awards(self, awards: Sequence[Mapping[str, Any]]) -> AwardBatch:
        """What the index decides for validated awards before they are signed: the catalogue
        versions, new ids, random status-list slots (reserved now, because the credential
        names them; release_status_entries frees them if the batch is never stored) and the
        learners' link secrets. Bulk issuance signs the batch in worker processes."""
        profile = issuer_profile_for_credentials(self.engine, self.issuer_id)
        issued_at = datetime.now(UTC).replace(microsecond=0)
        achievements: dict[str, AchievementVersion] = {}
        for award in awards:  # refuse before reserving anything
            if award["achievement"] not in achievements:
                achievement = get_achievement(self.engine, award["achievement"])
                if achievement.issuer_id != self.issuer_id:
                    raise CredentialAccessError(
                        f"achievement {award['achievement']} belongs to another issuer"
                    )
                achievements[award["achievement"]] = achievement
        ids = [f"urn:uuid:{uuid.uuid4()}" for _ in awards]
        slots = reserve_many(self.engine, self.issuer_id, ids)
        return AwardBatch(
            profile=profile,
            achievements=achievements,
            awards=tuple(awards),
            credential_ids=tuple(ids),
            status_entries=tuple(slot.entries(self.base_url) for slot in slots),
            learner_keys=tuple(_learner_key() for _ in awards),
            issued_at=issued_at,
            verification_method=self.verification_method,
        )

    def issue_unsigned(self, credential: Any, *, actor: str) -> IssuedCredential:
        """Issue a full unsigned credential built elsewhere; it must name this issuer's DID."""
        errors = validate_credential(credential)
        if not errors:
            errors += _relative_ids(credential)
        if not errors and "credentialStatus" in credential:
            errors.append(FieldError(("credentialStatus",), "assigned by the node; leave it out"))
        if not errors and "proof" in credential:
            errors.append(FieldError(("proof",), "send the credential unsigned; the node signs it"))
        if errors:
            raise InvalidCredentialRequest(errors)
        check_contexts(credential, default_loader())
        issuer = credential["issuer"]
        issuer_did = issuer["id"] if isinstance(issuer, dict) else issuer
        if issuer_did != self.did:
            raise InvalidCredentialRequest(
                [FieldError(("issuer", "id"), f"must be this issuer's DID {self.did}")]
            )
        unsigned = dict(credential)
        unsigned.setdefault("id", f"urn:uuid:{uuid.uuid4()}")
        slot = reserve_many(self.engine, self.issuer_id, [unsigned["id"]])[0]
        unsigned["credentialStatus"] = slot.entries(self.base_url)
        issued_at = datetime.now(UTC).replace(microsecond=0)
        try:
            return self._sign_and_store(unsigned, issued_at, None, actor)
        except BaseException:
            release_status_entries(self.engine, [unsigned["id"]])
            raise

    # -- signing and storage ---------------------------------------------------------------
    def _sign(self, unsigned: dict[str, Any], issued_at: datetime) -> IssuedCredential:
        signed, digest = self.sign_and_digest(
            unsigned, self.key, self.verification_method, issued_at
        )
        return IssuedCredential(signed, digest.hex(), _learner_key())

    def _sign_and_store(
        self,
        unsigned: dict[str, Any],
        issued_at: datetime,
        achievement: tuple[str, int] | None,
        actor: str,
    ) -> IssuedCredential:
        issued = self._sign(unsigned, issued_at)
        self.store_many([(issued, achievement)], actor)
        return issued

    def store_many(
        self, issued: Sequence[tuple[IssuedCredential, tuple[str, int] | None]], actor: str
    ) -> None:
        """Index the credentials and queue their digests, in one transaction."""
        self.store_rows(
            [
                StoredCredential(
                    item.credential["id"],
                    item.digest,
                    stored_body(item.credential) if self.store_bodies else None,
                    item.learner_key,
                    achievement,
                )
                for item, achievement in issued
            ],
            actor,
        )

    def store_rows(self, rows: Sequence[StoredCredential], actor: str) -> None:
        """:meth:`store_many` for credentials already in their stored form (bulk issuance:
        the signing workers send JSON text)."""
        if not rows:
            return
        now = utcnow()
        submissions, credentials, operations = [], [], []
        for row in rows:
            submissions.append(
                {
                    "issuer_id": self.issuer_id,
                    "digest": row.digest,
                    "credential_id": row.credential_id,
                    "submitted_at": now,
                }
            )
            credentials.append(
                {
                    "id": row.credential_id,
                    "issuer_id": self.issuer_id,
                    "achievement_id": row.achievement[0] if row.achievement else None,
                    "achievement_version": row.achievement[1] if row.achievement else None,
                    "digest": row.digest,
                    "body": row.body if self.store_bodies else None,
                    "learner_key_hash": _hash_key(row.learner_key),
                    "erased_at": None,
                    "issued_at": now,
                }
            )
            operations.append(
                {
                    "at": now,
                    "actor": actor,
                    "action": "credential.issued",
                    "subject": row.credential_id,
                    "details": json.dumps({"bodyStored": self.store_bodies, "digest": row.digest}),
                }
            )
        with self.engine.begin() as conn:
            insert_submissions(conn, submissions)  # numbered in the issuer's order
            conn.execute(insert(credential_t), credentials)
            conn.execute(insert(operation_t), operations)


# -- reading and erasing -------------------------------------------------------------------


@dataclass(frozen=True)
class CredentialRow:
    id: str
    issuer_id: str
    digest: str
    body: dict[str, Any] | None
    erased_at: datetime | None


def get_credential(engine: Engine, credential_id: str) -> CredentialRow:
    with engine.connect() as conn:
        row = conn.execute(select(credential_t).where(credential_t.c.id == credential_id)).first()
    if row is None:
        raise UnknownCredentialError(f"no credential {credential_id}")
    return CredentialRow(
        row.id, row.issuer_id, row.digest, json.loads(row.body) if row.body else None, row.erased_at
    )


def learner_key_matches(engine: Engine, credential_id: str, key: str) -> bool:
    with engine.connect() as conn:
        stored = conn.execute(
            select(credential_t.c.learner_key_hash).where(credential_t.c.id == credential_id)
        ).scalar_one_or_none()
    return stored is not None and secrets.compare_digest(stored, _hash_key(key))


def erase_credential(engine: Engine, credential_id: str, issuer_id: str, *, actor: str) -> None:
    """Remove the body and the learner's data; keep digest, proof and revocation record.

    The learner's own copy still verifies: the digest stays anchored and provable.
    """
    with engine.begin() as conn:
        owner = conn.execute(
            select(credential_t.c.issuer_id).where(credential_t.c.id == credential_id)
        ).scalar_one_or_none()
        if owner is None:
            raise UnknownCredentialError(f"no credential {credential_id}")
        if owner != issuer_id:
            raise CredentialAccessError(f"credential {credential_id} belongs to another issuer")
        conn.execute(
            update(credential_t)
            .where(credential_t.c.id == credential_id)
            .values(body=None, learner_key_hash=None, erased_at=utcnow())
        )
        record_operation(
            conn, actor=actor, action="credential.erased", subject=credential_id, details={}
        )


DEV_PROFILE = {
    "legalName": "mcledger development issuer",
    "legalIdentifier": "DEV-0001",
    "country": "LV",
    "region": "Rīga",
    "qaRegister": "none (development mode)",
}


def ensure_signing_identity(engine: Engine, issuer_id: str, did: str, *, dev: bool) -> None:
    """Record the DID the node signs as (its configuration is authoritative); in development
    mode also give an empty profile placeholder legal details, so credentials can be issued
    at once."""
    profile = get_issuer_profile(engine, issuer_id)
    changes: dict[str, Any] = {}
    if profile.did != did:
        changes["did"] = did
    if dev:
        changes |= {k: v for k, v in DEV_PROFILE.items() if not profile.fields.get(k)}
    if changes:
        update_issuer_profile(engine, issuer_id, changes, actor="node")
