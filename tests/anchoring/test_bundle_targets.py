"""The anchor's target in `mcledger-proof/1` (docs/formats.md): a bundle anchored in the
MicroCredentialLedger has no `target` member and reads and writes exactly as before;
`"target": "ebsi-timestamp"` adds `hashAlgorithmId` (and may name a `ledger` beside it);
anything else is refused by name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcledger.anchoring.bundle import AnchorInfo, BundleError, ProofBundle

LEDGER_ANCHOR = {
    "chainId": 31337,
    "contract": "0x" + "ab" * 20,
    "transactionHash": "0x" + "11" * 32,
    "blockNumber": 12,
    "blockHash": "0x" + "22" * 32,
    "anchoredAt": "2026-11-24T02:00:13Z",
    "issuer": "0x" + "cd" * 20,
}
TIMESTAMP_ANCHOR = {**LEDGER_ANCHOR, "target": "ebsi-timestamp", "hashAlgorithmId": 1}


def _bundle(anchor: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "mcledger-proof/1",
        "digest": "aa" * 32,
        "leafIndex": 0,
        "treeSize": 1,
        "auditPath": [],
        "root": "bb" * 32,
        "anchor": anchor,
    }


def test_a_ledger_bundle_is_written_exactly_as_before_targets() -> None:
    bundle = ProofBundle.from_json(_bundle(LEDGER_ANCHOR))
    assert bundle.anchor.target == "ledger" and not bundle.anchor.timestamped
    assert json.dumps(bundle.to_json()) == json.dumps(_bundle(LEDGER_ANCHOR))


@pytest.mark.parametrize("ledger", [None, "0x" + "ef" * 20])
def test_an_ebsi_timestamp_anchor_round_trips(ledger: str | None) -> None:
    anchor = TIMESTAMP_ANCHOR if ledger is None else {**TIMESTAMP_ANCHOR, "ledger": ledger}
    bundle = ProofBundle.from_json(_bundle(anchor))
    assert bundle.anchor.timestamped and bundle.anchor.hash_algorithm_id == 1
    assert bundle.anchor.ledger == ledger
    assert bundle.to_json() == _bundle(anchor)
    assert ProofBundle.loads(bundle.dumps()) == bundle


@pytest.mark.parametrize(
    ("anchor", "error"),
    [
        ({**LEDGER_ANCHOR, "target": "ledger"}, "anchor.target"),
        ({**LEDGER_ANCHOR, "target": "EBSI"}, "anchor.target"),
        ({**LEDGER_ANCHOR, "target": None}, "anchor.target"),
        ({**LEDGER_ANCHOR, "hashAlgorithmId": 1}, "unknown fields: hashAlgorithmId"),
        ({**LEDGER_ANCHOR, "ledger": "0x" + "ef" * 20}, "unknown fields: ledger"),
        ({k: v for k, v in TIMESTAMP_ANCHOR.items() if k != "hashAlgorithmId"}, "missing"),
        ({**TIMESTAMP_ANCHOR, "hashAlgorithmId": -1}, "anchor.hashAlgorithmId"),
        ({**TIMESTAMP_ANCHOR, "hashAlgorithmId": True}, "anchor.hashAlgorithmId"),
        ({**TIMESTAMP_ANCHOR, "ledger": "0x12"}, "anchor.ledger"),
        ({**TIMESTAMP_ANCHOR, "registry": "x"}, "unknown fields: registry"),
    ],
)
def test_a_bad_target_is_refused_by_name(anchor: dict[str, Any], error: str) -> None:
    with pytest.raises(BundleError, match=error):
        ProofBundle.from_json(_bundle(anchor))


def test_the_model_refuses_what_the_format_cannot_say() -> None:
    fields = AnchorInfo.from_json(LEDGER_ANCHOR).__dict__
    with pytest.raises(BundleError, match="hashAlgorithmId goes with"):
        AnchorInfo(**{**fields, "hash_algorithm_id": 1})
    with pytest.raises(BundleError, match="unknown anchor target"):
        AnchorInfo(**{**fields, "target": "bitcoin"})
