"""Per-digest revocations (contract version 1): `revoke(digests, reason)`, a storage slot per
digest, and what the transaction machine asks of such a batch.

When a batch is confirmed, each of its revocations gets the transaction and block of the
`CredentialRevoked` event that records it on the chain. The contract keeps the first
revocation of a digest and skips it later, so a digest revoked on chain before (by an
earlier transaction of the same issuer) keeps that earlier transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, bindparam, update

from mcledger.anchoring.chain import Receipt
from mcledger.anchoring.errors import ChainError
from mcledger.node.index.models import revocation_t

if TYPE_CHECKING:
    from mcledger.node.pipeline.revocation_flush import RevocationFlusher

_LOG_CHUNK = 5_000


class PerDigestRevocations:
    """The transaction machine's questions about batches of kind ``revoke`` (a version-1
    contract: `revoke(digests, reason)`)."""

    def __init__(self, flusher: RevocationFlusher) -> None:
        self.flusher = flusher

    def calldata(self, job: Row[Any]) -> bytes:
        return self.flusher.ledger.revoke_calldata(
            [bytes.fromhex(d) for d in self.flusher.digests(job)], job.reason
        )

    def _address(self, job: Row[Any]) -> str:
        return str(self.flusher.account_for(job.issuer_id).address)

    def done_on_chain(self, job: Row[Any]) -> bool:
        """Every digest revoked on chain by this issuer (usually the first is not)."""
        address = self._address(job)
        return all(
            self.flusher.ledger.revoked_at(address, bytes.fromhex(d)) != 0
            for d in self.flusher.digests(job)
        )

    def find_transaction(self, job: Row[Any]) -> str:
        """The newest transaction of this issuer that revoked any of the batch's digests
        (a digest revoked on chain before keeps an older one: the newest is the batch's)."""
        wanted = set(self.flusher.digests(job))
        address = self._address(job)
        start = self.flusher._scan_start(job.id)
        to_block = self.flusher.client.block_number()
        while to_block >= start:
            from_block = max(start, to_block - _LOG_CHUNK + 1)
            events = self.flusher.ledger.events(
                "CredentialRevoked", from_block, to_block, issuer=address
            )
            for event in reversed(events):
                if bytes(event["args"]["digest"]).hex() in wanted:
                    return "0x" + bytes(event["transactionHash"]).hex()
            to_block = from_block - 1
        raise ChainError(
            f"revocation batch {job.id} is on chain but no CredentialRevoked event of it was found"
        )

    def check_effect(self, job: Row[Any], receipt: Receipt) -> dict[str, tuple[str, int]]:
        """Every digest has its `CredentialRevoked` event: in this receipt, or (for a
        digest another transaction revoked) in that one. Returns digest -> (transaction, block)."""
        address = self._address(job)
        placed: dict[str, tuple[str, int]] = {}
        for event in self.flusher.ledger.events(
            "CredentialRevoked", receipt.block_number, receipt.block_number, issuer=address
        ):
            if "0x" + bytes(event["transactionHash"]).hex() == receipt.transaction_hash:
                placed[bytes(event["args"]["digest"]).hex()] = (
                    receipt.transaction_hash,
                    receipt.block_number,
                )
        for digest in self.flusher.digests(job):
            if digest not in placed:
                placed[digest] = self._other_event(job, address, digest)
        return placed

    def _other_event(self, job: Row[Any], address: str, digest: str) -> tuple[str, int]:
        """The event of a digest that another transaction revoked (before this batch's, or
        after an adopted older one), newest first from the head."""
        if self.flusher.ledger.revoked_at(address, bytes.fromhex(digest)) == 0:
            raise ChainError(f"revocation batch {job.id}: {digest} is not revoked on chain")
        to_block = self.flusher.client.block_number()
        while to_block >= 0:
            from_block = max(0, to_block - _LOG_CHUNK + 1)
            found = self.flusher.ledger.events(
                "CredentialRevoked",
                from_block,
                to_block,
                issuer=address,
                digest=bytes.fromhex(digest),
            )
            if found:
                return "0x" + bytes(found[0]["transactionHash"]).hex(), int(found[0]["blockNumber"])
            to_block = from_block - 1
        raise ChainError(
            f"{digest} is revoked on chain but its CredentialRevoked event was not found"
        )

    def record_effect(
        self, conn: Connection, job: Row[Any], placed: dict[str, tuple[str, int]]
    ) -> None:
        """Each revocation gets the transaction and block of its own event."""
        conn.execute(
            update(revocation_t)
            .where(revocation_t.c.batch_id == job.id, revocation_t.c.digest == bindparam("d"))
            .values(transaction_hash=bindparam("tx"), block_number=bindparam("block")),
            [{"d": d, "tx": tx, "block": block} for d, (tx, block) in placed.items()],
        )
