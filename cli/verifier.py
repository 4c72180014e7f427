"""`mcledger verifier export DIR`: the verifier page for any static host.

Writes the same files the node serves at ``/verify/`` (``index.html``, ``verifier.js``,
``verifier.css``) and ``config.json``, with the RPC URL of each chain the page should read
(``--rpc CHAIN_ID=URL``, repeatable, on top of ``MCLEDGER_VERIFIER_RPC_URLS``). The page
works from a web server and from ``file://``; the user can change the URLs in the page.
Bad input writes nothing and exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mcledger.cli.console import LazyConsole

verifier_app = typer.Typer(
    help="The verifier page: check a micro-credential in a browser, nothing to install.",
    no_args_is_help=True,
)
_stdout = LazyConsole(highlight=False, soft_wrap=True)
_stderr = LazyConsole(stderr=True, highlight=False, soft_wrap=True)


@verifier_app.command("export")
def export_command(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="Folder to write the page into (made if missing).",
            show_default=False,
        ),
    ],
    rpc: Annotated[
        list[str] | None,
        typer.Option(
            "--rpc",
            metavar="CHAIN_ID=URL",
            help="The JSON-RPC URL the page reads a chain through (repeatable); it is"
            " published in the page, so no secrets in it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write the verifier page into DIR: HTML, one script, CSS and config.json.

    Serve DIR from any web server, or open DIR/index.html as a file.
    """
    from rich.markup import escape

    from mcledger.node.settings import ConfigurationError
    from mcledger.node.verifier.page import (
        VerifierPageError,
        export_page,
        page_config,
        parse_rpc_option,
    )

    try:
        urls = dict(_settings_rpc_urls())
        for option in rpc or []:
            chain, url = parse_rpc_option(option)
            urls[chain] = url
        written = export_page(directory, page_config(urls))
    except (VerifierPageError, ConfigurationError) as exc:
        _stderr.print(f"[red]error:[/] {escape(str(exc))}", markup=True)
        raise typer.Exit(2) from None
    for path in written:
        _stdout.print(escape(str(path)))
    chains = ", ".join(f"{chain} → {url}" for chain, url in sorted(urls.items())) or "none"
    _stdout.print(f"chains: {escape(chains)}; open {escape(str(directory / 'index.html'))}")


def _settings_rpc_urls() -> dict[int, str]:
    """``MCLEDGER_VERIFIER_RPC_URLS``; a bad setting is a VerifierPageError naming the
    settings at fault, never their values (another one may be a secret)."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from mcledger.node.settings import load_settings
    from mcledger.node.verifier.page import VerifierPageError

    try:
        return load_settings().verifier_rpc_urls
    except ValidationError as exc:
        names = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        raise VerifierPageError(f"invalid settings: {', '.join(names)}") from None
    except SettingsError as exc:
        raise VerifierPageError(f"invalid settings: {exc}") from None
