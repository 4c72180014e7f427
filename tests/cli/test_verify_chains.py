"""`mcledger verify` finds each bundle's chain by its chain id: the chains file, the node's
settings, the data directory's development chain (node/verifier/chains.py), on two real
Anvil chains with different chain ids."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner

from mcledger.anchoring.anvil import AnvilProcess, start_anvil
from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.ledger import LedgerContract, deploy_ledger
from mcledger.cli.verify import verify_command
from mcledger.node.credentials.annex import EXAMPLE_AWARD
from mcledger.node.credentials.build import build_credential
from mcledger.node.credentials.dataintegrity import (
    ANCHOR_PROPERTY,
    credential_digest,
    sign_credential,
)
from mcledger.node.credentials.multikey import Ed25519SigningKey, did_key, verification_method
from mcledger.node.settings import load_settings
from mcledger.node.verifier.chains import (
    ChainEndpoints,
    ChainsFileError,
    MultiChainReader,
    UnknownChainError,
    load_chains_file,
)
from tests.cli.bundles import anchored_bundle
from tests.node.samples import ISSUED_AT, academy_profile, achievement

OTHER_CHAIN_ID = 4242
UNREACHABLE = "http://127.0.0.1:9"

runner = CliRunner()
app = typer.Typer()
app.command("verify")(verify_command)


@app.callback()
def _root() -> None:
    """Keeps `verify` a subcommand, as under `mcledger`."""


@dataclass
class Chain:
    client: ChainClient
    ledger: LedgerContract
    issuer: LocalAccount


@pytest.fixture(scope="module")
def other_anvil() -> Iterator[AnvilProcess]:
    process = start_anvil(chain_id=OTHER_CHAIN_ID)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def signing_key() -> Ed25519SigningKey:
    return Ed25519SigningKey.generate()


def _chain(rpc_url: str, artifact: dict, did: str) -> Chain:
    """The contract deployed on the chain at ``rpc_url``, a funded issuer registered as ``did``."""
    client = ChainClient(rpc_url)
    admin, issuer = Account.create(), Account.create()
    for account in (admin, issuer):
        client.dev_set_balance(account.address, 10**20)
    ledger, _ = deploy_ledger(client, admin, artifact)
    ledger.register_issuer(admin, issuer.address, did)
    return Chain(client, ledger, issuer)


@pytest.fixture(scope="module")
def chains(
    anvil: AnvilProcess, other_anvil: AnvilProcess, artifact: dict, signing_key: Ed25519SigningKey
) -> tuple[Chain, Chain]:
    did = did_key(signing_key.public_key)
    return _chain(anvil.rpc_url, artifact, did), _chain(other_anvil.rpc_url, artifact, did)


def _anchored(chain: Chain, digest: bytes, credential_id: str | None = None) -> ProofBundle:
    """``digest`` as leaf 0 of a tree of 3 anchored on ``chain``; its bundle."""
    leaves = [digest, os.urandom(32), os.urandom(32)]
    return anchored_bundle(chain.ledger, chain.issuer, leaves, 0, credential_id)


def _learners_copy(
    chain: Chain, key: Ed25519SigningKey, credential_id: str, components: list[Any]
) -> dict[str, Any]:
    """A signed micro-credential (no status list) anchored on ``chain``, with its bundle."""
    award = copy.deepcopy(EXAMPLE_AWARD)
    award["components"] = components
    if not components:
        award.pop("components")
    did = did_key(key.public_key)
    unsigned = build_credential(
        academy_profile(did), achievement(), award, credential_id=credential_id, issued_at=ISSUED_AT
    )
    signed = sign_credential(unsigned, key, verification_method(did), ISSUED_AT)
    bundle = _anchored(chain, credential_digest(signed), credential_id)
    return {**signed, ANCHOR_PROPERTY: bundle.to_json()}


@pytest.fixture(autouse=True)
def only_what_a_test_sets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No configured chain reaches the settings but what a test sets; an empty data dir."""
    for name in (
        "MCLEDGER_RPC_URL",
        "MCLEDGER_RPC_TOKEN",
        "MCLEDGER_CHAIN_ID",
        "MCLEDGER_CHAINS_FILE",
        "MCLEDGER_CONFIG_FILE",
        "MCLEDGER_SECRETS_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MCLEDGER_DATA_DIR", str(tmp_path / "data"))


def _chains_file(tmp_path: Path, entries: dict[int, str], suffix: str = ".toml") -> Path:
    path = tmp_path / f"chains{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({str(k): v for k, v in entries.items()}))
    else:
        path.write_text("".join(f'"{k}" = "{v}"\n' for k, v in entries.items()))
    return path


def _write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


# -- the chains file ------------------------------------------------------------------------


def test_a_chains_file_in_toml_or_json(tmp_path: Path) -> None:
    entries = {1: "https://rpc.example/mainnet", OTHER_CHAIN_ID: "http://127.0.0.1:8545"}
    assert load_chains_file(_chains_file(tmp_path, entries)) == entries
    assert load_chains_file(_chains_file(tmp_path, entries, ".json")) == entries
    (tmp_path / "empty.toml").write_text("")
    assert load_chains_file(tmp_path / "empty.toml") == {}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.toml", '"1" = "https://rpc.example/v3/SECRET-KEY"\n"1" = "x"', "not TOML"),
        ("c.json", '{"1": "https://rpc.example/v3/SECRET-KEY",', "not JSON"),
        ("c.json", '["https://rpc.example/v3/SECRET-KEY"]', "not a JSON list"),
        ("c.toml", '"main" = "https://rpc.example/v3/SECRET-KEY"', "'main' is not a chain id"),
        ("c.toml", '"0" = "https://rpc.example/v3/SECRET-KEY"', "'0' is not a chain id"),
        ("c.toml", '"5" = "ftp://rpc.example/v3/SECRET-KEY"', "chain id 5 is not an http(s) URL"),
        ("c.toml", '"5" = 8545', "chain id 5 is not an http(s) URL"),
        ("c.json", '{"7": "https://a.example/SECRET-KEY", "07": "https://b.example"}', "twice"),
    ],
)
def test_a_bad_chains_file_is_named_and_its_urls_are_not_repeated(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ChainsFileError) as caught:
        load_chains_file(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert "SECRET-KEY" not in str(caught.value)


def test_an_unreadable_chains_file(tmp_path: Path) -> None:
    with pytest.raises(ChainsFileError, match="cannot read the chains file .*missing.toml"):
        load_chains_file(tmp_path / "missing.toml")


# -- the order of the lookup ------------------------------------------------------------------


def test_the_lookup_order(anvil: AnvilProcess, other_anvil: AnvilProcess, tmp_path: Path) -> None:
    """--rpc, then the chains file (taken as written), then the node's settings (its chain
    id, else what the endpoint answers), then the development chain (what it answers)."""
    listed = {7: UNREACHABLE}
    assert ChainEndpoints(rpc="http://given", chains=listed).rpc_url(7) == "http://given"
    assert ChainEndpoints(chains=listed, node_rpc_url=anvil.rpc_url).rpc_url(7) == UNREACHABLE
    configured = ChainEndpoints(node_rpc_url=UNREACHABLE, node_chain_id=7)
    assert configured.rpc_url(7) == UNREACHABLE  # MCLEDGER_CHAIN_ID: taken without asking

    asked: list[str] = []

    def dev_endpoint() -> str | None:
        asked.append("dev")
        return other_anvil.rpc_url

    endpoints = ChainEndpoints(
        node_rpc_url=anvil.rpc_url, dev_endpoint=dev_endpoint, dev_data_dir=tmp_path
    )
    assert endpoints.rpc_url(31337) == anvil.rpc_url and asked == []
    assert endpoints.rpc_url(OTHER_CHAIN_ID) == other_anvil.rpc_url
    assert endpoints.rpc_url(OTHER_CHAIN_ID) == other_anvil.rpc_url and asked == ["dev"]
    with pytest.raises(UnknownChainError) as caught:
        endpoints.rpc_url(999)
    message = str(caught.value)
    assert message.startswith("no RPC URL for chain id 999: pass --rpc URL")
    assert "MCLEDGER_CHAINS_FILE" in message and '"999" = "https://…"' in message
    assert f"MCLEDGER_RPC_URL is chain 31337; the development chain is chain {OTHER_CHAIN_ID}" in (
        message
    )


def test_what_was_tried_is_named(tmp_path: Path) -> None:
    chains_file = _chains_file(tmp_path, {1: "https://rpc.example/SECRET-KEY"})
    settings = load_settings(
        chains_file=chains_file, rpc_url=UNREACHABLE, data_dir=tmp_path, rpc_token="tok-SECRET"
    )
    endpoints = ChainEndpoints.from_settings(settings)
    assert endpoints.token_for(UNREACHABLE) == "tok-SECRET"
    assert endpoints.token_for("https://rpc.example/SECRET-KEY") is None
    with pytest.raises(UnknownChainError) as caught:
        endpoints.rpc_url(5)
    message = str(caught.value)
    assert f"the chains file {chains_file} lists chain ids 1" in message
    assert "MCLEDGER_RPC_URL did not answer eth_chainId" in message
    assert f"no development chain runs for {tmp_path}" in message
    assert "SECRET" not in message


# -- through the command ----------------------------------------------------------------------


def test_verify_reads_each_bundle_on_its_own_chain(
    chains: tuple[Chain, Chain],
    anvil: AnvilProcess,
    other_anvil: AnvilProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    here, there = (_anchored(chain, os.urandom(32)) for chain in chains)
    here_file, there_file = (
        _write(tmp_path, f"{name}.json", bundle.to_json())
        for name, bundle in (("here", here), ("there", there))
    )
    # The node's own endpoint only: the other chain is named, with what to configure.
    monkeypatch.setenv("MCLEDGER_RPC_URL", anvil.rpc_url)
    assert runner.invoke(app, ["verify", str(here_file)]).exit_code == 0
    refused = runner.invoke(app, ["verify", str(there_file)])
    assert refused.exit_code == 2 and refused.stdout == ""
    assert f"no RPC URL for chain id {OTHER_CHAIN_ID}" in refused.stderr
    assert "MCLEDGER_CHAINS_FILE" in refused.stderr
    # A chains file for the other chain: both verify, no --rpc anywhere.
    listed = _chains_file(tmp_path, {OTHER_CHAIN_ID: other_anvil.rpc_url}, ".json")
    monkeypatch.setenv("MCLEDGER_CHAINS_FILE", str(listed))
    for file in (here_file, there_file):
        result = runner.invoke(app, ["verify", str(file)])
        assert result.exit_code == 0, result.output
        assert "verified: all 9 checks passed" in result.stdout
    # --rpc is taken for every bundle: the other chain's bundle then fails chain.id.
    forced = runner.invoke(app, ["verify", str(there_file), "--rpc", anvil.rpc_url])
    assert forced.exit_code == 1 and "FAIL  chain.id" in forced.stdout
    # A bad chains file: a clear error, nothing verified.
    listed.write_text('{"4242": "not a url"}')
    bad = runner.invoke(app, ["verify", str(here_file)])
    assert bad.exit_code == 2 and bad.stdout == ""
    assert f"the chains file {listed}: the entry for chain id 4242" in bad.stderr


def test_verify_finds_the_data_directorys_development_chain(
    chains: tuple[Chain, Chain], anvil: AnvilProcess, tmp_path: Path
) -> None:
    """What the README's quick start relies on: `mcledger verify bundle.json`, nothing else."""
    bundle_file = _write(tmp_path, "bundle.json", _anchored(chains[0], os.urandom(32)).to_json())
    data_dir = tmp_path / "node"
    result = runner.invoke(app, ["verify", str(bundle_file), "--data-dir", str(data_dir)])
    assert result.exit_code == 2 and f"no development chain runs for {data_dir}" in result.stderr
    (data_dir / "chain").mkdir(parents=True)
    endpoint = {"rpcUrl": anvil.rpc_url, "pid": os.getpid()}  # a process that runs
    (data_dir / "chain" / "endpoint.json").write_text(json.dumps(endpoint))
    result = runner.invoke(app, ["verify", str(bundle_file), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output


def test_a_stack_anchored_on_two_chains(
    chains: tuple[Chain, Chain],
    signing_key: Ed25519SigningKey,
    other_anvil: AnvilProcess,
    anvil: AnvilProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stack on one chain, its component on the other: each bundle's chain is looked
    up, and the whole tree verifies."""
    here, there = chains
    component = _learners_copy(there, signing_key, "urn:uuid:" + os.urandom(16).hex(), [])
    listed = [{"id": component["id"], "digest": credential_digest(component).hex()}]
    stack = _learners_copy(here, signing_key, "urn:uuid:" + os.urandom(16).hex(), listed)
    stack_file = _write(tmp_path, "stack.json", stack)
    component_file = _write(tmp_path, "component.json", component)

    endpoints = ChainEndpoints(chains={31337: anvil.rpc_url, OTHER_CHAIN_ID: other_anvil.rpc_url})
    reader = MultiChainReader(endpoints)
    assert reader.on_chain(OTHER_CHAIN_ID).client.rpc_url == other_anvil.rpc_url

    monkeypatch.setenv("MCLEDGER_RPC_URL", anvil.rpc_url)
    args = ["verify", str(stack_file), "--component", str(component_file)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and f"chain id {OTHER_CHAIN_ID}" in refused.stderr
    listed_file = _chains_file(tmp_path, {OTHER_CHAIN_ID: other_anvil.rpc_url})
    monkeypatch.setenv("MCLEDGER_CHAINS_FILE", str(listed_file))
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    [child] = report["components"]
    assert child["id"] == component["id"] and child["ok"] is True
