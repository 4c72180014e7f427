"""The proof bundle's optional `revocation` member (docs/formats.md, an addition to
`mcledger-proof/1`): a bundle without it reads and writes exactly as before; with it, the
member round-trips, is parsed strictly, and the empty set's form (root zero, size 0, no
transaction) is the only one without a transaction."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from mcledger.anchoring.bundle import BundleError, ProofBundle
from mcledger.anchoring.revocation_proof import RevocationRecord, verify
from mcledger.anchoring.revocation_set import RevocationSet

DIGEST = hashlib.sha256(b"credential").digest()
BUNDLE: dict[str, Any] = {
    "version": "mcledger-proof/1",
    "credentialId": "urn:uuid:1",
    "digest": DIGEST.hex(),
    "leafIndex": 0,
    "treeSize": 1,
    "auditPath": [],
    "root": "bb" * 32,
    "anchor": {
        "chainId": 31337,
        "contract": "0x" + "ab" * 20,
        "transactionHash": "0x" + "11" * 32,
        "blockNumber": 12,
        "blockHash": "0x" + "22" * 32,
        "anchoredAt": "2026-11-24T02:00:13Z",
        "issuer": "0x" + "cd" * 20,
    },
}


def _member() -> dict[str, Any]:
    revoked = RevocationSet.build(
        (hashlib.sha256(bytes([i])).digest(), RevocationRecord(1, 1_767_225_600)) for i in range(5)
    )
    return {
        "root": revoked.root.hex(),
        "size": 5,
        "transactionHash": "0x" + "33" * 32,
        "blockNumber": 40,
        "proof": revoked.prove(DIGEST).to_json(),
    }


def test_a_bundle_without_the_member_is_written_as_before() -> None:
    bundle = ProofBundle.from_json(BUNDLE)
    assert bundle.revocation is None
    assert bundle.dumps() == json.dumps(BUNDLE, indent=2) + "\n"


def test_the_member_round_trips_after_the_anchor() -> None:
    data = {**BUNDLE, "revocation": _member()}
    bundle = ProofBundle.loads(json.dumps(data))
    assert bundle.to_json() == data and list(bundle.to_json())[-2:] == ["anchor", "revocation"]
    member = bundle.revocation
    assert member is not None and member.size == 5 and member.block_number == 40
    assert not verify(member.root, DIGEST, member.proof).member
    empty = {
        "root": "00" * 32,
        "size": 0,
        "transactionHash": None,
        "blockNumber": None,
        "proof": RevocationSet().prove(DIGEST).to_json(),
    }
    assert ProofBundle.from_json({**BUNDLE, "revocation": empty}).to_json()["revocation"] == empty


def _change(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy({**BUNDLE, "revocation": _member()})
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("revocation",), None, "'revocation': expected an object"),
        (("revocation",), [], "'revocation': expected an object"),
        (("revocation", "extra"), 1, "unknown fields: extra"),
        (("revocation", "size"), KeyError, "missing size"),
        (("revocation", "root"), "AB" * 32, "'revocation.root': expected 64 lower-case hex"),
        (("revocation", "size"), True, "'revocation.size'"),
        (("revocation", "size"), 2**64, "below 2**64"),
        (("revocation", "transactionHash"), "0x11", "'revocation.transactionHash'"),
        (("revocation", "blockNumber"), -1, "'revocation.blockNumber'"),
        (("revocation", "blockNumber"), None, "go together"),
        (("revocation", "transactionHash"), None, "the empty set"),
        (("revocation", "root"), "00" * 32, "the empty set"),
        (
            ("revocation", "proof", "version"),
            "other/1",
            "revocation.proof: revocation proof version",
        ),
        (("revocation", "proof", "depth"), 300, "revocation.proof: depth"),
    ],
)
def test_a_malformed_member_is_refused_by_name(
    path: tuple[str, ...], value: Any, message: str
) -> None:
    with pytest.raises(BundleError, match=message.replace("*", r"\*").replace("(", r"\(")):
        ProofBundle.from_json(_change(path, value))
