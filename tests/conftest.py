"""Fixtures for the real parts: a local Anvil chain, the deployed contract, PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from mcledger.anchoring.anvil import AnvilProcess, start_anvil
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.ledger import LedgerContract, deploy_ledger
from mcledger.node.settings import Settings, load_settings

DEFAULT_TEST_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def test_settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilProcess]:
    """One Anvil for the session, on a free loopback port, without persisted state."""
    process = start_anvil()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def chain(anvil: AnvilProcess) -> ChainClient:
    return ChainClient(anvil.rpc_url)


@pytest.fixture(scope="session")
def artifact() -> dict:
    from mcledger.contracts.toolchain import load_artifact

    return load_artifact()


@pytest.fixture
def funded_account(chain: ChainClient) -> Callable[[], LocalAccount]:
    """Make fresh keys funded on Anvil, so tests never share a nonce."""

    def make() -> LocalAccount:
        account: LocalAccount = Account.create()
        chain.dev_set_balance(account.address, 100 * 10**18)
        return account

    return make


@dataclass
class DeployedLedger:
    ledger: LedgerContract
    admin: LocalAccount
    issuer: LocalAccount
    deploy_block: int


@pytest.fixture
def deployed(
    chain: ChainClient, artifact: dict, funded_account: Callable[[], LocalAccount]
) -> DeployedLedger:
    """A freshly deployed contract with one registered issuer."""
    admin, issuer = funded_account(), funded_account()
    ledger, receipt = deploy_ledger(chain, admin, artifact)
    ledger.register_issuer(admin, issuer.address, f"did:pkh:eip155:31337:{issuer.address}")
    return DeployedLedger(ledger, admin, issuer, receipt.block_number)


V1_ARTIFACT = Path(__file__).resolve().parent / "contracts" / "MicroCredentialLedger-v1.json"
"""The contract as committed before version 2 (per-digest `revoke` only, no `version()`)."""


@pytest.fixture
def deployed_v1(
    chain: ChainClient, artifact: dict, funded_account: Callable[[], LocalAccount]
) -> DeployedLedger:
    """A freshly deployed version-1 contract with one registered issuer, spoken to through
    today's ABI as a node does (version 2 only adds to it)."""
    from mcledger.anchoring.contract import deploy_artifact

    admin, issuer = funded_account(), funded_account()
    address, receipt = deploy_artifact(chain, admin, json.loads(V1_ARTIFACT.read_text()))
    ledger = LedgerContract(chain, address, artifact["abi"])
    ledger.register_issuer(admin, issuer.address, f"did:pkh:eip155:31337:{issuer.address}")
    return DeployedLedger(ledger, admin, issuer, receipt.block_number)


@pytest.fixture(scope="session")
def postgres_url(test_settings: Settings) -> str:
    """A reachable PostgreSQL URL; skips with the reason outside CI, fails in CI
    (MCLEDGER_REQUIRE_POSTGRES=1) so a missing server cannot pass silently."""
    import psycopg

    url = test_settings.test_postgres_url or DEFAULT_TEST_POSTGRES_URL
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        reason = f"PostgreSQL not reachable at {url}: {exc}"
        if test_settings.require_postgres:
            pytest.fail(reason + " (MCLEDGER_REQUIRE_POSTGRES is set)")
        pytest.skip(reason)
    return url


@contextlib.contextmanager
def throwaway_schema(base: str) -> Iterator[str]:
    """A PostgreSQL URL whose search path is a new schema, dropped afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty index URL: a SQLite file under tmp_path, or a throw-away schema in the
    test PostgreSQL (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.sqlite3'}"
        return
    with throwaway_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def postgres_database_url(postgres_url: str) -> Iterator[str]:
    """An empty index in a throw-away schema of the test PostgreSQL."""
    with throwaway_schema(postgres_url) as url:
        yield url
