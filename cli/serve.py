"""`mcledger serve`: the HTTP API and the anchoring scheduler, in one process or (with
``--workers N``) in a supervisor that runs the scheduler and N HTTP worker processes
(cli/serve_workers.py)."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from mcledger.cli.console import LazyConsole
from mcledger.cli.options import DataDirOption

console = LazyConsole(stderr=True, soft_wrap=True)  # a token or URL must not be wrapped
log = logging.getLogger("mcledger.serve")


def serve_command(
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="Development mode: own Anvil chain (or the one MCLEDGER_RPC_URL names), "
            "contract deployed once, local issuer registered, SQLite.",
        ),
    ] = False,
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="HTTP worker processes sharing the listening socket (e.g. one a core). With "
            "more than 1, this process runs the anchoring scheduler (the only one) and "
            "supervises the workers, each with its own index connections: a worker that "
            "dies is logged and replaced, one that cannot start stops the node (exit 1).",
        ),
    ] = 1,
) -> None:
    """Run the node: HTTP API (OpenAPI at /docs) and the anchoring scheduler."""
    import uvicorn

    from mcledger.cli.serve_workers import node_app, serve_with_workers
    from mcledger.node.issuing.tokens import create_token
    from mcledger.node.logs import configure_logging
    from mcledger.node.pipeline.scheduler import AnchoringScheduler
    from mcledger.node.runtime.service import development_defaults, open_node
    from mcledger.node.settings import load_settings

    settings = load_settings(data_dir=data_dir, dev=dev or None, host=host, port=port)
    refused = development_defaults(settings)
    if refused:
        for problem in refused:
            console.print(f"[red]error:[/] {problem}")
        console.print("(or run `mcledger serve --dev` for a development node)")
        raise typer.Exit(2)
    configure_logging(settings)  # MCLEDGER_LOG_FORMAT: text or json, uvicorn's lines too
    node = open_node(settings, start_dev_chain=settings.dev)
    scheduler = AnchoringScheduler(node.anchorer, settings, node.flusher)
    try:
        scheduler.start()
        log.info("anchoring scheduler started in process %d", os.getpid())
        url = f"http://{settings.host}:{settings.port}"
        served_by = f", {workers} worker processes" if workers > 1 else ""
        console.print(f"mcledger node at [bold]{url}[/] (API docs: {url}/docs{served_by})")
        target = node.anchorer.target
        console.print(
            f"chain {node.chain.client.rpc_url} (id {node.chain.client.chain_id}), "
            f"contract {node.anchorer.ledger.address}"
            + (
                ""
                if target is node.anchorer.ledger_target
                else f"; roots timestamped at {target.contract.address} ({target.name})"
            )
        )
        next_run = scheduler.next_run_at()
        console.print(f"next scheduled anchoring: {next_run.isoformat() if next_run else '-'}")
        if settings.dev:
            token = create_token(
                node.engine, settings.issuer_id, {"issue", "revoke", "admin"}, label="dev session"
            )
            console.print(f"issuer [bold]{settings.issuer_id}[/] token to try: {token}")
            console.print(
                f"  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' "
                f'-d \'{{"digests": [{{"digest": "{"ab" * 32}"}}]}}\' {url}/v1/digests'
            )
        if workers > 1:
            status = serve_with_workers(settings, node, workers)
            if status:
                raise typer.Exit(status)
            return
        uvicorn.run(
            node_app(settings, node, scheduler),
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,  # the app logs each request, with its id (node.api.observe)
            log_config=None,  # uvicorn's loggers go through configure_logging's handler
        )
    finally:
        scheduler.shutdown()
        node.close()
