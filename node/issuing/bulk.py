"""Bulk issuance: chunks of validated awards issued as ``CredentialIssuer.issue_awards``
issues them — one transaction a chunk, all or none — with the signing done by a
:class:`~node.issuing.signing_workers.BatchSigner` (worker processes, or this process).

The parent keeps every index step, in order: it reserves a chunk's status-list slots before
the chunk is signed (the credential names them) and stores the chunks in the order they
came, so a failure leaves exactly the chunks before it issued — as in one process — and
frees the slots of every chunk reserved after them.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from mcledger.node.issuing.award_batches import (
    AwardBatch,
    SignedText,
    StoredCredential,
    learner_link,
)
from mcledger.node.issuing.issuance import CredentialIssuer
from mcledger.node.issuing.signing_workers import BatchSigner, SigningWorkers
from mcledger.node.issuing.status_lists import release_status_entries


@dataclass(frozen=True)
class BulkIssued:
    """One credential issued in bulk, as the CLI writes it out."""

    award: Mapping[str, Any]
    credential_id: str
    digest: str
    learner_key: str
    file_text: str  # award_batches.credential_file_text of the signed credential

    def learner_link(self, base_url: str) -> str:
        return learner_link(self.credential_id, self.learner_key, base_url)


# Below this many rows the default is to sign in this process: starting the workers (each
# imports the JSON-LD processor and expands the achievement's shapes once) costs more.
SMALL_RUN = 1_000


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def signing_workers(
    issuer: CredentialIssuer, workers: int | None, rows: int
) -> AbstractContextManager[SigningWorkers | None]:
    """The workers for ``rows`` rows: ``workers`` of them (default: one per CPU, none for a
    small run), or None to sign in this process. They stop when the ``with`` ends; at once
    if it ends on an error."""
    if workers is None:
        workers = available_cpus() if rows >= SMALL_RUN else 1
    if workers == 1:
        return nullcontext()
    return SigningWorkers(issuer.key, workers, sign_and_digest=issuer.sign_and_digest)


def issue_chunks(
    issuer: CredentialIssuer,
    chunks: Iterable[Sequence[Mapping[str, Any]]],
    signer: BatchSigner,
    *,
    actor: str,
) -> Iterator[list[BulkIssued]]:
    """Issue each chunk of validated awards; yield its credentials once stored, in order.

    Up to ``signer.depth`` chunks are reserved and signing ahead of the one being stored.
    On any error (or when the caller stops early) the chunks already yielded stay issued
    and the reserved slots of the rest are released.
    """
    pending: deque[AwardBatch] = deque()
    try:
        for awards in chunks:
            pending.append(issuer.prepare_awards(awards))
            signer.submit(pending[-1])
            if len(pending) >= signer.depth:
                yield _store(issuer, pending, signer.next_result(), actor)
        while pending:
            yield _store(issuer, pending, signer.next_result(), actor)
    finally:
        if pending:
            signer.cancel()
            release_status_entries(
                issuer.engine, [cid for batch in pending for cid in batch.credential_ids]
            )


def _store(
    issuer: CredentialIssuer, pending: deque[AwardBatch], signed: list[SignedText], actor: str
) -> list[BulkIssued]:
    """Store the oldest pending batch (one transaction), then drop it from ``pending``."""
    batch = pending[0]
    issuer.store_rows(
        [
            StoredCredential(credential_id, text.digest, text.body, learner_key, achievement)
            for credential_id, text, learner_key, achievement in zip(
                batch.credential_ids,
                signed,
                batch.learner_keys,
                batch.achievement_versions(),
                strict=True,
            )
        ],
        actor,
    )
    pending.popleft()
    return [
        BulkIssued(award, credential_id, text.digest, learner_key, text.file_text)
        for award, credential_id, text, learner_key in zip(
            batch.awards, batch.credential_ids, signed, batch.learner_keys, strict=True
        )
    ]
