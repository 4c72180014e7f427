"""Options shared by several commands, so every command spells them the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory (default: $MCLEDGER_DATA_DIR, else ./.mcledger).",
        show_default=False,
    ),
]
RpcOption = Annotated[
    str | None,
    typer.Option(
        "--rpc", help="JSON-RPC URL of the chain (default: $MCLEDGER_RPC_URL).", show_default=False
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
