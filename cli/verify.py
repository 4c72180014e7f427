"""`mcledger verify FILE`: check a credential (the learner's copy) or a proof bundle with
nothing but an RPC endpoint.

Never opens the node's index: the RPC URL comes from ``--rpc`` or, failing that,
from the settings' ``rpc_url``; the contract is the one the bundle names, read
through the committed ABI. A credential is checked by
:func:`node.verifier.credential.verify_credential_file` (signature, issuer, digest, id,
then the chain checks of its ``anchorProof``), with its stack of components as a tree
when their copies are given with ``--component``. Exit 0 when every check passes, 1
when any fails (a bundle that does not parse fails ``bundle.format``), 2 for usage
errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.errors import MerkleError
from mcledger.cli.options import JsonOption, RpcOption
from mcledger.node.settings import load_settings
from mcledger.node.verifier.credential import ChainReader, verify_credential_file
from mcledger.node.verifier.report import (
    Check,
    CredentialReport,
    VerificationReport,
    unparsable_bundle_report,
)

# emoji=False: "did:key:z6Mk…" must not turn into a key emoji.
stdout = Console(highlight=False, soft_wrap=True, emoji=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


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
    return ChainReader(rpc_url).verify_bundle(bundle)


def _component_documents(files: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """The learner's copies given with --component; a file that is not one is a usage error."""
    documents = []
    for file in files:
        if str(file) == "-":
            raise _UsageError("--component takes a file; only FILE may be - (stdin)")
        try:
            document = _document(_read_input(file))
        except (ValueError, RecursionError) as exc:
            raise _UsageError(f"--component {file}: not UTF-8 JSON: {exc}") from None
        if not _is_credential(document):
            raise _UsageError(f"--component {file}: not a credential (no @context)")
        documents.append((file, document))
    return documents


def verify_file(
    raw: bytes, rpc_url: str, components: list[Path] | None = None
) -> VerificationReport | CredentialReport:
    """Verify the credential or proof bundle in ``raw`` against the chain at ``rpc_url``;
    a credential's stack with the learner's copies of its ``components``."""
    try:
        document = _document(raw)
    except (ValueError, RecursionError) as exc:
        return unparsable_bundle_report(f"the proof bundle is not UTF-8 JSON: {exc}")
    if not _is_credential(document):
        if components:
            raise _UsageError("--component goes with a credential, not with a proof bundle")
        return _verify_bundle_document(document, rpc_url)
    given = _component_documents(components or [])
    report = verify_credential_file(document, ChainReader(rpc_url), [doc for _, doc in given])
    verified = {node.credential_id for node in report.walk()} - {report.credential_id}
    for file, doc in given:
        if doc.get("id") not in verified:
            stderr.print(
                f"[yellow]warning:[/] {escape(str(file))} ({escape(str(doc.get('id')))}) is not"
                " a component of this credential; not verified",
                markup=True,
            )
    return report


def _check_line(check: Check, width: int = 20) -> str:
    mark = "[green]PASS[/]" if check.passed else "[bold red]FAIL[/]"
    # Details quote the documents verified (ids, DIDs): never rich markup.
    return f"{mark}  {check.name:<{width}} {escape(check.detail)}"


def _credential_tree(report: CredentialReport, tree: Tree | None = None) -> Tree:
    mark = "[green]verified[/]" if report.ok else "[bold red]NOT verified[/]"
    label = f"{mark}  [bold]{escape(report.credential_id or '(no id)')}[/]"
    branch = Tree(label) if tree is None else tree.add(label)
    for check in report.checks:
        branch.add(_check_line(check))
    for component in report.components:
        _credential_tree(component, branch)
    return branch


def _print_credential_report(report: CredentialReport) -> None:
    stdout.print(_credential_tree(report), soft_wrap=False)  # long details wrap in the tree
    reports = list(report.walk())
    total = sum(len(r.checks) for r in reports)
    failed = sum(len(r.failed) for r in reports)
    what = f"{len(reports)} credentials" if len(reports) > 1 else "1 credential"
    if report.ok:
        stdout.print(f"[bold green]verified[/]: all {total} checks passed ({what})")
        return
    where = "; ".join(f"{r.credential_id}: {', '.join(r.failed)}" for r in reports if r.failed)
    stdout.print(f"[bold red]NOT verified[/]: {failed} of {total} checks failed ({escape(where)})")


def _print_report(report: VerificationReport) -> None:
    for check in report.checks:
        stdout.print(_check_line(check, 18), markup=True)
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
        Path,
        typer.Argument(
            help="The learner's copy of a credential, or a proof bundle (JSON); - for stdin."
        ),
    ],
    rpc: RpcOption = None,
    json_out: JsonOption = False,
    components: Annotated[
        list[Path] | None,
        typer.Option(
            "--component",
            help="The learner's copy of a component the credential stacks (repeatable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Verify a credential or a proof bundle against the chain: signature, issuer, digest,
    inclusion, anchor, revocation; a stack of credentials as a tree.

    Every check is printed by name with PASS or FAIL. Exits 0 when all pass, 1 when
    any fails (in a stack: anywhere in the tree), 2 when a file cannot be read or no
    RPC URL is configured.
    """
    try:
        raw = _read_input(file)
        report = verify_file(raw, _rpc_url(rpc), components)
    except _UsageError as exc:
        stderr.print(f"[red]error:[/] {escape(str(exc))}", markup=True)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(json.dumps(report.to_json(), indent=2))
    elif isinstance(report, CredentialReport):
        _print_credential_report(report)
    else:
        _print_report(report)
    raise typer.Exit(0 if report.ok else 1)
