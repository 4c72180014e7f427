"""`mcledger prove`: a digest's (or credential's) proof bundle, from the node or its index."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mcledger.cli.console import LazyConsole
from mcledger.cli.options import DataDirOption

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
stderr = LazyConsole(stderr=True)


def _from_node(base_url: str, digest: str | None, credential_id: str | None) -> tuple[int, Any]:
    import urllib.error
    import urllib.parse
    import urllib.request

    path = (
        f"/v1/proofs/{digest}"
        if digest
        else f"/v1/credentials/{urllib.parse.quote(credential_id or '', safe='')}/proof"
    )
    request = urllib.request.Request(
        base_url.rstrip("/") + path, headers={"Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, {"detail": body.decode(errors="replace")}
    except (urllib.error.URLError, OSError) as exc:
        stderr.print(f"[red]error:[/] cannot reach the node at {base_url}: {exc}")
        raise typer.Exit(2) from None


def _from_index(data_dir: Path, digest: str | None, credential_id: str | None) -> tuple[int, Any]:
    from mcledger.node.pipeline.batches import proof_status
    from mcledger.node.revocation.revocation_proofs import with_revocation
    from mcledger.node.runtime.service import open_engine
    from mcledger.node.settings import load_settings

    engine = open_engine(load_settings(data_dir=data_dir))
    try:
        status = proof_status(engine, digest=digest, credential_id=credential_id)
        if status is None:
            return 404, {"detail": "unknown to this index"}
        if status.bundle is None:
            return 202, {"state": status.state, "batchId": status.batch_id}
        # With its revocation proof once the issuer committed (its set built from the index).
        return 200, with_revocation(engine, status.bundle).to_json()
    finally:
        engine.dispose()


def prove_command(
    digest: Annotated[
        str | None, typer.Argument(help="The digest (64 hex).", show_default=False)
    ] = None,
    credential_id: Annotated[
        str | None,
        typer.Option("--id", help="A credential id instead of a digest.", show_default=False),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the bundle here, not to stdout.")
    ] = None,
    data_dir: DataDirOption = None,
    node_url: Annotated[
        str | None, typer.Option("--node", help="The node's URL (default: $MCLEDGER_NODE_URL).")
    ] = None,
) -> None:
    """Print the proof bundle of a digest once its batch is anchored.

    Asks the node's HTTP API, or with --data-dir reads the local index directly.
    Exits 1 while the digest is not anchored yet, or when it is unknown.
    """
    if (digest is None) == (credential_id is None):
        stderr.print("[red]error:[/] give a DIGEST or --id, not both")
        raise typer.Exit(2)
    if digest is not None and not _HEX64.match(digest):
        stderr.print(f"[red]error:[/] {digest!r} is not a 64-hex digest")
        raise typer.Exit(2)
    digest = digest.lower() if digest else None
    if data_dir is not None:
        status, body = _from_index(data_dir, digest, credential_id)
    else:
        if not node_url:
            from mcledger.node.settings import load_settings

            node_url = load_settings().node_url
        status, body = _from_node(node_url, digest, credential_id)
    if status == 200:
        text = json.dumps(body, indent=2) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text)
            stderr.print(f"proof bundle written to {output}")
        return
    if status == 202:
        when = body.get("nextAnchoringAt")
        stderr.print(
            f"not anchored yet: state {body.get('state')}"
            + (f", next anchoring at {when}" if when else "")
        )
    else:
        stderr.print(f"[red]error:[/] {body.get('detail') or body.get('title') or status}")
    raise typer.Exit(1)
