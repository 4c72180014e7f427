"""`mcledger merkle root | prove | verify`: RFC 6962 trees over a file of digests.

A digests file has one 64-hex digest a line (either case; surrounding spaces
ignored). Blank lines are skipped and are not leaves; leaf i is the i-th
non-blank line, counting from 0, and its leaf data is the digest's 32 bytes.
Errors name the file and the line, print to stderr and exit 2.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from mcledger.cli.console import LazyConsole

if TYPE_CHECKING:  # the Merkle engine loads when a command runs, not for `mcledger --help`
    from mcledger.anchoring.tree import MerkleTree

merkle_app = typer.Typer(
    help=(
        "RFC 6962 Merkle trees over a file of digests (one 64-hex digest a line;"
        " blank lines are skipped)."
    ),
    no_args_is_help=True,
)
_stderr = LazyConsole(stderr=True, highlight=False)
_DIGEST = re.compile(r"[0-9a-fA-F]{64}")

DigestsFile = Annotated[
    Path,
    typer.Argument(
        metavar="FILE",
        help="File with one 64-hex digest a line ('-' for stdin); blank lines are skipped.",
        show_default=False,
    ),
]


def _fail(message: str) -> NoReturn:
    _stderr.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(2)


def _read_text(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")


def read_digests(path: Path) -> bytes:
    """The digests of ``path``, packed 32 bytes each; a bad line exits 2 naming its number."""
    lines = [line.strip() for line in _read_text(path).splitlines()]
    digests = [line for line in lines if line]
    if set(map(len, digests)) <= {64}:  # the common case, without a per-line Python loop
        try:
            packed = bytes.fromhex("".join(digests))
        except ValueError:
            packed = b""
        if len(packed) == 32 * len(digests):
            return packed
    for number, line in enumerate(lines, start=1):
        if line and not _DIGEST.fullmatch(line):
            shown = line if len(line) <= 80 else line[:77] + "..."
            _fail(f"{path}, line {number}: not a 64-hex digest: {shown!r}")
    raise AssertionError("unreachable: every line matched")  # pragma: no cover


def _tree(path: Path) -> MerkleTree:
    from mcledger.anchoring.tree import MerkleTree

    return MerkleTree.from_digests(read_digests(path))


@merkle_app.command("root")
def root_command(
    file: DigestsFile,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"root": ..., "treeSize": ...} instead.')
    ] = False,
) -> None:
    """Print the RFC 6962 root (64 hex) of the digests in FILE; an empty file gives SHA-256("")."""
    tree = _tree(file)
    if as_json:
        typer.echo(json.dumps({"root": tree.root.hex(), "treeSize": tree.size}))
    else:
        typer.echo(tree.root.hex())


@merkle_app.command("prove")
def prove_command(
    file: DigestsFile,
    index: Annotated[
        int,
        typer.Argument(metavar="INDEX", help="Leaf index from 0; blank lines do not count.", min=0),
    ],
) -> None:
    """Print the inclusion proof of leaf INDEX as JSON {leafIndex, treeSize, auditPath, root}."""
    tree = _tree(file)
    if index >= tree.size:
        _fail(f"leaf index {index} is out of range: {file} has {tree.size} digests")
    typer.echo(json.dumps(tree.inclusion_proof(index).to_json(), indent=2))


@merkle_app.command("verify")
def verify_command(
    proof_file: Annotated[
        Path,
        typer.Argument(
            metavar="PROOF.json",
            help="Inclusion proof JSON {leafIndex, treeSize, auditPath, root} ('-' for stdin).",
            show_default=False,
        ),
    ],
    digest: Annotated[
        str, typer.Argument(metavar="DIGEST", help="The leaf's digest, 64 hex.", show_default=False)
    ],
) -> None:
    """Check that DIGEST is leaf leafIndex of the tree with the proof's root.

    Exit 0 if the proof verifies, 1 if it does not, 2 if an input is malformed.
    """
    from mcledger.anchoring.errors import InvalidProofError, MerkleError
    from mcledger.anchoring.merkle import InclusionProof, hash_from_hex, verify_inclusion

    try:
        leaf = hash_from_hex(digest.strip().lower(), "DIGEST")
        data = json.loads(_read_text(proof_file))
        proof = InclusionProof.from_json(data)
    except json.JSONDecodeError as exc:
        _fail(f"{proof_file} is not JSON: {exc}")
    except MerkleError as exc:
        _fail(str(exc))
    try:
        verify_inclusion(leaf, proof)
    except InvalidProofError as exc:
        typer.echo(f"INVALID: {exc}")
        raise typer.Exit(1) from None
    typer.echo(
        f"VALID: digest {leaf.hex()} is leaf {proof.leaf_index} of {proof.tree_size}"
        f" under root {proof.root.hex()}"
    )
