"""`mcledger`: the command line of the node, the auditor and the verifier."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from mcledger.anchoring.errors import AnchoringError
from mcledger.cli.anchor import anchor_command
from mcledger.cli.audit import audit_command
from mcledger.cli.chain import chain_app
from mcledger.cli.issue import erase_command, issue_command
from mcledger.cli.merkle import merkle_app
from mcledger.cli.prove import prove_command
from mcledger.cli.revoke import revoke_command
from mcledger.cli.serve import serve_command
from mcledger.cli.token import token_app
from mcledger.cli.verify import verify_command
from mcledger.node.errors import NodeError

app = typer.Typer(
    name="mcledger",
    help="A ledger node for European micro-credentials: RFC 6962 batches anchored on an EVM chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(chain_app, name="chain")
app.add_typer(merkle_app, name="merkle")
app.add_typer(token_app, name="token")
app.command("anchor")(anchor_command)
app.command("issue")(issue_command)
app.command("erase")(erase_command)
app.command("prove")(prove_command)
app.command("revoke")(revoke_command)
app.command("serve")(serve_command)
app.command("verify")(verify_command)
app.command("audit")(audit_command)

_stderr = Console(stderr=True)


def main() -> None:
    """Console-script entry: known errors print one clear line, no traceback, exit 2."""
    try:
        app()
    except (AnchoringError, NodeError) as exc:
        _stderr.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
