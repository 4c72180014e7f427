"""Verify a proof bundle whose root was timestamped through EBSI's Timestamp interface
(``anchor.target`` ``ebsi-timestamp``, docs/formats.md), against the chain alone.

The checks keep the names and order of ``node.verifier.bundle``; what each reads differs:

- ``anchor.root``: ``getTimestamp(root)`` holds the root, with the bundle's hash algorithm;
- ``anchor.issuer``: the timestamp's sender (``timestampedBy``) is the bundle's issuer;
- ``anchor.treeSize``: the tree size in the timestamp's data (``anchoring.timestamp_data``)
  is the bundle's, since the interface itself records no size;
- ``anchor.block``: the timestamp's block is the bundle's, with its hash and time, and the
  bundle's transaction emitted ``TimestampedHashes`` with the root's id, ``sha256(root)``;
- ``issuer.registered`` and ``digest.notRevoked``: read on the MicroCredentialLedger the
  bundle names beside the timestamp contract (``anchor.ledger``). Without one, there is no
  registry to read here: the check passes and says so — the sender declares its DID in the
  timestamp's data, and EBSI's Trusted Issuers Registry (where EBSI records who may issue)
  is not consulted; revocation is then the status list's business (``status.*``).
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address

from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.errors import TimestampDataError
from mcledger.anchoring.ledger import AnchorRecord, LedgerContract
from mcledger.anchoring.timestamp import (
    TIMESTAMPED_HASHES_TOPIC,
    TimestampContract,
    TimestampRecord,
    timestamp_id,
)
from mcledger.node.verifier.bundle import (
    _address,
    _check_chain_id,
    _check_inclusion,
    _check_issuer_registered,
    _check_not_revoked,
    _format_detail,
    _Read,
    _read,
    block_check,
    block_problems,
    receipt_problems,
)
from mcledger.node.verifier.names import (
    ANCHOR_ISSUER,
    ANCHOR_ROOT,
    ANCHOR_TREE_SIZE,
    BUNDLE_FORMAT,
    DIGEST_NOT_REVOKED,
    ISSUER_REGISTERED,
)
from mcledger.node.verifier.report import Check, VerificationReport

NO_REGISTRY = (
    "no issuer registry beside the ebsi-timestamp anchor: the timestamp's sender {address}"
    " declares {did} in its data; EBSI's Trusted Issuers Registry is not consulted"
)
NO_ONCHAIN_REVOCATION = (
    "no on-chain revocation beside the ebsi-timestamp anchor: revocation is read from the"
    " credential's status list"
)
_EVENT_TYPES = ("bytes32[]", "uint256[]", "bytes[]", "bytes[]")


def verify_timestamped_bundle(
    bundle: ProofBundle,
    client: ChainClient,
    timestamps: TimestampContract,
    ledger: LedgerContract | None,
) -> VerificationReport:
    """Check a bundle anchored through the Timestamp contract ``timestamps`` (the bundle's
    ``anchor.contract``), with ``ledger`` the MicroCredentialLedger its ``anchor.ledger``
    names (None when it names none)."""
    anchor = bundle.anchor
    wrong_contract = (
        None
        if timestamps.address.lower() == anchor.contract.lower()
        else f"the bundle names contract {_address(anchor.contract)},"
        f" this verifier reads {timestamps.address}"
    )
    chain_id = _read(lambda: client.chain_id)
    record = _read(lambda: timestamps.get_timestamp(bundle.proof.root), wrong_contract)
    found = record.value if record.value is not None and record.value.exists else None
    return VerificationReport(
        (
            Check(BUNDLE_FORMAT, True, _format_detail(bundle) + "; anchor target ebsi-timestamp"),
            _check_inclusion(bundle),
            _check_chain_id(anchor.chain_id, chain_id),
            _check_root(bundle, record),
            _check_sender(bundle, record),
            _check_tree_size(bundle, record),
            _check_block(bundle, client, timestamps.address, record),
            _check_registered(bundle, ledger, found),
            _check_revocation(bundle, ledger, found),
        )
    )


def timestamp_did(record: TimestampRecord) -> str | None:
    """The issuer DID the timestamp's data declares; None if the data is not ours."""
    try:
        return record.timestamp_data().issuer_did
    except TimestampDataError:
        return None


def _skip(name: str, record: _Read[TimestampRecord]) -> Check | None:
    if record.value is None:
        return Check(name, False, f"skipped: cannot read the timestamp: {record.error}")
    if not record.value.exists:
        return Check(name, False, "skipped: the root is not timestamped")
    return None


def _check_root(bundle: ProofBundle, record: _Read[TimestampRecord]) -> Check:
    root = bundle.proof.root.hex()
    if record.value is None:
        return Check(ANCHOR_ROOT, False, f"cannot read getTimestamp({root}): {record.error}")
    found = record.value
    if not found.exists:
        contract = _address(bundle.anchor.contract)
        return Check(ANCHOR_ROOT, False, f"root {root} is not timestamped on {contract}")
    if found.hash_algorithm_id != bundle.anchor.hash_algorithm_id:
        return Check(
            ANCHOR_ROOT,
            False,
            f"root {root} is timestamped with hash algorithm {found.hash_algorithm_id},"
            f" the bundle says {bundle.anchor.hash_algorithm_id}",
        )
    return Check(
        ANCHOR_ROOT,
        True,
        f"root {root} timestamped by {found.timestamped_by} in block {found.block_number}"
        f" (EBSI Timestamp interface, hash algorithm {found.hash_algorithm_id},"
        f" id 0x{timestamp_id(bundle.proof.root).hex()})",
    )


def _check_sender(bundle: ProofBundle, record: _Read[TimestampRecord]) -> Check:
    skipped = _skip(ANCHOR_ISSUER, record)
    if skipped is not None:
        return skipped
    assert record.value is not None
    sender = record.value.timestamped_by
    if sender.lower() != bundle.anchor.issuer.lower():
        return Check(
            ANCHOR_ISSUER,
            False,
            f"the root was timestamped by {sender}, not {_address(bundle.anchor.issuer)}",
        )
    return Check(ANCHOR_ISSUER, True, f"timestamped by {sender}")


def _check_tree_size(bundle: ProofBundle, record: _Read[TimestampRecord]) -> Check:
    skipped = _skip(ANCHOR_TREE_SIZE, record)
    if skipped is not None:
        return skipped
    assert record.value is not None
    try:
        data = record.value.timestamp_data()
    except TimestampDataError as exc:
        return Check(ANCHOR_TREE_SIZE, False, f"the timestamp's data is not mcledger's: {exc}")
    size = bundle.proof.tree_size
    if data.tree_size != size:
        return Check(
            ANCHOR_TREE_SIZE,
            False,
            f"the root was timestamped for a tree of {data.tree_size} leaves,"
            f" the bundle says {size}",
        )
    return Check(ANCHOR_TREE_SIZE, True, f"{size} leaves, as the timestamp's data says")


def _check_block(
    bundle: ProofBundle, client: ChainClient, contract: str, record: _Read[TimestampRecord]
) -> Check:
    return block_check(
        bundle.anchor,
        lambda: _block_problems(bundle, client, contract, record),
        "TimestampedHashes",
    )


def _block_problems(
    bundle: ProofBundle, client: ChainClient, contract: str, record: _Read[TimestampRecord]
) -> list[str]:
    anchor, number = bundle.anchor, bundle.anchor.block_number
    problems, made_at = block_problems(anchor, client)
    if made_at is None:
        return problems
    if record.value is None:
        problems.append(f"cannot read the timestamp's block: {record.error}")
    elif not record.value.exists:
        problems.append("the contract has no timestamp of this root")
    elif record.value.block_number != number:
        problems.append(
            f"the contract records the timestamp in block {record.value.block_number}, not {number}"
        )
    more, receipt = receipt_problems(anchor, client)
    problems += more
    if receipt is None:
        return problems
    wanted = timestamp_id(bundle.proof.root)
    if not any(wanted in _timestamp_ids(log, contract) for log in receipt.logs):
        problems.append(
            f"transaction {anchor.transaction_hash} emitted no TimestampedHashes with id"
            f" 0x{wanted.hex()} from {contract}"
        )
    return problems


def _timestamp_ids(log: Any, contract: str) -> list[bytes]:
    """The ids of a TimestampedHashes log of ``contract``; [] for any other log."""
    topics = [bytes(topic) for topic in log.get("topics", ())]
    if log.get("removed") or len(topics) != 1 or "0x" + topics[0].hex() != TIMESTAMPED_HASHES_TOPIC:
        return []
    if to_checksum_address(str(log["address"])) != contract:
        return []
    try:
        ids, *_ = abi_decode(_EVENT_TYPES, bytes(log.get("data", b"")))
    except Exception:  # not the event's encoding: not an event of ours
        return []
    return [bytes(i) for i in ids]


def _check_registered(
    bundle: ProofBundle, ledger: LedgerContract | None, found: TimestampRecord | None
) -> Check:
    issuer = bundle.anchor.issuer
    if ledger is None:
        did = (timestamp_did(found) if found else None) or "no DID"
        return Check(ISSUER_REGISTERED, True, NO_REGISTRY.format(address=_address(issuer), did=did))
    registered = _read(lambda: ledger.is_issuer(issuer))
    return _check_issuer_registered(issuer, ledger.address, registered)


def _check_revocation(
    bundle: ProofBundle, ledger: LedgerContract | None, found: TimestampRecord | None
) -> Check:
    if ledger is None:
        return Check(DIGEST_NOT_REVOKED, True, NO_ONCHAIN_REVOCATION)
    # Revocations are keyed by the address that timestamped the root (the sender).
    sender = found.timestamped_by if found else _address(bundle.anchor.issuer)
    record = _Read(AnchorRecord(sender, bundle.proof.tree_size, 0), None)
    return _check_not_revoked(bundle, ledger, record, None)
