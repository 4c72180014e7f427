"""`mcledger chain up | deploy | status`: the local chain and the contract."""

from __future__ import annotations

import json
import signal
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcledger.cli.console import LazyConsole
from mcledger.cli.options import DataDirOption, JsonOption, RpcOption
from mcledger.node.errors import ChainSetupError

if TYPE_CHECKING:
    from mcledger.node.runtime.chain_setup import ChainContext

chain_app = typer.Typer(
    help="Start the local development chain, deploy the contract, show the chain's state.",
    no_args_is_help=True,
)
console = LazyConsole()


def _status(context: ChainContext) -> dict[str, Any]:
    from mcledger.node.runtime.chain_setup import ledger_version_of

    client, ledger = context.client, context.ledger
    issuer = context.issuer_account()
    return {
        "rpcUrl": client.rpc_url,
        "chainId": client.chain_id,
        "blockNumber": client.block_number(),
        "contract": ledger.address if ledger else None,
        "contractVersion": ledger_version_of(context),
        "admin": ledger.admin() if ledger else None,
        "issuerId": context.settings.issuer_id,
        "issuerAddress": issuer.address,
        "issuerRegistered": ledger.is_issuer(issuer.address) if ledger else False,
        "ownChain": context.anvil is not None,
    } | _target_status(context)


def _target_status(context: ChainContext) -> dict[str, Any]:
    """The anchor target's part of the status: nothing more for the ledger (as before)."""
    settings = context.settings
    if settings.anchor_target == "ledger":
        return {}
    timestamps = context.timestamps
    return {
        "anchorTarget": settings.anchor_target,
        "timestampContract": timestamps.address if timestamps else None,
        "hashAlgorithmId": settings.timestamp_hash_algorithm_id,
    }


def _print_status(status: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(status, indent=2))
        return
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    labels = {
        "rpcUrl": "RPC URL",
        "chainId": "chain id",
        "blockNumber": "block",
        "contract": "contract",
        "contractVersion": "contract version",
        "admin": "admin",
        "issuerId": "local issuer",
        "issuerAddress": "issuer address",
        "issuerRegistered": "issuer registered",
        "anchorTarget": "anchor target",
        "timestampContract": "Timestamp contract",
        "hashAlgorithmId": "SHA-256 algorithm id",
    }
    for key, label in labels.items():
        if key not in status:
            continue
        value = status[key]
        table.add_row(label, "-" if value is None else str(value))
    console.print(table)


@chain_app.command("up")
def chain_up(
    data_dir: DataDirOption = None,
    port: Annotated[
        int | None, typer.Option(help="Loopback port for Anvil (default: a free one).")
    ] = None,
    deploy: Annotated[
        bool,
        typer.Option(
            "--deploy/--no-deploy", help="Deploy the contract and register the local issuer."
        ),
    ] = True,
    json_out: JsonOption = False,
) -> None:
    """Run the development chain in the foreground until Ctrl-C.

    Anvil's state is kept under DATA_DIR/chain, so the contract is deployed once
    and survives restarts. Other commands find this chain while it runs.
    """
    from mcledger.node.runtime.chain_setup import ensure_dev_ready, open_chain
    from mcledger.node.settings import load_settings

    settings = load_settings(data_dir=data_dir, anvil_port=port, dev=True)
    if settings.rpc_url:
        raise ChainSetupError("MCLEDGER_RPC_URL is set: `chain up` starts its own chain; unset it")
    context = open_chain(settings, start_dev_chain=True)
    if context.anvil is None:
        context.close()
        raise ChainSetupError(
            f"a development chain for {settings.data_dir} is already running "
            f"at {context.client.rpc_url}"
        )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        if deploy:
            ensure_dev_ready(context)
        _print_status(_status(context), json_out, "mcledger development chain")
        if not json_out:
            console.print(f"Chain state: {settings.chain_dir}. Press Ctrl-C to stop.")
        while not stop.is_set() and context.anvil.is_running():
            stop.wait(0.5)
        if not context.anvil.is_running():
            raise ChainSetupError(
                f"Anvil stopped unexpectedly; see {settings.chain_dir / 'anvil.log'}"
            )
    finally:
        context.close()
        if not json_out:
            console.print("Development chain stopped; state saved.")


@chain_app.command("deploy")
def chain_deploy(
    data_dir: DataDirOption = None,
    rpc: RpcOption = None,
    force: Annotated[
        bool, typer.Option(help="Deploy again even if a contract is recorded.")
    ] = False,
    register: Annotated[
        bool,
        typer.Option(
            "--register/--no-register",
            help="Register the local issuer (MCLEDGER_ISSUER_ID) on the contract, with its DID.",
        ),
    ] = True,
    json_out: JsonOption = False,
) -> None:
    """Deploy the contract with the admin key and register the local issuer (both once;
    running it again changes nothing). On a development chain the keys are funded.

    With MCLEDGER_ANCHOR_TARGET=ebsi-timestamp and no MCLEDGER_TIMESTAMP_CONTRACT, our
    EbsiTimestamp is deployed once beside the contract too (set MCLEDGER_TIMESTAMP_CONTRACT
    to its address for a node outside development mode).

    On a real network, fund the admin and issuer addresses first (`mcledger chain status`
    shows them); the keys stay in the encrypted keystore under DATA_DIR/keys (passphrase:
    MCLEDGER_KEY_PASSWORD).
    """
    from mcledger.node.runtime.chain_setup import (
        deploy_contract,
        deploy_timestamp_contract,
        fund_dev_accounts,
        open_chain,
        register_local_issuer,
    )
    from mcledger.node.settings import load_settings

    settings = load_settings(data_dir=data_dir, rpc_url=rpc)
    context = open_chain(settings)
    try:
        dev_chain = context.client.is_dev_chain()
        if dev_chain:
            fund_dev_accounts(context, context.admin, context.issuer_account())
        if context.ledger is not None and not force:
            ledger = context.ledger
            message = f"already deployed at {ledger.address} (use --force to deploy again)"
        else:
            ledger = deploy_contract(context)
            message = f"deployed at {ledger.address}"
        timestamped = settings.anchor_target == "ebsi-timestamp"
        if timestamped and settings.timestamp_contract is None and context.timestamps is None:
            timestamps = deploy_timestamp_contract(context)
            message += f"; EbsiTimestamp deployed at {timestamps.address}"
        if register:
            did = register_local_issuer(context, ledger)
            message += f"; issuer {settings.issuer_id} registered as {did}"
        if not json_out:
            console.print(message)
        _print_status(_status(context), json_out, "contract")
    finally:
        context.close()


@chain_app.command("status")
def chain_status(
    data_dir: DataDirOption = None, rpc: RpcOption = None, json_out: JsonOption = False
) -> None:
    """Show chain id, block, contract, admin, and whether the local issuer is registered."""
    from mcledger.node.runtime.chain_setup import open_chain
    from mcledger.node.settings import load_settings

    settings = load_settings(data_dir=data_dir, rpc_url=rpc)
    context = open_chain(settings)
    try:
        _print_status(_status(context), json_out, "chain")
    finally:
        context.close()
