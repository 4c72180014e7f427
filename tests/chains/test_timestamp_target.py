"""The Anchorer through EBSI's Timestamp interface (target ``ebsi-timestamp``), in-process on
the Berlin, gas-free Anvil (``ebsi_chain``) with our EbsiTimestamp and a real index.

A batch is timestamped with its tree size and issuer DID and proved with an anchor that
names the target; a root the issuer timestamped already is adopted (found by
`getTimestamp`, and after a `HashAlreadyTimestamped` revert), one timestamped by another
address is a conflict that sends nothing; a waiting transaction is broadcast again (gas
price 0: nothing to bump), a reorged one is sent again, the lease keeps one sender; a batch
keeps its target when the setting changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, func, select

from mcledger.anchoring.bundle import EBSI_TIMESTAMP_TARGET, LEDGER_TARGET, ProofBundle
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.fees import FeePolicy
from mcledger.anchoring.ledger import LedgerContract, deploy_ledger
from mcledger.anchoring.merkle import verify_inclusion
from mcledger.anchoring.timestamp import SHA2_256_ID, TimestampContract, deploy_timestamp
from mcledger.contracts.toolchain import load_artifact
from mcledger.node.errors import ChainSetupError
from mcledger.node.index.db import open_index
from mcledger.node.index.lease import ANCHORING_LEASE, LeaseHeldError, try_acquire
from mcledger.node.index.models import anchor_attempt_t, batch_t, operation_t, submission_t
from mcledger.node.index.sequence import holds_submission
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.anchorer import AnchorConflictError, Anchorer, AnchoringPolicy
from mcledger.node.pipeline.batches import proof_status
from mcledger.node.pipeline.targets import TimestampTarget
from mcledger.node.pipeline.txmachine import Fault
from mcledger.node.runtime.chain_setup import DEPLOYMENT_FILE, Deployment
from mcledger.node.runtime.service import open_node
from mcledger.node.settings import ConfigurationError, load_settings
from mcledger.node.verifier.credential import ChainReader
from tests.chains.variants import ChainVariant
from tests.node.pipeline.test_anchorer import _mining_in_background, _raise_at, _release_lease
from tests.node.pipeline.test_anchorer import _submit as submit

pytestmark = pytest.mark.chain

DID = "did:ebsi:zobuuYAHkAbRFCcqdcJfTgR"
FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)
STUCK = AnchoringPolicy(wait_timeout=0.6, poll_interval=0.05, replace_after=0.2)


@dataclass
class Setup:
    client: ChainClient
    ledger: LedgerContract
    timestamps: TimestampContract
    issuer: LocalAccount
    engine: Engine

    def anchorer(
        self, policy: AnchoringPolicy = FAST, fault: Fault | None = None, *, ledger: bool = False
    ) -> Anchorer:
        target = None if ledger else TimestampTarget(self.timestamps, SHA2_256_ID)
        return Anchorer(
            self.engine, self.ledger, lambda _id: self.issuer, policy, target=target, fault=fault
        )

    def sealed_root(self) -> bytes:
        """Seal the pending digests and stop (a crash before signing); the batch's root."""
        with pytest.raises(RuntimeError):
            self.anchorer(fault=_raise_at("batch.sealed")).anchor_pending("uni")
        _release_lease(self.engine)
        with self.engine.connect() as conn:
            return bytes.fromhex(conn.execute(select(batch_t.c.root)).scalar_one())

    def attempts(self) -> list[str]:
        with self.engine.connect() as conn:
            query = select(anchor_attempt_t.c.transaction_hash).order_by(anchor_attempt_t.c.id)
            return list(conn.execute(query).scalars())

    def events(self, root: bytes) -> list:
        """The TimestampedHashes events whose ids hold ``root``'s."""
        wanted = hashlib.sha256(root).digest()
        return [
            e
            for e in self.timestamps.events("TimestampedHashes", 0, self.client.block_number())
            if wanted in [bytes(i) for i in e["args"]["timestampIds"]]
        ]

    def automine(self, on: bool) -> None:
        self.client.request("evm_setAutomine", [on])


@pytest.fixture
def setup(ebsi_chain: ChainVariant, tmp_path: Path) -> Iterator[Setup]:
    """Fresh contracts (the ledger beside the Timestamp contract), a registered issuer whose
    DID the index knows, and a SQLite index. Gas-free: no account holds anything."""
    client = ChainClient(ebsi_chain.rpc_url, fees=FeePolicy(gas_price=0))
    admin, issuer = Account.create(), Account.create()
    ledger, _ = deploy_ledger(client, admin, load_artifact())
    ledger.register_issuer(admin, issuer.address, DID)
    timestamps, _ = deploy_timestamp(client, admin, load_artifact("EbsiTimestamp"))
    engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    ensure_issuer(engine, "uni", chain_address=issuer.address, did=DID)
    try:
        yield Setup(client, ledger, timestamps, issuer, engine)
    finally:
        engine.dispose()


def test_a_batch_is_timestamped_with_its_size_and_did_and_proved(
    setup: Setup, ebsi_chain: ChainVariant
) -> None:
    digests = submit(setup.engine, "uni", 7)
    [report] = setup.anchorer().anchor_pending("uni")
    assert report.state == "confirmed" and report.tree_size == 7
    root = bytes.fromhex(report.root)
    record = setup.timestamps.get_timestamp(root)
    assert record.timestamped_by == setup.issuer.address
    assert record.block_number == report.block_number
    assert (record.hash_algorithm_id, record.hash_value) == (SHA2_256_ID, root)
    data = record.timestamp_data()
    assert (data.tree_size, data.issuer_did) == (7, DID)
    assert not setup.ledger.anchor_of(root).exists  # not anchored on the ledger as well
    [event] = setup.events(root)
    assert "0x" + bytes(event["transactionHash"]).hex() == report.transaction_hash
    tx = setup.client.w3.eth.get_transaction(report.transaction_hash)  # type: ignore[arg-type]
    assert (tx["type"], tx["gasPrice"], tx["to"]) == (0, 0, setup.timestamps.address)

    with setup.engine.connect() as conn:
        row = conn.execute(select(batch_t)).one()
    assert (row.target, row.contract, row.hash_algorithm_id) == (
        EBSI_TIMESTAMP_TARGET,
        setup.timestamps.address,
        SHA2_256_ID,
    )
    assert (row.issuer_did, row.ledger_contract) == (DID, setup.ledger.address)
    for digest in digests:
        status = proof_status(setup.engine, digest=digest)
        assert status is not None and status.bundle is not None
        anchor = status.bundle.to_json()["anchor"]
        assert anchor["target"] == EBSI_TIMESTAMP_TARGET
        assert anchor["contract"] == setup.timestamps.address.lower()
        assert anchor["ledger"] == setup.ledger.address.lower()
        assert anchor["contractVersion"] == 2  # the ledger's beside the timestamp
        assert anchor["hashAlgorithmId"] == SHA2_256_ID
        assert anchor["issuer"] == setup.issuer.address.lower()
        verify_inclusion(bytes.fromhex(digest), status.bundle.proof, root=root, tree_size=7)
    verified = ChainReader(ebsi_chain.rpc_url).verify_bundle(status.bundle)
    assert verified.ok, verified.to_json()
    assert setup.anchorer().anchor_pending("uni") == []  # nothing new: nothing sent


def test_a_root_this_issuer_timestamped_already_is_adopted(setup: Setup) -> None:
    submit(setup.engine, "uni", 3)
    root = setup.sealed_root()
    # As if sent just before the crash: the issuer's own timestamp of the root.
    receipt = setup.timestamps.timestamp(setup.issuer, root, 3, DID, SHA2_256_ID)
    nonce = setup.client.next_nonce(setup.issuer.address)
    [report] = setup.anchorer().anchor_pending("uni")
    assert report.state == "confirmed" and report.transaction_hash == receipt.transaction_hash
    assert setup.attempts() == [receipt.transaction_hash]
    assert setup.client.next_nonce(setup.issuer.address) == nonce  # nothing sent
    assert len(setup.events(root)) == 1


def test_a_root_another_address_timestamped_is_a_conflict(setup: Setup) -> None:
    submit(setup.engine, "uni", 3)
    root = setup.sealed_root()
    other = Account.create()
    setup.timestamps.timestamp(other, root, 3, DID, SHA2_256_ID)  # the same data, not ours
    for _ in range(2):  # each run says so again, and the lease does not stay taken
        with pytest.raises(
            AnchorConflictError, match=f"holds root {root.hex()} for {other.address}"
        ):
            setup.anchorer().anchor_pending("uni")
    assert setup.client.next_nonce(setup.issuer.address) == 0  # nothing was ever sent
    with setup.engine.connect() as conn:
        state, error = conn.execute(select(batch_t.c.state, batch_t.c.last_error)).one()
    assert state == "sealed" and other.address in error
    assert setup.attempts() == []


def test_a_revert_on_a_hash_already_timestamped_adopts_the_earlier_transaction(
    setup: Setup,
) -> None:
    submit(setup.engine, "uni", 4)
    root = setup.sealed_root()
    setup.automine(False)
    try:
        # The issuer's own timestamp of the root waits in the pool (a run before a crash).
        first = setup.client.sign(
            setup.issuer,
            to=setup.timestamps.address,
            data=setup.timestamps.timestamp_calldata(root, 4, DID, SHA2_256_ID),
        )
        setup.client.send_raw(first.raw)
        [report] = setup.anchorer(STUCK).anchor_pending("uni", wait=False)
        assert report.state == "submitted"
        [ours] = setup.attempts()
        # The pool loses ours; the first is mined alone; ours comes back and reverts.
        setup.client.request("anvil_dropTransaction", [ours])
        setup.client.dev_mine(1)
    finally:
        setup.automine(True)
    [report] = setup.anchorer().anchor_pending("uni")
    assert report.state == "confirmed" and report.transaction_hash == first.transaction_hash
    failed = setup.client.receipt(ours)
    assert failed is not None and not failed.success  # HashAlreadyTimestamped, adopted
    assert len(setup.events(root)) == 1


def test_a_waiting_transaction_is_broadcast_again_at_gas_price_0(setup: Setup) -> None:
    submit(setup.engine, "uni", 2)
    setup.automine(False)
    try:
        [report] = setup.anchorer(STUCK).anchor_pending("uni")
        assert report.state == "submitted"
        [tx_hash] = setup.attempts()  # waited past replace_after: not repriced
        setup.client.request("anvil_dropTransaction", [tx_hash])
        setup.anchorer(STUCK).anchor_pending("uni")  # the same bytes go out again
        assert setup.client.request("eth_getTransactionByHash", [tx_hash]) is not None
    finally:
        setup.automine(True)
    setup.client.dev_mine(1)
    [report] = setup.anchorer().anchor_pending("uni")
    assert report.state == "confirmed" and report.transaction_hash == tx_hash
    assert setup.attempts() == [tx_hash]
    with setup.engine.connect() as conn:
        actions = set(conn.execute(select(operation_t.c.action)).scalars())
    assert "anchor.replaced" not in actions


def test_a_reorged_timestamp_is_sent_again(setup: Setup) -> None:
    submit(setup.engine, "uni", 2)
    snapshot = setup.client.request("evm_snapshot", [])
    policy = AnchoringPolicy(confirmations=3, wait_timeout=0.5, poll_interval=0.05)
    [report] = setup.anchorer(policy).anchor_pending("uni")  # mined, 1 of 3 confirmations
    assert report.state == "submitted"
    root = bytes.fromhex(report.root)
    setup.client.request("evm_revert", [snapshot])
    assert not setup.timestamps.get_timestamp(root).exists
    setup.client.dev_mine(3)  # other blocks now stand at that height
    policy = AnchoringPolicy(confirmations=3, wait_timeout=20, poll_interval=0.05)
    with _mining_in_background(setup.client):
        [report] = setup.anchorer(policy).anchor_pending("uni")
    assert report.state == "confirmed"
    [tx_hash] = setup.attempts()  # the same signed transaction, sent again
    assert report.transaction_hash == tx_hash
    assert setup.timestamps.get_timestamp(root).block_number == report.block_number
    with setup.engine.connect() as conn:
        block_hash = conn.execute(select(batch_t.c.block_hash)).scalar_one()
    canonical = setup.client.block(report.block_number)
    assert "0x" + bytes(canonical["hash"]).hex() == block_hash
    assert len(setup.events(root)) == 1


def test_only_the_lease_holder_timestamps(setup: Setup) -> None:
    submit(setup.engine, "uni", 2)
    assert try_acquire(setup.engine, ANCHORING_LEASE, "another process", ttl=60)
    with pytest.raises(LeaseHeldError):
        setup.anchorer().anchor_pending("uni")
    with setup.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(batch_t)).scalar_one() == 0


def test_a_batch_keeps_its_target_when_the_setting_changes(setup: Setup) -> None:
    submit(setup.engine, "uni", 3)
    with pytest.raises(RuntimeError):  # signed and stored for the Timestamp contract, not sent
        setup.anchorer(fault=_raise_at("anchor.signed")).anchor_pending("uni")
    _release_lease(setup.engine)
    [stored] = setup.attempts()
    submit(setup.engine, "uni", 2)
    # The node now anchors into the ledger: the stored timestamp still goes out as it was,
    # the digests that came since go to the ledger.
    first, second = setup.anchorer(ledger=True).anchor_pending("uni")
    assert first.state == second.state == "confirmed"
    assert first.transaction_hash == stored
    assert setup.timestamps.get_timestamp(bytes.fromhex(first.root)).exists
    assert not setup.ledger.anchor_of(bytes.fromhex(first.root)).exists
    assert setup.ledger.anchor_of(bytes.fromhex(second.root)).tree_size == 2
    targets = [_bundle_of(setup.engine, r.batch_id).anchor.target for r in (first, second)]
    assert targets == [EBSI_TIMESTAMP_TARGET, LEDGER_TARGET]


def _bundle_of(engine: Engine, batch_id: int) -> ProofBundle:
    with engine.connect() as conn:
        query = (
            select(submission_t.c.digest)
            .select_from(submission_t.join(batch_t, holds_submission()))
            .where(batch_t.c.id == batch_id)
            .limit(1)
        )
        digest = str(conn.execute(query).scalar_one())
    status = proof_status(engine, digest=digest)
    assert status is not None and status.bundle is not None
    return status.bundle


def test_a_timestamp_contract_setting_must_be_an_address() -> None:
    with pytest.raises(ConfigurationError, match="MCLEDGER_TIMESTAMP_CONTRACT: '0x12' is not"):
        load_settings(timestamp_contract="0x12")
    mixed = "0x" + "aB" * 20  # mixed case that is no EIP-55 checksum
    with pytest.raises(ConfigurationError, match="bad EIP-55 checksum"):
        load_settings(timestamp_contract=mixed)
    assert load_settings(timestamp_contract=mixed.lower()).timestamp_contract == mixed.lower()


def test_outside_development_mode_the_timestamp_contract_must_be_named(
    setup: Setup, tmp_path: Path
) -> None:
    base = {
        "data_dir": tmp_path / "node",
        "rpc_url": setup.client.rpc_url,
        "database_url": f"sqlite:///{tmp_path / 'node.sqlite3'}",
        "key_password": "not a development keystore",
        "contract_address": setup.ledger.address,
        "anchor_target": "ebsi-timestamp",
    }
    with pytest.raises(ChainSetupError, match="MCLEDGER_TIMESTAMP_CONTRACT is not set"):
        open_node(load_settings(**base))
    nowhere = "0x" + "00" * 19 + "01"
    with pytest.raises(
        ChainSetupError, match=f"no contract at MCLEDGER_TIMESTAMP_CONTRACT {nowhere}"
    ):
        open_node(load_settings(**base, timestamp_contract=nowhere))
    assert not (tmp_path / "node" / "chain" / DEPLOYMENT_FILE).exists()  # nothing deployed
    assert not list((tmp_path / "node" / "keys").glob("*"))  # no key made either


def test_chain_deploy_puts_our_timestamp_contract_beside_the_ledger_once(
    ebsi_chain: ChainVariant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mcledger.cli.chain import chain_deploy

    for name in [n for n in os.environ if n.startswith("MCLEDGER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MCLEDGER_ANCHOR_TARGET", "ebsi-timestamp")
    monkeypatch.setenv("MCLEDGER_KEY_PASSWORD", "an operator's passphrase")  # not dev mode
    statuses = []
    for _ in range(2):  # the second run finds both and deploys nothing
        chain_deploy(data_dir=tmp_path, rpc=ebsi_chain.rpc_url, json_out=True)
        statuses.append(json.loads(capsys.readouterr().out))
    first, second = statuses
    assert first == second and first["issuerRegistered"] is True
    assert (first["anchorTarget"], first["hashAlgorithmId"]) == ("ebsi-timestamp", SHA2_256_ID)
    deployment = Deployment.load(tmp_path / "chain" / DEPLOYMENT_FILE)
    assert deployment is not None and deployment.contract == first["contract"]
    assert deployment.timestamp_contract == first["timestampContract"]
    client = ChainClient(ebsi_chain.rpc_url)
    stamps = TimestampContract(
        client, first["timestampContract"], load_artifact("EbsiTimestamp")["abi"]
    )
    assert stamps.admin() == first["admin"]
    assert stamps.hash_algorithm(SHA2_256_ID).name == "sha2-256"
