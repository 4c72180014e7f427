"""`mcledger token create`: a new API token for an issuer, printed once."""

from __future__ import annotations

from typing import Annotated

import typer

from mcledger.cli.console import LazyConsole
from mcledger.cli.options import DataDirOption

token_app = typer.Typer(no_args_is_help=True)
stderr = LazyConsole(stderr=True)


@token_app.callback()
def token_group() -> None:
    """API tokens: issuers send them as `Authorization: Bearer …`."""


@token_app.command("create")
def token_create(
    issuer: Annotated[
        str, typer.Option("--issuer", help="The issuer the token acts for.", show_default=False)
    ],
    scope: Annotated[
        str,
        typer.Option(
            "--scope", help="Comma-separated scopes: issue, revoke, admin.", show_default=False
        ),
    ],
    label: Annotated[str, typer.Option("--label", help="A note to tell tokens apart.")] = "",
    data_dir: DataDirOption = None,
) -> None:
    """Create a token and print it alone on stdout; it is not stored and cannot be shown
    again (the index keeps only its SHA-256). Safe beside a running `mcledger serve`."""
    from mcledger.node.index.db import default_database_url, open_index
    from mcledger.node.issuing.issuers import UnknownIssuerError, get_issuer
    from mcledger.node.issuing.tokens import create_token, parse_scopes
    from mcledger.node.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    scopes = parse_scopes(scope)
    engine = open_index(settings.database_url or default_database_url(settings.data_dir))
    try:
        try:
            get_issuer(engine, issuer)
        except UnknownIssuerError:
            if issuer == settings.issuer_id:
                raise UnknownIssuerError(
                    f"the issuer {issuer!r} is not in the index at {settings.data_dir} yet: "
                    "the node creates it when it starts, so run `mcledger serve --dev` "
                    "(with the same --data-dir) once first"
                ) from None
            raise
        token = create_token(engine, issuer, scopes, label, actor="cli")
    finally:
        engine.dispose()
    typer.echo(token)
    stderr.print(
        f"token for issuer {issuer!r} with scope {','.join(sorted(scopes))}: "
        "shown once, keep it secret",
        highlight=False,
    )
