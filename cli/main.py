"""`mcledger`: the command line of the node, the auditor and the verifier.

Every command starts at once: a command module imports at its top only typer and the
light parts of the project (errors, options, the console), and a command's body imports
what it needs (web3, the SQL index, JSON-LD, the settings). `mcledger --help` and the
auditor's `mcledger merkle` never load the chain client or the index;
tests/cli/test_cli_start.py fails if this module pulls them in.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

from mcledger.anchoring.errors import AnchoringError
from mcledger.cli.console import LazyConsole
from mcledger.node.errors import NodeError

# (name, module under mcledger.cli, attribute), in the order `mcledger --help` lists them.
GROUPS = (
    ("chain", "chain", "chain_app"),
    ("merkle", "merkle", "merkle_app"),
    ("token", "token", "token_app"),
    ("verifier", "verifier", "verifier_app"),
)
COMMANDS = (
    ("anchor", "anchor", "anchor_command"),
    ("issue", "issue", "issue_command"),
    ("erase", "issue", "erase_command"),
    ("prove", "prove", "prove_command"),
    ("revoke", "revoke", "revoke_command"),
    ("serve", "serve", "serve_command"),
    ("verify", "verify", "verify_command"),
    ("audit", "audit", "audit_command"),
)
NAMES = frozenset(name for name, _, _ in (*GROUPS, *COMMANDS))


def _root() -> None:
    """A ledger node for European micro-credentials: RFC 6962 batches anchored on an EVM chain."""


def build_app(only: str | None = None) -> typer.Typer:
    """The `mcledger` application; with ``only``, just that command or group.

    On every run typer builds the parameters of every command registered, so a run of
    one command registers only that one; `mcledger --help` (and a mistyped name) gets
    them all. The callback keeps a lone command a subcommand, as in the full app.
    """
    app = typer.Typer(
        name="mcledger",
        help=_root.__doc__,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    for name, module, attribute in GROUPS:
        if only in (None, name):
            app.add_typer(_load(module, attribute), name=name)
    for name, module, attribute in COMMANDS:
        if only in (None, name):
            app.command(name)(_load(module, attribute))
    return app


def _load(module: str, attribute: str) -> Any:
    return getattr(importlib.import_module(f"mcledger.cli.{module}"), attribute)


def __getattr__(name: str) -> Any:
    if name == "app":  # the full application, for whoever imported it before
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_stderr = LazyConsole(stderr=True)


def main() -> None:
    """Console-script entry: known errors print one clear line, no traceback, exit 2."""
    first = sys.argv[1] if len(sys.argv) > 1 else None
    app = build_app(first if first in NAMES else None)
    try:
        app()
    except (AnchoringError, NodeError) as exc:
        _stderr.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
