"""`mcledger anchor`: bring the chain up to date now."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.options import DataDirOption, JsonOption, RpcOption
from node.settings import load_settings

console = Console()


def anchor_command(
    data_dir: DataDirOption = None,
    rpc: RpcOption = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the transactions are sent.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Seal pending digests into batches and anchor them; finish any unfinished batch.

    Safe beside a running `mcledger serve`: one process anchors at a time. Waits for
    the configured confirmations unless --no-wait; exits 1 if a batch is left unconfirmed.
    """
    from node.service import open_node

    settings = load_settings(data_dir=data_dir, rpc_url=rpc)
    node = open_node(settings)
    try:
        reports = []
        for issuer_id in node.anchorer.issuers_with_work():
            reports += node.anchorer.anchor_pending(issuer_id, wait=not no_wait)
    finally:
        node.close()
    if json_out:
        typer.echo(json.dumps({"batches": [r.to_json() for r in reports]}, indent=2))
    elif not reports:
        console.print("Nothing to anchor: no pending digests, no unfinished batches.")
    else:
        table = Table("batch", "issuer", "state", "size", "root", "transaction", "block")
        for r in reports:
            table.add_row(
                str(r.batch_id),
                r.issuer_id,
                r.state,
                str(r.tree_size),
                r.root[:16] + "…",
                (r.transaction_hash or "-")[:18] + "…",
                str(r.block_number or "-"),
            )
        console.print(table)
    expected = "submitted" if no_wait else "confirmed"
    if any(r.state not in (expected, "confirmed") for r in reports):
        raise typer.Exit(1)
