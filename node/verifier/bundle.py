"""Verify a proof bundle against the chain alone (docs/architecture.md "The flow", step 5).

Nothing here touches the node or its index: a verifier needs the bundle, an RPC
endpoint and the contract's ABI. Every check has a stable name and always
appears in the report, in the order of ``CHECK_NAMES``; a check that cannot run
because another one failed is reported as failed with ``skipped: <why>``, and a
chain read that errors fails the checks that need it with the error as detail.
A step is never left out, so a report can only be ``ok`` if every step ran and
passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from eth_utils import keccak, to_checksum_address

from mcledger.anchoring.bundle import BUNDLE_VERSION, AnchorInfo, ProofBundle, format_time
from mcledger.anchoring.chain import ChainClient, Receipt
from mcledger.anchoring.errors import InvalidProofError
from mcledger.anchoring.ledger import AnchorRecord, LedgerContract
from mcledger.anchoring.merkle import verify_inclusion
from mcledger.node.verifier.names import (
    ANCHOR_BLOCK,
    ANCHOR_ISSUER,
    ANCHOR_ROOT,
    ANCHOR_TREE_SIZE,
    BUNDLE_FORMAT,
    CHAIN_ID,
    DIGEST_NOT_REVOKED,
    ISSUER_REGISTERED,
    MERKLE_INCLUSION,
)
from mcledger.node.verifier.report import Check, VerificationReport
from mcledger.node.verifier.revocation import check_not_revoked

ROOT_ANCHORED_TOPIC = keccak(text="RootAnchored(bytes32,address,uint64)")

T = TypeVar("T")


@dataclass(frozen=True)
class _Read(Generic[T]):
    """The outcome of one chain read: its value, or the error that stopped it."""

    value: T | None
    error: str | None


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip() or "no message"
    return f"{type(exc).__name__}: {text}"


def _read(fn: Callable[[], T], refusal: str | None = None) -> _Read[T]:
    """Run one chain read; any exception becomes the read's error (a verifier never crashes
    on what a remote node answers). ``refusal`` fails the read without running it."""
    if refusal is not None:
        return _Read(None, refusal)
    try:
        return _Read(fn(), None)
    except Exception as exc:  # the RPC and web3 raise many unrelated types
        return _Read(None, _error_text(exc))


def _iso(timestamp: int) -> str:
    return format_time(datetime.fromtimestamp(timestamp, UTC))


def _address(value: str) -> str:
    """An address as it is shown: EIP-55 checksummed."""
    return to_checksum_address(value)


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


def verify_bundle(
    bundle: ProofBundle, client: ChainClient, ledger: LedgerContract
) -> VerificationReport:
    """Check ``bundle`` against the chain behind ``client`` and the contract ``ledger``.

    ``ledger`` must be the contract the bundle names (``anchor.contract``); if it is
    another, every check that reads the contract fails rather than read the wrong one.
    """
    anchor = bundle.anchor
    wrong_contract = (
        None
        if ledger.address.lower() == anchor.contract.lower()
        else f"the bundle names contract {_address(anchor.contract)},"
        f" this verifier reads {ledger.address}"
    )
    chain_id = _read(lambda: client.chain_id)
    record = _read(lambda: ledger.anchor_of(bundle.proof.root), wrong_contract)
    registered = _read(lambda: ledger.is_issuer(anchor.issuer), wrong_contract)
    return VerificationReport(
        (
            Check(BUNDLE_FORMAT, True, _format_detail(bundle)),
            _check_inclusion(bundle),
            _check_chain_id(anchor.chain_id, chain_id),
            _check_anchor_root(bundle, record),
            _check_anchor_issuer(anchor.issuer, record),
            _check_anchor_tree_size(bundle.proof.tree_size, record),
            _check_anchor_block(bundle, client, ledger.address, record),
            _check_issuer_registered(anchor.issuer, ledger.address, registered),
            _check_not_revoked(bundle, ledger, record, wrong_contract),
        )
    )


def _format_detail(bundle: ProofBundle) -> str:
    detail = f"a well-formed {BUNDLE_VERSION} bundle"
    if bundle.credential_id is not None:
        # Nothing in the proof or on the chain covers the id; only the credential does.
        detail += f"; its credentialId {bundle.credential_id} is checked only with the credential"
    return detail


def _check_inclusion(bundle: ProofBundle) -> Check:
    proof = bundle.proof
    try:
        verify_inclusion(bundle.digest, proof)
    except InvalidProofError as exc:
        return Check(MERKLE_INCLUSION, False, str(exc))
    return Check(
        MERKLE_INCLUSION,
        True,
        f"leaf {proof.leaf_index} of {proof.tree_size} leads to root {proof.root.hex()}",
    )


def _check_chain_id(expected: int, chain_id: _Read[int]) -> Check:
    if chain_id.value is None:
        return Check(CHAIN_ID, False, f"cannot read the chain id: {chain_id.error}")
    if chain_id.value != expected:
        return Check(CHAIN_ID, False, f"the RPC serves chain {chain_id.value}, not {expected}")
    return Check(CHAIN_ID, True, f"chain {expected}")


def _anchored(record: _Read[AnchorRecord]) -> AnchorRecord | None:
    return record.value if record.value is not None and record.value.exists else None


def _skip_without_anchor(name: str, record: _Read[AnchorRecord]) -> Check | None:
    """The failed check for ``name`` when there is no on-chain anchor to compare with."""
    if record.value is None:
        return Check(name, False, f"skipped: cannot read the anchor: {record.error}")
    if not record.value.exists:
        return Check(name, False, "skipped: the root is not anchored")
    return None


def _check_anchor_root(bundle: ProofBundle, record: _Read[AnchorRecord]) -> Check:
    root = bundle.proof.root.hex()
    if record.value is None:
        return Check(ANCHOR_ROOT, False, f"cannot read anchorOf({root}): {record.error}")
    found = _anchored(record)
    if found is None:
        contract = _address(bundle.anchor.contract)
        return Check(ANCHOR_ROOT, False, f"root {root} is not anchored on {contract}")
    return Check(
        ANCHOR_ROOT,
        True,
        f"root {root} anchored by {found.issuer} at {_iso(found.anchored_at)}"
        f" (tree size {found.tree_size})",
    )


def _check_anchor_issuer(issuer: str, record: _Read[AnchorRecord]) -> Check:
    skipped = _skip_without_anchor(ANCHOR_ISSUER, record)
    if skipped is not None:
        return skipped
    on_chain = _anchored(record)
    assert on_chain is not None  # _skip_without_anchor returned None
    if on_chain.issuer.lower() != issuer.lower():
        return Check(
            ANCHOR_ISSUER,
            False,
            f"the root was anchored by {on_chain.issuer}, not {_address(issuer)}",
        )
    return Check(ANCHOR_ISSUER, True, f"anchored by {on_chain.issuer}")


def _check_anchor_tree_size(tree_size: int, record: _Read[AnchorRecord]) -> Check:
    skipped = _skip_without_anchor(ANCHOR_TREE_SIZE, record)
    if skipped is not None:
        return skipped
    on_chain = _anchored(record)
    assert on_chain is not None
    if on_chain.tree_size != tree_size:
        return Check(
            ANCHOR_TREE_SIZE,
            False,
            f"the root was anchored for a tree of {on_chain.tree_size} leaves,"
            f" the bundle says {tree_size}",
        )
    return Check(ANCHOR_TREE_SIZE, True, f"{tree_size} leaves, as anchored")


def _check_anchor_block(
    bundle: ProofBundle, client: ChainClient, contract: str, record: _Read[AnchorRecord]
) -> Check:
    return block_check(
        bundle.anchor, lambda: _block_problems(bundle, client, contract, record), "RootAnchored"
    )


def block_check(anchor: AnchorInfo, problems: Callable[[], list[str]], event: str) -> Check:
    """``anchor.block``: passed when ``problems()`` finds none (the transaction emitted
    ``event``); a chain read that fails part-way fails the check."""
    try:
        found = problems()
    except Exception as exc:  # a chain read failed part-way: the check cannot pass
        return Check(ANCHOR_BLOCK, False, f"cannot read the chain: {_error_text(exc)}")
    if found:
        return Check(ANCHOR_BLOCK, False, "; ".join(found))
    return Check(
        ANCHOR_BLOCK,
        True,
        f"block {anchor.block_number} ({anchor.block_hash}) at {format_time(anchor.anchored_at)};"
        f" transaction {anchor.transaction_hash} emitted {event}",
    )


def block_problems(anchor: AnchorInfo, client: ChainClient) -> tuple[list[str], int | None]:
    """What disagrees between the bundle's block (number, hash, time) and the chain's, and
    the block's time (None when there is no such block: the one problem then)."""
    number = anchor.block_number
    block = client.block(number)
    if block is None:
        return [f"there is no block {number}"], None
    problems = []
    block_hash = _hex(block["hash"])
    if block_hash != anchor.block_hash:
        problems.append(f"block {number} has hash {block_hash}, not {anchor.block_hash}")
    made_at, claimed = int(block["timestamp"]), int(anchor.anchored_at.timestamp())
    if made_at != claimed:
        problems.append(f"block {number} was made at {_iso(made_at)}, not {_iso(claimed)}")
    return problems, made_at


def receipt_problems(anchor: AnchorInfo, client: ChainClient) -> tuple[list[str], Receipt | None]:
    """What disagrees between the bundle's transaction and its receipt (in the bundle's
    block, successful), and the receipt (None when there is no such transaction)."""
    receipt = client.receipt(anchor.transaction_hash)
    if receipt is None:
        return [f"there is no transaction {anchor.transaction_hash}"], None
    problems = []
    if receipt.block_hash != anchor.block_hash or receipt.block_number != anchor.block_number:
        problems.append(
            f"transaction {anchor.transaction_hash} is in block {receipt.block_number}"
            f" ({receipt.block_hash}), not {anchor.block_number} ({anchor.block_hash})"
        )
    if not receipt.success:
        problems.append(f"transaction {anchor.transaction_hash} failed")
    return problems, receipt


def _block_problems(
    bundle: ProofBundle, client: ChainClient, contract: str, record: _Read[AnchorRecord]
) -> list[str]:
    """What disagrees between the bundle's anchor and the chain's block, transaction and log.

    The event's issuer and size are compared with the contract's record (the bundle's own
    issuer and size are ``anchor.issuer`` and ``anchor.treeSize``'s business).
    """
    anchor, root = bundle.anchor, bundle.proof.root
    number = anchor.block_number
    problems, made_at = block_problems(anchor, client)
    if made_at is None:
        return problems
    found = _anchored(record)
    if record.value is None:
        problems.append(f"cannot read the contract's anchoring time: {record.error}")
    elif found is None:
        problems.append("the contract has no anchoring time for this root")
    elif found.anchored_at != made_at:
        problems.append(
            f"the contract records the anchoring at {_iso(found.anchored_at)},"
            f" block {number} was made at {_iso(made_at)}"
        )
    more, receipt = receipt_problems(anchor, client)
    problems += more
    if receipt is None:
        return problems
    events = [
        event
        for event in map(_root_anchored, receipt.logs)
        if event is not None and event[0] == contract and event[1] == root
    ]
    if not events:
        problems.append(
            f"transaction {anchor.transaction_hash} emitted no RootAnchored({root.hex()})"
            f" from {contract}"
        )
        return problems
    _, _, issuer, size = events[0]
    expected_issuer = found.issuer if found else anchor.issuer
    expected_size = found.tree_size if found else bundle.proof.tree_size
    if issuer.lower() != expected_issuer.lower() or size != expected_size:
        problems.append(
            f"the RootAnchored event says issuer {issuer}, size {size};"
            f" expected {expected_issuer}, size {expected_size}"
        )
    return problems


def _root_anchored(log: Any) -> tuple[str, bytes, str, int] | None:
    """(contract, root, issuer, treeSize) of a RootAnchored log, or None for any other log."""
    topics = [bytes(topic) for topic in log.get("topics", ())]
    data = bytes(log.get("data", b""))
    if log.get("removed") or len(topics) != 3 or topics[0] != ROOT_ANCHORED_TOPIC:
        return None
    if len(data) != 32 or len(topics[2]) != 32:
        return None
    contract = to_checksum_address(str(log["address"]))
    return contract, topics[1], to_checksum_address(topics[2][12:]), int.from_bytes(data, "big")


def _check_issuer_registered(issuer: str, contract: str, registered: _Read[bool]) -> Check:
    if registered.value is None:
        return Check(ISSUER_REGISTERED, False, f"cannot read isIssuer: {registered.error}")
    if not registered.value:
        return Check(
            ISSUER_REGISTERED,
            False,
            f"{_address(issuer)} is not an active issuer on {contract}"
            " (never registered, or suspended)",
        )
    return Check(ISSUER_REGISTERED, True, f"{_address(issuer)} is an active issuer")


def _check_not_revoked(
    bundle: ProofBundle,
    ledger: LedgerContract,
    record: _Read[AnchorRecord],
    wrong_contract: str | None,
) -> Check:
    # Revocations are keyed by the issuer that anchored the root; the bundle's claim is the
    # fallback only when there is no anchor to say who that is.
    if wrong_contract is not None:
        return Check(DIGEST_NOT_REVOKED, False, f"cannot read revokedAt: {wrong_contract}")
    found = _anchored(record)
    issuer = found.issuer if found else _address(bundle.anchor.issuer)
    return check_not_revoked(bundle, ledger, issuer)
