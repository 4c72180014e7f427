"""The Timestamp contract's `TimestampedHashes` events for the auditor: every hash
timestamped in a block range, with who sent it and what its timestampData says.

The event names no sender, and the contract is shared (on EBSI's network, by every
onboarded organisation): the sender is read from each distinct transaction
(`eth_getTransactionByHash`), one request per timestamping transaction in the range. A
timestampData that is not the node's encoding (`anchoring.timestamp_data`) is kept with
the reason, not dropped: the audit reports it when the sender is one of its issuers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from eth_utils import to_checksum_address

from mcledger.anchoring.errors import ChainError, TimestampDataError
from mcledger.anchoring.timestamp import TimestampContract
from mcledger.anchoring.timestamp_data import decode_timestamp_data

Progress = Callable[[int, int], None]
"""Called with (blocks done, blocks in all) as a long read goes on."""


@dataclass(frozen=True)
class TimestampEvent:
    """One hash of a `TimestampedHashes` event: the root (the hash value), the sender, the
    tree size and issuer DID of its timestampData (None when ``unreadable`` says why not)."""

    root: str  # the hash value, lower-case hex
    issuer: str  # the transaction's sender, checksummed
    tree_size: int | None
    issuer_did: str | None
    hash_algorithm_id: int
    transaction_hash: str  # 0x + lower-case hex
    block_number: int
    unreadable: str | None = None


def read_timestamp_events(
    timestamps: TimestampContract,
    from_block: int,
    to_block: int,
    *,
    chunk: int = 2000,
    progress: Progress | None = None,
) -> list[TimestampEvent]:
    """Every hash timestamped in [from_block, to_block], in chain order, read ``chunk``
    blocks at a time."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    total = max(0, to_block - from_block + 1)
    senders: dict[str, str] = {}
    found: list[TimestampEvent] = []
    if progress is not None:
        progress(0, total)
    start = from_block
    while start <= to_block:
        end = min(start + chunk - 1, to_block)
        for event in timestamps.events("TimestampedHashes", start, end):
            tx_hash = "0x" + bytes(event["transactionHash"]).hex()
            if tx_hash not in senders:
                senders[tx_hash] = _sender(timestamps, tx_hash)
            args = event["args"]
            for algorithm, value, data in zip(
                args["hashAlgorithmIds"], args["hashValues"], args["timestampData"], strict=True
            ):
                found.append(
                    _event(
                        bytes(value),
                        bytes(data),
                        int(algorithm),
                        senders[tx_hash],
                        tx_hash,
                        int(event["blockNumber"]),
                    )
                )
        if progress is not None:
            progress(end - from_block + 1, total)
        start = end + 1
    return found


def _sender(timestamps: TimestampContract, tx_hash: str) -> str:
    tx = timestamps.client.request("eth_getTransactionByHash", [tx_hash])
    if not tx:
        raise ChainError(f"the chain logged an event of {tx_hash} but does not know it")
    return to_checksum_address(str(tx["from"]))


def _event(
    value: bytes, data: bytes, algorithm: int, sender: str, tx_hash: str, block: int
) -> TimestampEvent:
    try:
        decoded = decode_timestamp_data(data)
    except TimestampDataError as exc:
        return TimestampEvent(value.hex(), sender, None, None, algorithm, tx_hash, block, str(exc))
    return TimestampEvent(
        value.hex(), sender, decoded.tree_size, decoded.issuer_did, algorithm, tx_hash, block
    )
