"""`mcledger anchor`: bring the chain up to date now: anchors and revocations."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from mcledger.cli.console import LazyConsole
from mcledger.cli.options import DataDirOption, JsonOption, RpcOption

if TYPE_CHECKING:
    from mcledger.node.pipeline.anchorer import BatchReport
    from mcledger.node.pipeline.revocation_flush import RevocationBatchReport

console = LazyConsole()

T = TypeVar("T")
LEASE_WAIT_SECONDS = 60.0  # how long to wait for another process's chain work to finish


def _when_free(run: Callable[[], T], timeout: float = LEASE_WAIT_SECONDS) -> T:
    """``run()``, retried while another node process holds the chain lease (a running
    `mcledger serve` flushing revocations or confirming a batch holds it for seconds),
    up to ``timeout``; then its LeaseHeldError goes up."""
    from mcledger.node.index.lease import LeaseHeldError

    deadline, said = time.monotonic() + timeout, False
    while True:
        try:
            return run()
        except LeaseHeldError:
            if time.monotonic() >= deadline:
                raise
            if not said:
                print("waiting for another node process's chain work to finish…", file=sys.stderr)
                said = True
            time.sleep(0.5)


def anchor_command(
    data_dir: DataDirOption = None,
    rpc: RpcOption = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the transactions are sent.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Seal pending digests into batches and anchor them, and send pending revocations in
    batched revoke transactions; finish any unfinished batch of either kind.

    Safe beside a running `mcledger serve`: one process sends at a time (this one waits
    up to a minute for the other's turn). Waits for the configured confirmations unless
    --no-wait; exits 1 if a batch is left unconfirmed.
    """
    from mcledger.node.pipeline.revocation_flush import flush_all
    from mcledger.node.runtime.service import open_node
    from mcledger.node.settings import load_settings

    settings = load_settings(data_dir=data_dir, rpc_url=rpc)
    node = open_node(settings)
    try:
        reports = []
        for issuer_id in node.anchorer.issuers_with_work():
            reports += _when_free(
                lambda issuer=issuer_id: node.anchorer.anchor_pending(issuer, wait=not no_wait)
            )
        revocations = list(_when_free(lambda: list(flush_all(node.flusher, wait=not no_wait))))
    finally:
        node.close()
    states = [r.state for r in reports] + [r.state for r in revocations]
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "batches": [r.to_json() for r in reports],
                    "revocationBatches": [r.to_json() for r in revocations],
                },
                indent=2,
            )
        )
    elif not states:
        console.print("Nothing to send: no pending digests or revocations, no unfinished batches.")
    else:
        _print_tables(reports, revocations)
    expected = "submitted" if no_wait else "confirmed"
    if any(state not in (expected, "confirmed") for state in states):
        raise typer.Exit(1)


def _print_tables(reports: list[BatchReport], revocations: list[RevocationBatchReport]) -> None:
    from rich.table import Table

    if reports:
        table = Table("batch", "issuer", "state", "size", "root", "transaction", "block")
        for r in reports:
            table.add_row(
                str(r.batch_id),
                r.issuer_id,
                r.state,
                str(r.tree_size),
                console.shorten(r.root),
                console.shorten(r.transaction_hash or "-", 18),
                str(r.block_number or "-"),
            )
        console.print(table)
    if revocations:
        table = Table("revocations", "issuer", "reason", "state", "digests", "transaction", "block")
        for v in revocations:
            table.add_row(
                str(v.batch_id),
                v.issuer_id,
                str(v.reason),
                v.state,
                str(v.size),
                console.shorten(v.transaction_hash or "-", 18),
                str(v.block_number or "-"),
            )
        console.print(table)
