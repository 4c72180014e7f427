"""`anchor.contractVersion` in `mcledger-proof/1` (docs/formats.md "The anchor's contract
version"): an optional integer from 2 to 65535 beside the contract whose version it is (after
`contract` for a ledger anchor, after `ledger` for an EBSI timestamp, never without one);
a bundle without it reads and writes exactly as before."""

from __future__ import annotations

from typing import Any

import pytest

from mcledger.anchoring.bundle import AnchorInfo, BundleError, ProofBundle, recorded_version
from tests.anchoring.test_bundle_targets import LEDGER_ANCHOR, TIMESTAMP_ANCHOR, _bundle

LEDGER = "0x" + "ef" * 20


@pytest.mark.parametrize(
    ("anchor", "after"),
    [(LEDGER_ANCHOR, "contract"), ({**TIMESTAMP_ANCHOR, "ledger": LEDGER}, "ledger")],
)
def test_the_version_round_trips_in_its_place(anchor: dict[str, Any], after: str) -> None:
    document = _bundle({**anchor, "contractVersion": 2})
    bundle = ProofBundle.from_json(document)
    assert bundle.anchor.contract_version == 2
    written = bundle.to_json()
    assert written == document
    keys = list(written["anchor"])
    assert keys.index("contractVersion") == keys.index(after) + 1
    assert ProofBundle.loads(bundle.dumps()) == bundle
    assert ProofBundle.from_json(_bundle(anchor)).anchor.contract_version is None


@pytest.mark.parametrize(
    ("anchor", "error"),
    [
        ({**LEDGER_ANCHOR, "contractVersion": 1}, "anchor.contractVersion.*>= 2"),
        ({**LEDGER_ANCHOR, "contractVersion": 0}, "anchor.contractVersion"),
        ({**LEDGER_ANCHOR, "contractVersion": True}, "anchor.contractVersion"),
        ({**LEDGER_ANCHOR, "contractVersion": "2"}, "anchor.contractVersion"),
        ({**LEDGER_ANCHOR, "contractVersion": 2.5}, "anchor.contractVersion"),
        ({**LEDGER_ANCHOR, "contractVersion": None}, "anchor.contractVersion"),
        ({**LEDGER_ANCHOR, "contractVersion": 65536}, "at most 65535"),
        ({**TIMESTAMP_ANCHOR, "contractVersion": 2}, "without anchor.ledger"),
        ({**TIMESTAMP_ANCHOR, "ledger": None, "contractVersion": 2}, "without anchor.ledger"),
        ({**LEDGER_ANCHOR, "version": 2}, "unknown fields: version"),
    ],
)
def test_a_bad_version_is_refused_by_name(anchor: dict[str, Any], error: str) -> None:
    with pytest.raises(BundleError, match=error):
        ProofBundle.from_json(_bundle(anchor))


def test_the_model_writes_version_1_as_no_member() -> None:
    fields = AnchorInfo.from_json(LEDGER_ANCHOR).__dict__
    with pytest.raises(BundleError, match="version 1 is written as no member"):
        AnchorInfo(**{**fields, "contract_version": 1})
    timestamped = AnchorInfo.from_json(TIMESTAMP_ANCHOR).__dict__
    with pytest.raises(BundleError, match="needs anchor.ledger"):
        AnchorInfo(**{**timestamped, "contract_version": 2})
    assert [recorded_version(v) for v in (None, 1, 2, 3)] == [None, None, 2, 3]
