"""`anchor.contractVersion` end to end on a real Anvil and a real SQLite index: the anchorer
records the version of the ledger a root went to when it confirms the batch, the node's
bundle carries it (version 2) or leaves it out (version 1, byte for byte as before), and
`digest.notRevoked` fails a bundle whose version is not what the contract's `version()`
returns."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from mcledger.anchoring.bundle import ProofBundle
from mcledger.node.index.db import open_index
from mcledger.node.index.models import batch_t, utcnow
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.anchorer import Anchorer, AnchoringPolicy
from mcledger.node.pipeline.batches import proof_status
from mcledger.node.verifier.bundle import verify_bundle
from mcledger.node.verifier.names import DIGEST_NOT_REVOKED

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)
BEFORE_VERSIONS = [
    "chainId",
    "contract",
    "transactionHash",
    "blockNumber",
    "blockHash",
    "anchoredAt",
    "issuer",
]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    try:
        yield engine
    finally:
        engine.dispose()


def _anchored_bundle(engine: Engine, deployed: Any) -> ProofBundle:
    """One digest anchored through the node's anchorer on ``deployed``; its bundle."""
    ensure_issuer(engine, "uni", chain_address=deployed.issuer.address)
    digest = os.urandom(32).hex()
    with engine.begin() as conn:
        insert_submissions(conn, [{"issuer_id": "uni", "digest": digest, "submitted_at": utcnow()}])
    [report] = Anchorer(engine, deployed.ledger, lambda _id: deployed.issuer, FAST).anchor_pending(
        "uni"
    )
    assert report.state == "confirmed", report
    status = proof_status(engine, digest=digest)
    assert status is not None and status.bundle is not None
    return ProofBundle.loads(status.bundle.dumps())  # as a verifier reads it


def test_a_version_2_ledger_is_recorded_and_checked(engine: Engine, deployed: Any) -> None:
    bundle = _anchored_bundle(engine, deployed)
    with engine.connect() as conn:
        assert conn.execute(select(batch_t.c.contract_version)).scalar_one() == 2
    anchor = bundle.to_json()["anchor"]
    assert anchor["contractVersion"] == 2
    assert list(anchor) == [*BEFORE_VERSIONS[:2], "contractVersion", *BEFORE_VERSIONS[2:]]
    client = deployed.ledger.client
    report = verify_bundle(bundle, client, deployed.ledger)
    assert report.ok, report.to_json()
    unversioned = dataclasses.replace(
        bundle, anchor=dataclasses.replace(bundle.anchor, contract_version=None)
    )
    assert verify_bundle(unversioned, client, deployed.ledger).ok  # as every bundle before
    claims_3 = dataclasses.replace(
        bundle, anchor=dataclasses.replace(bundle.anchor, contract_version=3)
    )
    report = verify_bundle(claims_3, client, deployed.ledger)
    assert report.failed == (DIGEST_NOT_REVOKED,)
    assert report.check(DIGEST_NOT_REVOKED).detail == (
        "the bundle says its root was anchored in a version-3 MicroCredentialLedger; version()"
        f" of {deployed.ledger.address} returns 2: the bundle does not describe this contract"
    )


def test_a_version_1_ledger_keeps_its_bundles_as_before(engine: Engine, deployed_v1: Any) -> None:
    bundle = _anchored_bundle(engine, deployed_v1)
    with engine.connect() as conn:
        assert conn.execute(select(batch_t.c.contract_version)).scalar_one() == 1
    assert list(bundle.to_json()["anchor"]) == BEFORE_VERSIONS  # no contractVersion
    client = deployed_v1.ledger.client
    assert verify_bundle(bundle, client, deployed_v1.ledger).ok
    claims_2 = dataclasses.replace(
        bundle, anchor=dataclasses.replace(bundle.anchor, contract_version=2)
    )
    report = verify_bundle(claims_2, client, deployed_v1.ledger)
    assert report.failed == (DIGEST_NOT_REVOKED,)
    assert (
        "version-2 MicroCredentialLedger; version() of" in report.check(DIGEST_NOT_REVOKED).detail
    )
    assert report.check(DIGEST_NOT_REVOKED).detail.endswith(
        " returns 1: the bundle does not describe this contract"
    )
