"""`mcledger audit`: reconcile the chain's anchored roots and revocations with the index."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mcledger.cli.console import LazyConsole
from mcledger.cli.options import DataDirOption, JsonOption, RpcOption

console = LazyConsole()
_stderr = LazyConsole(stderr=True)

CHUNK = 2000


def _usage(message: str) -> typer.Exit:
    _stderr.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def audit_command(
    rpc: RpcOption = None,
    from_block: Annotated[
        int | None,
        typer.Option(
            "--from-block",
            min=0,
            help="First block to read (default: the recorded deployment's block, else 0).",
            show_default=False,
        ),
    ] = None,
    max_lag: Annotated[
        float | None,
        typer.Option(
            "--max-lag",
            min=1,
            help="Seconds a revocation may wait before its flush is sealed; an index "
            "time earlier than that is reported as revokedAt differs (default: 1 hour, "
            "or 3 revocation intervals if longer).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Reconcile the contract's RootAnchored, CredentialRevoked, RevocationsCommitted and
    StatusListCommitted events with the index.

    Reports what is on the chain and not in the index (chain-only), what the index says
    it sent with no event (index-only), fields that differ (tree size, issuer,
    transaction, block, revocation reason and time: a backdated revocation shows as
    revokedAt), and batches whose stored digests no longer hash to their root
    (tree-mismatch). Every committed revocation root is recomputed from the events (a
    root that is not what its events list is a tree-mismatch), each commitment compared
    with its batch and digests in the index, and every committed status-list hash with
    the list the node serves (a different, older list is a split view). With a Timestamp
    contract (MCLEDGER_TIMESTAMP_CONTRACT, else the one deployment.json records, else the
    newest the index's batches name), its TimestampedHashes events are reconciled the same
    way with the batches timestamped there (also the DID and hash algorithm). Exits 1 on
    any finding, 2 on a usage error.
    """
    from mcledger.anchoring.ledger import LedgerContract
    from mcledger.anchoring.timestamp import TimestampContract
    from mcledger.contracts.toolchain import load_artifact
    from mcledger.node.revocation.audit import DEFAULT_MAX_LAG, audit_index, timestamp_contracts
    from mcledger.node.revocation.findings import KINDS
    from mcledger.node.runtime.chain_setup import (
        DEPLOYMENT_FILE,
        Deployment,
        chain_client,
        running_dev_endpoint,
    )
    from mcledger.node.runtime.service import open_engine
    from mcledger.node.settings import load_settings

    settings = load_settings(data_dir=data_dir, rpc_url=rpc)
    rpc_url = settings.rpc_url or running_dev_endpoint(settings)
    if rpc_url is None:
        raise _usage("no chain: pass --rpc or set MCLEDGER_RPC_URL (or start `mcledger chain up`)")
    client = chain_client(settings, rpc_url)  # with MCLEDGER_RPC_TOKEN for MCLEDGER_RPC_URL
    deployment = Deployment.load(settings.chain_dir / DEPLOYMENT_FILE)
    if deployment is not None and deployment.chain_id != client.chain_id:
        deployment = None
    address = settings.contract_address or (deployment.contract if deployment else None)
    if address is None:
        raise _usage(
            f"no contract on chain {client.chain_id}: set MCLEDGER_CONTRACT_ADDRESS "
            "or deploy with `mcledger chain deploy`"
        )
    if not client.code_at(address):
        raise _usage(f"no contract at {address} on chain {client.chain_id}")
    if from_block is None:
        same = deployment is not None and deployment.contract.lower() == address.lower()
        from_block = deployment.block_number if same and deployment else 0
        if same and deployment and deployment.timestamp_block_number is not None:
            from_block = min(from_block, deployment.timestamp_block_number)
    head = client.block_number()
    if from_block > head:
        raise _usage(f"--from-block {from_block} is past the chain head ({head})")
    if max_lag is None:
        max_lag = max(DEFAULT_MAX_LAG, 3 * settings.revocation_interval)

    engine = open_engine(settings)
    try:
        stamped_at = settings.timestamp_contract or (
            deployment.timestamp_contract if deployment else None
        )
        if stamped_at is None:  # the newest the index's batches were timestamped on, if any
            stamped_at = next(reversed(timestamp_contracts(engine)), None)
        if stamped_at is not None and not client.code_at(stamped_at):
            raise _usage(f"no Timestamp contract at {stamped_at} on chain {client.chain_id}")
        ledger = LedgerContract(client, address, load_artifact()["abi"])
        timestamps = (
            TimestampContract(client, stamped_at, load_artifact("EbsiTimestamp")["abi"])
            if stamped_at is not None
            else None
        )
        if json_out or head - from_block < CHUNK:
            report = audit_index(
                engine,
                ledger,
                from_block=from_block,
                to_block=head,
                timestamps=timestamps,
                max_lag=max_lag,
            )
        else:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            with Progress(
                TextColumn(
                    "reading the contract's events"
                    + (", then TimestampedHashes" if timestamps is not None else "")
                ),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=_stderr.get(),
                transient=True,
            ) as bar:
                task = bar.add_task("blocks", total=head - from_block + 1)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                report = audit_index(
                    engine,
                    ledger,
                    from_block=from_block,
                    to_block=head,
                    timestamps=timestamps,
                    chunk=CHUNK,
                    progress=progress,
                    max_lag=max_lag,
                )
    finally:
        engine.dispose()

    if json_out:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        from rich.table import Table

        summary = Table(
            title=f"Audit of {report.contract}, blocks {report.from_block}-{report.to_block}",
            show_header=False,
            title_justify="left",
        )
        summary.add_row("RootAnchored events read", str(report.events_read))
        summary.add_row("  by other issuers", str(report.foreign_events))
        if report.timestamp_contract is not None:
            summary.add_row(f"TimestampedHashes of {report.timestamp_contract}", "")
            summary.add_row("  hashes timestamped", str(report.timestamps_read))
            summary.add_row("  by other senders", str(report.foreign_timestamps))
        summary.add_row("confirmed batches checked", str(report.batches_checked))
        if report.batches_elsewhere:
            summary.add_row(
                "  not checked: anchored on a contract not read", str(report.batches_elsewhere)
            )
        summary.add_row("CredentialRevoked events read", str(report.revocation_events_read))
        summary.add_row("  by other issuers", str(report.foreign_revocations))
        if report.commitments_read or report.commitments_checked:
            summary.add_row("RevocationsCommitted events read", str(report.commitments_read))
            summary.add_row("  by other issuers", str(report.foreign_commitments))
            summary.add_row("commitments recomputed and checked", str(report.commitments_checked))
            summary.add_row("status lists checked", str(report.status_lists_checked))
            summary.add_row("  changed since the last flush", str(report.status_lists_pending))
        summary.add_row("revocations checked", str(report.revocations_checked))
        summary.add_row("revocations not yet on chain", str(report.revocations_pending))
        counts = report.counts()
        for kind in KINDS:
            summary.add_row(f"findings: {kind}", str(counts[kind]))
        console.print(summary)
        if report.findings:
            table = Table("kind", "of", "id", "root / digest", "field", "index", "chain", "detail")
            for f in report.findings:
                table.add_row(
                    f.kind,
                    f.subject,
                    str(f.batch_id) if f.batch_id is not None else "-",
                    console.shorten(f.key),
                    f.field or "-",
                    "-" if f.index_value is None else str(f.index_value),
                    "-" if f.chain_value is None else str(f.chain_value),
                    f.detail,
                )
            console.print(table)
        else:
            console.print("[green]The index agrees with the chain.[/]")
    if not report.ok:
        raise typer.Exit(1)
