"""Crash resume on every chain variant: `mcledger anchor` killed with SIGKILL right after it
stored a signed transaction and before it broadcast it (MCLEDGER_FAULT_POINT), then run
again: the stored bytes go out unchanged (the chain mines the very hash that was stored),
every root and digest reaches the chain once, and no nonce is spent twice."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from eth_utils import keccak
from sqlalchemy import Engine, Table, insert, select

from mcledger.node.index.db import open_index
from mcledger.node.index.models import (
    anchor_attempt_t,
    batch_t,
    revocation_attempt_t,
    revocation_batch_t,
    revocation_t,
    utcnow,
)
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.runtime.service import open_node
from mcledger.node.settings import load_settings
from tests.chains.test_flow import check_transaction
from tests.chains.variants import ChainVariant
from tests.node.pipeline.test_crash import _anchor, _env, _revocations

POINTS = {"anchor.signed": anchor_attempt_t, "revocation.signed": revocation_attempt_t}
# One crash a variant (each costs two CLI runs): an anchor's on two, a revocation's on the
# third; the crashed run of the latter anchors first, so both kinds run on all three.
POINT_OF = {"berlin": "anchor.signed", "gas-free": "revocation.signed", "hardhat": "anchor.signed"}


def _stored(engine: Engine, attempts: Table) -> list[tuple[str, bytes]]:
    """(hash, signed bytes) of every stored attempt, oldest first."""
    with engine.connect() as conn:
        query = select(attempts.c.transaction_hash, attempts.c.raw).order_by(attempts.c.id)
        rows = conn.execute(query).all()
    return [(str(h), bytes(raw)) for h, raw in rows]


def test_sigkill_before_the_broadcast_resends_the_stored_bytes(
    chain_variant: ChainVariant, tmp_path: Path
) -> None:
    point = POINT_OF[chain_variant.name]
    data_dir, index = tmp_path / "data", f"sqlite:///{tmp_path / 'index.sqlite3'}"
    settings = load_settings(
        data_dir=data_dir,
        rpc_url=chain_variant.rpc_url,
        database_url=index,
        dev=True,
        **chain_variant.settings(),
    )
    node = open_node(settings)  # deploys the contract and registers the issuer, as serve does
    ledger, issuer = node.anchorer.ledger, node.chain.issuer_account()
    client, start = ledger.client, ledger.client.block_number()
    node.close()
    nonce_before = client.next_nonce(issuer.address)

    engine = open_index(index)
    digests = [os.urandom(32).hex() for _ in range(5)]
    revocations = _revocations("local", [1, 1, 1])  # one reason: one revoke transaction
    with engine.begin() as conn:
        insert_submissions(
            conn, [{"issuer_id": "local", "digest": d, "submitted_at": utcnow()} for d in digests]
        )
        conn.execute(insert(revocation_t), revocations)

    crashed = _anchor(_env(data_dir, chain_variant.rpc_url, index, point) | chain_variant.env)
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    [(tx_hash, raw)] = _stored(engine, POINTS[point])
    assert "0x" + keccak(raw).hex() == tx_hash
    assert client.receipt(tx_hash) is None  # signed and stored, never sent

    resumed = _anchor(_env(data_dir, chain_variant.rpc_url, index, None) | chain_variant.env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    receipt = client.receipt(tx_hash)  # the very bytes stored before the crash were mined
    assert receipt is not None and receipt.success
    check_transaction(client, chain_variant, tx_hash)

    with engine.connect() as conn:
        batches = conn.execute(select(batch_t.c.root, batch_t.c.state)).all()
        flushes = conn.execute(select(revocation_batch_t.c.state)).scalars().all()
    engine.dispose()
    assert [state for _, state in batches] == ["confirmed"]
    assert flushes == ["confirmed"]
    [(root, _)] = batches
    assert len(ledger.events("RootAnchored", start, "latest", root=bytes.fromhex(root))) == 1
    # The contract (version 2) takes the flush as one commitment of the issuer's set.
    [committed] = ledger.revocation_commitments(start, client.block_number(), issuer.address)
    assert sorted(d.hex() for d in committed.digests) == sorted(
        str(r["digest"]) for r in revocations
    )
    assert ledger.revocation_root_of(issuer.address).size == len(revocations)
    # One anchor and one commitment transaction: nothing was sent twice.
    assert client.next_nonce(issuer.address) - nonce_before == 2
