"""`mcledger verify FILE`: check a proof bundle with nothing but an RPC endpoint.

Never opens the node's index: the RPC URL comes from ``--rpc`` or, failing that,
from the settings' ``rpc_url``; the contract is the one the bundle names, read
through the committed ABI. Exit 0 when every check passes, 1 when any fails
(a bundle that does not parse fails ``bundle.format``), 2 for usage errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from anchoring.bundle import ProofBundle
from anchoring.chain import ChainClient
from anchoring.errors import MerkleError
from anchoring.ledger import LedgerContract
from anchoring.verify import VerificationReport, unparsable_bundle_report, verify_bundle
from cli.options import JsonOption, RpcOption
from contracts.toolchain import load_artifact
from node.settings import load_settings

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False)


class _UsageError(Exception):
    """The command cannot run as invoked (exit 2); the message says what to do."""


def _read_input(file: Path) -> bytes:
    if str(file) == "-":
        return typer.get_binary_stream("stdin").read()
    try:
        return file.read_bytes()
    except OSError as exc:
        raise _UsageError(f"cannot read {file}: {exc.strerror or exc}") from None


def _rpc_url(rpc: str | None) -> str:
    if rpc:
        return rpc
    try:
        configured = load_settings().rpc_url
    except ValidationError as exc:
        raise _UsageError(f"the settings are invalid: {exc}") from None
    if not configured:
        raise _UsageError("no RPC URL: pass --rpc URL or set MCLEDGER_RPC_URL")
    return configured


def _document(raw: bytes) -> Any:
    """The JSON document in ``raw``; ValueError if it is not UTF-8 JSON."""
    return json.loads(raw.decode("utf-8"))


def _is_credential(document: Any) -> bool:
    # A proof bundle says its "version"; a credential has a JSON-LD "@context" instead.
    return isinstance(document, dict) and "@context" in document and "version" not in document


def _verify_bundle_document(document: Any, rpc_url: str) -> VerificationReport:
    try:
        bundle = ProofBundle.from_json(document)
    except MerkleError as exc:  # BundleError, or a malformed proof inside the bundle
        return unparsable_bundle_report(exc)
    client = ChainClient(rpc_url)
    ledger = LedgerContract(client, bundle.anchor.contract, load_artifact()["abi"])
    return verify_bundle(bundle, client, ledger)


def verify_file(raw: bytes, rpc_url: str) -> VerificationReport:
    """Verify the document in ``raw`` (today: a proof bundle) against the chain at ``rpc_url``."""
    try:
        document = _document(raw)
    except (ValueError, RecursionError) as exc:
        return unparsable_bundle_report(f"the proof bundle is not UTF-8 JSON: {exc}")
    if _is_credential(document):
        raise _UsageError(
            "this is a credential; verifying credentials is not supported yet:"
            " give its proof bundle (mcledger prove --id ID)"
        )
    return _verify_bundle_document(document, rpc_url)


def _print_report(report: VerificationReport) -> None:
    for check in report.checks:
        mark = "[green]PASS[/]" if check.passed else "[bold red]FAIL[/]"
        stdout.print(f"{mark}  {check.name:<18} {check.detail}", markup=True)
    failed = report.failed
    if report.ok:
        stdout.print(f"[bold green]verified[/]: all {len(report.checks)} checks passed")
    else:
        stdout.print(
            f"[bold red]NOT verified[/]: {len(failed)} of {len(report.checks)} checks failed"
            f" ({', '.join(failed)})"
        )


def verify_command(
    file: Annotated[
        Path, typer.Argument(help="The proof bundle (JSON), or - to read it from stdin.")
    ],
    rpc: RpcOption = None,
    json_out: JsonOption = False,
) -> None:
    """Verify a proof bundle against the chain: inclusion, anchor, issuer, revocation.

    Every check is printed by name with PASS or FAIL. Exits 0 when all pass, 1 when
    any fails, 2 when the file cannot be read or no RPC URL is configured.
    """
    try:
        raw = _read_input(file)
        report = verify_file(raw, _rpc_url(rpc))
    except _UsageError as exc:
        stderr.print(f"[red]error:[/] {exc}", markup=True)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report)
    raise typer.Exit(0 if report.ok else 1)
