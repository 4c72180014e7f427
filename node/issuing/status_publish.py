"""Publishing status lists: the bits of a list derived from the index's revocation and
suspension rows, signed as a BitstringStatusListCredential, and cached until a change of
its issuer's revocations or suspensions may have flipped a bit.

A list is signed once per content: the signed document is kept in the index
(``status_list_publication``) with the hash of its bits and of its signer, and served as
stored, byte for byte after a restart or by another process, until a bit (or the signer)
changes. Its ``validFrom`` is therefore when its bits last changed, and the SHA-256 a flush
commits on chain stays the hash of what is served (docs/formats.md "Status lists on the
record").
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cachetools import LRUCache
from sqlalchemy import Connection, Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mcledger.anchoring.bundle import format_time
from mcledger.anchoring.status_commitment import status_list_hash
from mcledger.node.credentials.dataintegrity import sign_credential
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.credentials.statuslist import (
    Bitstring,
    StatusListCredential,
    StatusPurpose,
)
from mcledger.node.index.models import revocation_t, utcnow
from mcledger.node.index.models_commitments import status_list_publication_t
from mcledger.node.index.models_credentials import credential_t
from mcledger.node.index.models_status import status_entry_t, status_list_t, suspension_t
from mcledger.node.issuing.status_lists import (
    StatusListUnavailableError,
    UnknownStatusListError,
    status_list_url,
)


def set_indexes(conn: Connection, list_id: str) -> list[int]:
    """The indexes of the list whose bit is 1, derived from the revocation or suspension rows.

    The joins go through unique keys only (digest, credential id) and the issuer is a
    constant: joined on the issuer, a planner without statistics (a new index) may pair
    every entry with every revocation.
    """
    listed = conn.execute(
        select(status_list_t.c.issuer_id, status_list_t.c.purpose).where(
            status_list_t.c.id == list_id
        )
    ).one()
    entry = status_entry_t.c
    if listed.purpose == StatusPurpose.REVOCATION:
        # Through the credential's digest: revocations are keyed (issuer, digest), as on chain.
        source = revocation_t.join(credential_t, credential_t.c.digest == revocation_t.c.digest)
        source = source.join(status_entry_t, entry.credential_id == credential_t.c.id)
        mine = and_(
            revocation_t.c.issuer_id == listed.issuer_id,
            credential_t.c.issuer_id == listed.issuer_id,
        )
    else:
        source = suspension_t.join(
            status_entry_t, entry.credential_id == suspension_t.c.credential_id
        )
        mine = and_(
            suspension_t.c.issuer_id == listed.issuer_id, suspension_t.c.lifted_at.is_(None)
        )
    query = (
        select(entry.idx)
        .select_from(source)
        .where(mine, entry.list_id == list_id, entry.purpose == listed.purpose)
    )
    return sorted(set(conn.execute(query).scalars()))


def _version(conn: Connection, issuer_id: str, purpose: StatusPurpose) -> str:
    """A value that changes whenever a bit of the issuer's lists for ``purpose`` may have:
    revocations are only ever added (final, never deleted), so their newest id; a
    suspension adds a row and a lift fills ``lifted_at``, so the newest id and the lifts.
    Two small aggregates, where deriving the bits reads every entry of the list."""
    if purpose is StatusPurpose.REVOCATION:
        newest = conn.execute(
            select(func.max(revocation_t.c.id)).where(revocation_t.c.issuer_id == issuer_id)
        ).scalar()
        return f"r{newest or 0}"
    newest, lifted = conn.execute(
        select(func.max(suspension_t.c.id), func.count(suspension_t.c.lifted_at)).where(
            suspension_t.c.issuer_id == issuer_id
        )
    ).one()
    return f"s{newest or 0}.{lifted}"


def status_versions(conn: Connection, issuer_id: str) -> dict[str, str]:
    """The issuer's status version for each purpose, as a published list records it."""
    return {str(purpose): _version(conn, issuer_id, purpose) for purpose in StatusPurpose}


@dataclass(frozen=True)
class PublishedStatusList:
    credential: dict[str, Any]
    version: str  # changes whenever a bit may have (a weak ETag)


class SignedListCache:
    """Signed lists by (list, content, signer): a thread-safe LRU."""

    def __init__(self, maxsize: int = 256) -> None:
        self._cache: LRUCache[tuple[str, ...], dict[str, Any]] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()

    def get_or_sign(
        self, key: tuple[str, ...], sign: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        with self._lock:
            signed = self._cache.get(key)
        if signed is None:  # two threads may both sign on a miss; either result is right
            signed = sign()
            with self._lock:
                self._cache[key] = signed
        return copy.deepcopy(signed)


_DEFAULT_CACHE = SignedListCache()


def publish_status_list(
    engine: Engine,
    list_id: str,
    key: Ed25519SigningKey,
    did: str,
    verification_method: str,
    base_url: str,
    *,
    issuer_id: str | None = None,
    cache: SignedListCache | None = None,
) -> PublishedStatusList:
    """The list as a signed BitstringStatusListCredential, its bits as of now.

    ``issuer_id``: the issuer ``key`` signs for; another issuer's list is refused.
    """
    with engine.connect() as conn:
        row = conn.execute(select(status_list_t).where(status_list_t.c.id == list_id)).first()
        if row is None:
            raise UnknownStatusListError(f"no status list {list_id}")
        if issuer_id is not None and row.issuer_id != issuer_id:
            raise StatusListUnavailableError(
                f"status list {list_id} is issuer {row.issuer_id!r}'s; this node signs only "
                f"for {issuer_id!r}"
            )
        purpose = StatusPurpose(row.purpose)
        # Read before the bits: a list signed on a miss is then never older than its key.
        version = _version(conn, row.issuer_id, purpose)
    url = status_list_url(base_url, list_id)
    signer = (did, verification_method, key.public_key_multibase)
    signer_hash = hashlib.sha256("\n".join((*signer, url)).encode()).hexdigest()

    def sign(bits: Bitstring) -> dict[str, Any]:
        now = datetime.now(UTC).replace(microsecond=0)
        unsigned = StatusListCredential(url, did, purpose, format_time(now), bits.encode())
        return sign_credential(unsigned.to_json(), key, verification_method, now)

    def stored_or_signed() -> dict[str, Any]:
        return _publication(engine, list_id, row.size, version, signer_hash, sign)

    signed = (cache or _DEFAULT_CACHE).get_or_sign(
        (list_id, version, url, *signer), stored_or_signed
    )
    return PublishedStatusList(signed, version)


def _publication(
    engine: Engine,
    list_id: str,
    size: int,
    version: str,
    signer: str,
    sign: Callable[[Bitstring], dict[str, Any]],
) -> dict[str, Any]:
    """The list's stored document while its bits and signer are the same, else a new one,
    signed and stored in its place. Two processes that sign the same change at once keep
    one document: the store is a compare-and-swap on the previous bits, and the loser
    serves the winner's."""
    pub = status_list_publication_t.c
    for _ in range(3):
        with engine.connect() as conn:
            stored = conn.execute(
                select(status_list_publication_t).where(pub.list_id == list_id)
            ).first()
            if stored is not None and stored.signer == signer and stored.version == version:
                return dict(json.loads(stored.document))
            indexes = set_indexes(conn, list_id)
        bits = Bitstring(size)
        bits.set_many(indexes)
        bits_hash = hashlib.sha256(bits.to_bytes()).hexdigest()
        same = stored is not None and stored.signer == signer and stored.bits_hash == bits_hash
        with engine.begin() as conn:
            if same:  # no bit changed since it was signed: note the version checked, keep it
                assert stored is not None
                conn.execute(
                    update(status_list_publication_t)
                    .where(pub.list_id == list_id, pub.bits_hash == bits_hash)
                    .values(version=version)
                )
                return dict(json.loads(stored.document))
            document = sign(bits)
            values = {
                "version": version,
                "bits_hash": bits_hash,
                "signer": signer,
                "document": json.dumps(document, ensure_ascii=False),
                "document_hash": status_list_hash(document).hex(),
                "signed_at": utcnow(),
            }
            if stored is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(status_list_publication_t).values(list_id=list_id, **values)
                        )
                except IntegrityError:
                    continue  # another process stored it first: read theirs
                return document
            swapped = conn.execute(
                update(status_list_publication_t)
                .where(
                    pub.list_id == list_id,
                    pub.bits_hash == stored.bits_hash,
                    pub.signer == stored.signer,
                )
                .values(**values)
            ).rowcount
            if swapped == 1:
                return document
    raise StatusListUnavailableError(
        f"status list {list_id} kept changing while it was being signed; try again"
    )
