"""Assembling a node from its settings: the index, the chain, the local issuer, the anchorer
and the revocation flusher."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from mcledger.anchoring.bundle import EBSI_TIMESTAMP_TARGET
from mcledger.anchoring.ledger import LedgerContract
from mcledger.node.errors import ChainSetupError
from mcledger.node.index.db import default_database_url, open_index
from mcledger.node.issuing.issuance import CredentialIssuer, ensure_signing_identity
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.keys import DEV_PASSPHRASE_FILE
from mcledger.node.pipeline.anchorer import Anchorer, AnchoringPolicy
from mcledger.node.pipeline.faults import fault_hook
from mcledger.node.pipeline.revocation_commit import StatusListSigner
from mcledger.node.pipeline.revocation_flush import RevocationFlusher
from mcledger.node.pipeline.targets import AnchorTarget, LedgerTarget, TimestampTarget
from mcledger.node.runtime.chain_setup import ChainContext, ensure_dev_ready, open_chain
from mcledger.node.settings import Settings


def development_defaults(settings: Settings) -> list[str]:
    """What keeps ``settings`` from running a real node: each item names the setting to
    change. Empty in development mode, where these defaults are the point."""
    if settings.dev:
        return []
    problems = []
    if settings.key_password is None:
        problems.append(
            "no keystore passphrase: set MCLEDGER_KEY_PASSWORD (the keys are encrypted with it)"
        )
    if (settings.keys_dir / DEV_PASSPHRASE_FILE).exists():
        problems.append(
            f"the keystore in {settings.keys_dir} was made in development mode (its passphrase"
            " is stored beside the keys): point MCLEDGER_DATA_DIR at a new directory and set"
            " MCLEDGER_KEY_PASSWORD"
        )
    return problems


def index_url(settings: Settings) -> str:
    return settings.database_url or default_database_url(settings.data_dir)


def open_engine(settings: Settings) -> Engine:
    """The index, migrated to the newest schema."""
    return open_index(index_url(settings))


def anchoring_policy(settings: Settings) -> AnchoringPolicy:
    return AnchoringPolicy(
        confirmations=settings.confirmations,
        wait_timeout=settings.tx_timeout,
        replace_after=settings.replace_after,
        lease_ttl=settings.lease_seconds,
        max_fee_cap=int(settings.max_fee_gwei * 10**9),
        max_batch_size=settings.max_batch_size,
        revocations_per_transaction=settings.revocations_per_transaction,
        commitments_per_transaction=settings.commitments_per_transaction,
    )


def anchor_target(settings: Settings, chain: ChainContext, ledger: LedgerContract) -> AnchorTarget:
    """Where new batches go, as MCLEDGER_ANCHOR_TARGET says; ChainSetupError when
    ebsi-timestamp has no Timestamp contract. Outside development mode (and a data
    directory made in it, whose commands use what development mode deployed) it must be
    named: MCLEDGER_TIMESTAMP_CONTRACT."""
    if settings.anchor_target != EBSI_TIMESTAMP_TARGET:
        return LedgerTarget(ledger)
    development = settings.dev or (settings.keys_dir / DEV_PASSPHRASE_FILE).is_file()
    if not development and settings.timestamp_contract is None:
        raise ChainSetupError(
            "MCLEDGER_ANCHOR_TARGET is ebsi-timestamp but MCLEDGER_TIMESTAMP_CONTRACT is not "
            "set: set it to the Timestamp contract's address (EBSI's, or the EbsiTimestamp "
            "that `mcledger chain deploy` deployed)"
        )
    if chain.timestamps is None:
        raise ChainSetupError(
            "MCLEDGER_ANCHOR_TARGET is ebsi-timestamp but there is no Timestamp contract on "
            f"chain {chain.client.chain_id}: run `mcledger chain deploy`"
        )
    return TimestampTarget(chain.timestamps, settings.timestamp_hash_algorithm_id)


@dataclass
class Node:
    settings: Settings
    engine: Engine
    chain: ChainContext
    anchorer: Anchorer
    flusher: RevocationFlusher
    credentials: CredentialIssuer

    def close(self) -> None:
        self.chain.close()
        self.engine.dispose()


def open_node(settings: Settings, *, start_dev_chain: bool = False, prepare: bool = True) -> Node:
    """Open the index and the chain; in development mode also deploy and register.
    ``prepare=False``: another process of this node has done that (and recorded the local
    issuer), as for `serve --workers`' HTTP workers; only open what is there."""
    engine = open_engine(settings)
    chain = open_chain(settings, start_dev_chain=start_dev_chain)
    try:
        if settings.dev and prepare:
            ledger = ensure_dev_ready(chain)
        elif chain.ledger is None:
            raise ChainSetupError(
                "no contract on this chain: run `mcledger chain deploy` or set "
                "MCLEDGER_CONTRACT_ADDRESS"
            )
        else:
            ledger = chain.ledger
        target = anchor_target(settings, chain, ledger)
        issuer = chain.issuer_account()
        signing_key = chain.signing_key()
        did = settings.issuer_did or signing_key.did
        if prepare:
            ensure_issuer(engine, settings.issuer_id, chain_address=issuer.address, did=did)
            ensure_signing_identity(engine, settings.issuer_id, did, dev=settings.dev)
        credentials = CredentialIssuer(
            engine,
            settings.issuer_id,
            signing_key,
            store_bodies=settings.store_credentials,
            did=did,
            base_url=settings.node_url,
        )
        policy, fault = anchoring_policy(settings), fault_hook(settings.fault_point)
        anchorer = Anchorer(
            engine, ledger, chain.issuer_account, policy, target=target, fault=fault
        )
        lists = StatusListSigner(
            settings.issuer_id,
            signing_key,
            credentials.did,
            credentials.verification_method,
            credentials.base_url,
        )
        flusher = RevocationFlusher(
            engine, ledger, chain.issuer_account, policy, fault=fault, status_lists=lists
        )
    except BaseException:
        chain.close()
        engine.dispose()
        raise
    return Node(settings, engine, chain, anchorer, flusher, credentials)
