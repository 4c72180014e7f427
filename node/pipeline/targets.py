"""Where a batch's root goes: the anchoring targets (docs/formats.md, "The anchor's target").

- `LedgerTarget`: the MicroCredentialLedger, ``anchor(root, treeSize)``; the chain holds
  the root in ``anchorOf``, its transaction emitted ``RootAnchored``, and a second anchor
  is refused with ``RootAlreadyAnchored``.
- `TimestampTarget`: EBSI's Timestamp interface, ``timestampHashes([algorithm], [root],
  [timestampData])`` with the tree size and the issuer's DID in the data
  (`anchoring.timestamp_data`); the chain holds it in ``getTimestamp(root)``, its
  transaction emitted ``TimestampedHashes`` with the id ``sha256(root)``, and a second
  timestamp is refused with ``HashAlreadyTimestamped``.

The Anchorer drives both through the one transaction machine; a target says what the call
is, what the chain holds for a root, where to find the event that put it there, and which
refusal means "it is there already". A batch is sealed for a target (`BatchTarget`, kept in
the index) and stays on it: a crash, a restart or a changed setting never sends a batch's
root somewhere else than its first transaction went.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mcledger.anchoring.bundle import EBSI_TIMESTAMP_TARGET, LEDGER_TARGET
from mcledger.anchoring.contract import ZERO_ADDRESS, ContractBinding
from mcledger.anchoring.errors import TimestampDataError
from mcledger.anchoring.ledger import LedgerContract
from mcledger.anchoring.timestamp import TimestampContract, timestamp_id
from mcledger.anchoring.timestamp_data import encode_timestamp_data
from mcledger.node.errors import NodeError


@dataclass(frozen=True)
class BatchTarget:
    """What the index records of a batch's target when it is sealed. For ``ebsi-timestamp``:
    the Timestamp contract, the hash algorithm id, the issuer DID written beside the root
    and the MicroCredentialLedger beside it; for ``ledger`` nothing more (its contract is
    recorded at confirmation, as before targets existed)."""

    target: str = LEDGER_TARGET
    contract: str | None = None
    hash_algorithm_id: int | None = None
    issuer_did: str | None = None
    ledger: str | None = None

    def columns(self) -> dict[str, Any]:
        """The batch table's columns for this target."""
        return {
            "target": self.target,
            "contract": self.contract,
            "hash_algorithm_id": self.hash_algorithm_id,
            "issuer_did": self.issuer_did,
            "ledger_contract": self.ledger,
        }


@dataclass(frozen=True)
class RootOnChain:
    """What a target's contract holds for a root: who put it there, for which tree size, in
    which block; a timestamp also keeps the issuer DID and the hash algorithm. Fields left
    None are not recorded by that target (or, as an expectation, not compared)."""

    sender: str
    tree_size: int | None = None
    block_number: int | None = None
    issuer_did: str | None = None
    hash_algorithm_id: int | None = None
    unreadable: str | None = None  # why the timestamp's data is not the node's encoding

    @property
    def exists(self) -> bool:
        return self.sender != ZERO_ADDRESS

    def matches(self, expected: RootOnChain) -> bool:
        """Whether this is what ``expected`` says (its None fields are not compared)."""
        if self.unreadable is not None or self.sender.lower() != expected.sender.lower():
            return False
        pairs = (
            (self.tree_size, expected.tree_size),
            (self.issuer_did, expected.issuer_did),
            (self.hash_algorithm_id, expected.hash_algorithm_id),
        )
        return all(wanted is None or found == wanted for found, wanted in pairs)

    def describe(self) -> str:
        """``for 0x… with size 7`` (and the DID and algorithm of a timestamp)."""
        parts = [f"for {self.sender}"]
        if self.unreadable is not None:
            parts.append(f"with timestampData that is not the node's ({self.unreadable})")
        if self.tree_size is not None:
            parts.append(f"with size {self.tree_size}")
        if self.issuer_did is not None:
            parts.append(f"DID {self.issuer_did}")
        if self.hash_algorithm_id is not None:
            parts.append(f"hash algorithm {self.hash_algorithm_id}")
        return ", ".join(parts)


@dataclass(frozen=True)
class EventQuery:
    """Where the transaction that put a root on chain is found: its event's name and
    indexed filters, a test on each decoded event, and a block range (None: the machine
    scans from the batch's first attempt to the head)."""

    event: str
    filters: Mapping[str, Any] = field(default_factory=dict)
    match: Callable[[Any], bool] | None = None
    blocks: tuple[int, int] | None = None


class AnchorTarget(ABC):
    """One way of putting a batch's root on chain (see the module docstring)."""

    name: ClassVar[str]
    already_there: ClassVar[str]  # the custom error of a second attempt at the same root
    contract: ContractBinding

    @abstractmethod
    def calldata(self, root: bytes, tree_size: int, issuer_did: str | None) -> bytes:
        """The call that puts ``root`` on chain."""

    @abstractmethod
    def read(self, root: bytes, *, block: int | str = "latest") -> RootOnChain:
        """What the contract holds for ``root`` at ``block``."""

    @abstractmethod
    def expected(self, sender: str, tree_size: int, issuer_did: str | None) -> RootOnChain:
        """What the contract must hold once this node put ``root`` there."""

    @abstractmethod
    def event_query(self, root: bytes, onchain: RootOnChain) -> EventQuery:
        """Where to find the transaction that put ``root`` on chain."""

    @abstractmethod
    def batch_target(self, ledger: str, issuer_did: str | None) -> BatchTarget:
        """What a batch sealed now for this target records."""


class LedgerTarget(AnchorTarget):
    """The MicroCredentialLedger: ``anchor(root, treeSize)``."""

    name = LEDGER_TARGET
    already_there = "RootAlreadyAnchored"

    def __init__(self, ledger: LedgerContract) -> None:
        self.contract = self.ledger = ledger

    def calldata(self, root: bytes, tree_size: int, issuer_did: str | None) -> bytes:
        return self.ledger.anchor_calldata(root, tree_size)

    def read(self, root: bytes, *, block: int | str = "latest") -> RootOnChain:
        record = self.ledger.anchor_of(root, block=block)
        return RootOnChain(record.issuer, record.tree_size)

    def expected(self, sender: str, tree_size: int, issuer_did: str | None) -> RootOnChain:
        return RootOnChain(sender, tree_size)

    def event_query(self, root: bytes, onchain: RootOnChain) -> EventQuery:
        return EventQuery("RootAnchored", {"root": root})

    def batch_target(self, ledger: str, issuer_did: str | None) -> BatchTarget:
        return BatchTarget()


class TimestampTarget(AnchorTarget):
    """EBSI's Timestamp interface: one root a ``timestampHashes`` call, under the hash
    algorithm id the contract gives SHA-256."""

    name = EBSI_TIMESTAMP_TARGET
    already_there = "HashAlreadyTimestamped"

    def __init__(self, timestamps: TimestampContract, hash_algorithm_id: int) -> None:
        self.contract = self.timestamps = timestamps
        self.hash_algorithm_id = hash_algorithm_id

    def calldata(self, root: bytes, tree_size: int, issuer_did: str | None) -> bytes:
        if not issuer_did:  # `batch_target` recorded one: the index was changed
            raise NodeError("a batch for ebsi-timestamp has no issuer DID in the index")
        return self.timestamps.timestamp_calldata(
            root, tree_size, issuer_did, self.hash_algorithm_id
        )

    def read(self, root: bytes, *, block: int | str = "latest") -> RootOnChain:
        record = self.timestamps.get_timestamp(root, block=block)
        if not record.exists:
            return RootOnChain(record.timestamped_by)
        try:
            data = record.timestamp_data()
        except TimestampDataError as exc:
            return RootOnChain(
                record.timestamped_by,
                block_number=record.block_number,
                hash_algorithm_id=record.hash_algorithm_id,
                unreadable=str(exc),
            )
        return RootOnChain(
            record.timestamped_by,
            data.tree_size,
            record.block_number,
            data.issuer_did,
            record.hash_algorithm_id,
        )

    def expected(self, sender: str, tree_size: int, issuer_did: str | None) -> RootOnChain:
        return RootOnChain(
            sender, tree_size, issuer_did=issuer_did, hash_algorithm_id=self.hash_algorithm_id
        )

    def event_query(self, root: bytes, onchain: RootOnChain) -> EventQuery:
        # The event's ids are not indexed: read the block the contract names, keep the
        # event whose ids hold the root's.
        wanted = timestamp_id(root)
        blocks = None if onchain.block_number is None else (onchain.block_number,) * 2

        def holds_root(event: Any) -> bool:
            return wanted in [bytes(i) for i in event["args"]["timestampIds"]]

        return EventQuery("TimestampedHashes", match=holds_root, blocks=blocks)

    def batch_target(self, ledger: str, issuer_did: str | None) -> BatchTarget:
        try:  # a DID the encoding refuses fails here, before anything is sealed
            encode_timestamp_data(1, issuer_did or "")
        except TimestampDataError as exc:
            raise NodeError(
                f"cannot timestamp through ebsi-timestamp: {exc}; the DID goes beside each "
                "root (MCLEDGER_ISSUER_DID, or the issuer's DID in the index)"
            ) from None
        return BatchTarget(
            EBSI_TIMESTAMP_TARGET,
            self.timestamps.address,
            self.hash_algorithm_id,
            issuer_did,
            ledger,
        )
