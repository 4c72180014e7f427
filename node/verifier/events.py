"""Reading the contract's events for an auditor: every `RootAnchored`, `CredentialRevoked`,
`RevocationsCommitted` and `StatusListCommitted` in a block range, read with one
`eth_getLogs` a chunk and decoded by hand (their layouts are fixed), with no database: the
chain side of `mcledger audit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from eth_utils import to_checksum_address

from mcledger.anchoring.errors import ChainError
from mcledger.anchoring.ledger import (
    CREDENTIAL_REVOKED_TOPIC,
    REVOCATIONS_COMMITTED_TOPIC,
    ROOT_ANCHORED_TOPIC,
    STATUS_LIST_COMMITTED_TOPIC,
    LedgerContract,
    RevocationsCommitted,
    StatusListCommitted,
    decode_revocations_committed,
    decode_status_list_committed,
)

Progress = Callable[[int, int], None]
"""Called with (blocks done, blocks in all) as a long read goes on."""


@dataclass(frozen=True)
class AnchorEvent:
    """A `RootAnchored` event: a root, who anchored it, its tree size, where."""

    root: str
    issuer: str  # checksummed
    tree_size: int
    transaction_hash: str  # 0x + lower-case hex
    block_number: int


@dataclass(frozen=True)
class RevocationEvent:
    """A `CredentialRevoked` event: a digest, who revoked it, the reason code, where."""

    digest: str
    issuer: str  # checksummed
    reason: int
    transaction_hash: str
    block_number: int


@dataclass
class ChainEvents:
    """The contract's anchors, revocations and commitments in a block range, in chain order."""

    anchors: list[AnchorEvent] = field(default_factory=list)
    revocations: list[RevocationEvent] = field(default_factory=list)
    commitments: list[RevocationsCommitted] = field(default_factory=list)
    status_lists: list[StatusListCommitted] = field(default_factory=list)


def _word(hex_text: str) -> bytes:
    raw = bytes.fromhex(hex_text.removeprefix("0x"))
    if len(raw) != 32:
        raise ChainError(f"a log word of {len(raw)} bytes, not 32")
    return raw


_TOPICS = [
    ROOT_ANCHORED_TOPIC,
    CREDENTIAL_REVOKED_TOPIC,
    REVOCATIONS_COMMITTED_TOPIC,
    STATUS_LIST_COMMITTED_TOPIC,
]


@lru_cache(maxsize=1024)  # a handful of issuers, thousands of events each
def _address(word: bytes) -> str:
    return to_checksum_address(word[12:])


def read_events(
    ledger: LedgerContract,
    from_block: int,
    to_block: int,
    *,
    chunk: int = 2000,
    progress: Progress | None = None,
) -> ChainEvents:
    """Every `RootAnchored`, `CredentialRevoked`, `RevocationsCommitted` and
    `StatusListCommitted` event in [from_block, to_block], read ``chunk`` blocks at a time,
    one `eth_getLogs` per chunk for all, decoded by hand (the layouts are fixed: indexed
    words in the topics, the rest ABI-encoded in the data)."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    total = max(0, to_block - from_block + 1)
    events = ChainEvents()
    if progress is not None:
        progress(0, total)
    start = from_block
    while start <= to_block:
        end = min(start + chunk - 1, to_block)
        for log in ledger.raw_logs(start, end, _TOPICS):
            if log.get("removed"):
                continue
            topics = log["topics"]
            try:
                if topics[0] == REVOCATIONS_COMMITTED_TOPIC:
                    events.commitments.append(decode_revocations_committed(log))
                    continue
                if topics[0] == STATUS_LIST_COMMITTED_TOPIC:
                    events.status_lists.append(decode_status_list_committed(log))
                    continue
            except Exception as exc:  # not the contract's layout (eth_abi raises its own)
                raise ChainError(
                    f"a malformed log in block {log.get('blockNumber')}: {exc}"
                ) from exc
            value = int.from_bytes(_word(log["data"]), "big")
            tx_hash, block = str(log["transactionHash"]).lower(), int(log["blockNumber"], 16)
            if topics[0] == ROOT_ANCHORED_TOPIC:
                events.anchors.append(
                    AnchorEvent(
                        root=_word(topics[1]).hex(),
                        issuer=_address(_word(topics[2])),
                        tree_size=value,
                        transaction_hash=tx_hash,
                        block_number=block,
                    )
                )
            else:
                events.revocations.append(
                    RevocationEvent(
                        digest=_word(topics[2]).hex(),
                        issuer=_address(_word(topics[1])),
                        reason=value,
                        transaction_hash=tx_hash,
                        block_number=block,
                    )
                )
        if progress is not None:
            progress(end - from_block + 1, total)
        start = end + 1
    return events
