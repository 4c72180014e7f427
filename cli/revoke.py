"""`mcledger revoke ID --reason R`: revoke one of the local issuer's credentials in the index.

It opens the index directly, so it works beside a running `mcledger serve`; the
node's status lists show the revocation at once, and the next revocation flush
sends it to the chain.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mcledger.cli.console import LazyConsole
from mcledger.cli.options import DataDirOption, JsonOption

stderr = LazyConsole(stderr=True)


def revoke_command(
    credential_id: Annotated[
        str, typer.Argument(help="The credential's id (urn:uuid:…).", show_default=False)
    ],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="0 unspecified, 1 issued-in-error, 2 fraud (or misconduct), 3 superseded, "
            "4 withdrawn (at the learner's request), 5 key-compromise: the number or the name.",
            show_default=False,
        ),
    ],
    note: Annotated[
        str, typer.Option("--note", help="Why, for the issuer's record (not published).")
    ] = "",
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a credential of the local issuer; revoking it again prints the first
    revocation unchanged. Exit 1 if it is unknown, another issuer's, or the reason is bad."""
    from mcledger.node.revocation.revocations import (
        CredentialAccessError,
        InvalidRevocationError,
        UnknownCredentialError,
        reason_name,
        revoke_credential,
    )
    from mcledger.node.runtime.service import open_engine
    from mcledger.node.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    engine = open_engine(settings)
    try:
        record = revoke_credential(
            engine, settings.issuer_id, credential_id, reason, note, actor="cli"
        )
    except (UnknownCredentialError, CredentialAccessError, InvalidRevocationError) as exc:
        stderr.print(f"[bold red]refused:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(record.to_json(), indent=2))
        return
    state = "revoked" if record.created else "already revoked (unchanged)"
    typer.echo(f"{record.credential_id}: {state}")
    typer.echo(f"  digest      {record.digest}")
    typer.echo(f"  reason      {int(record.reason)} {reason_name(record.reason)}")
    typer.echo(f"  revoked at  {record.to_json()['revokedAt']}")
    if record.note:
        typer.echo(f"  note        {record.note}")
    chain = record.transaction_hash or (
        f"pending: sent in the next revocation flush (every {settings.revocation_interval:g} s) "
        "or now with `mcledger anchor`"
    )
    typer.echo(f"  chain       {chain}")
