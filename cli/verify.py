"""`mcledger verify FILE`: check a credential (the learner's copy) or a proof bundle with
nothing but an RPC endpoint.

Never opens the node's index. The RPC URL of each bundle's chain comes from ``--rpc``,
else is looked up by the bundle's chain id (:mod:`node.verifier.chains`: the chains
file, the node's settings, the data directory's development chain); the contract is
the one the bundle names, read through the committed ABI. A credential is checked by
:func:`node.verifier.credential.verify_credential_file` (signature, issuer, digest, id,
then the chain checks of its ``anchorProof``), with its stack of components as a tree
when their copies are given with ``--component``; a credential held apart from its proof
bundle is checked with ``--bundle`` as if the bundle were its ``anchorProof``. Exit 0 when
every check passes, 1 when any fails (a bundle that does not parse fails
``bundle.format``), 2 for usage errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcledger.cli.console import LazyConsole
from mcledger.cli.options import DataDirOption, JsonOption

if TYPE_CHECKING:  # imported where used: `mcledger verify --help` loads no web3 or JSON-LD
    from rich.tree import Tree

    from mcledger.node.verifier.chains import ChainEndpoints
    from mcledger.node.verifier.report import Check, CredentialReport, VerificationReport

# emoji=False: "did:key:z6Mk…" must not turn into a key emoji.
stdout = LazyConsole(highlight=False, soft_wrap=True, emoji=False)
stderr = LazyConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class _UsageError(Exception):
    """The command cannot run as invoked (exit 2); the message says what to do."""


def _read_input(file: Path) -> bytes:
    if str(file) == "-":
        return typer.get_binary_stream("stdin").read()
    try:
        return file.read_bytes()
    except OSError as exc:
        raise _UsageError(f"cannot read {file}: {exc.strerror or exc}") from None


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def chain_endpoints(rpc: str | None, data_dir: Path | None = None) -> ChainEndpoints:
    """Where each bundle's chain is read: ``rpc`` for all, else looked up by chain id from
    the settings (the chains file, MCLEDGER_RPC_URL, the data directory's dev chain)."""
    from mcledger.node.verifier.chains import ChainEndpoints, ChainsFileError

    if rpc:
        return ChainEndpoints(rpc=rpc)
    from pydantic import ValidationError

    from mcledger.node.settings import load_settings

    try:
        settings = load_settings(data_dir=data_dir)
    except ValidationError as exc:
        raise _UsageError(f"the settings are invalid: {exc}") from None

    def dev_endpoint() -> str | None:
        from mcledger.node.runtime.chain_setup import running_dev_endpoint

        return running_dev_endpoint(settings)

    try:
        return ChainEndpoints.from_settings(settings, dev_endpoint=dev_endpoint)
    except ChainsFileError as exc:
        raise _UsageError(str(exc)) from None


def _document(raw: bytes) -> Any:
    """The JSON document in ``raw``; ValueError if it is not UTF-8 JSON."""
    return json.loads(raw.decode("utf-8"))


def _is_credential(document: Any) -> bool:
    # A proof bundle says its "version"; a credential has a JSON-LD "@context" instead.
    return isinstance(document, dict) and "@context" in document and "version" not in document


def _verify_bundle_document(document: Any, endpoints: ChainEndpoints) -> VerificationReport:
    from mcledger.anchoring.bundle import ProofBundle
    from mcledger.anchoring.errors import MerkleError
    from mcledger.node.verifier.chains import MultiChainReader
    from mcledger.node.verifier.report import unparsable_bundle_report

    try:
        bundle = ProofBundle.from_json(document)
    except MerkleError as exc:  # BundleError, or a malformed proof inside the bundle
        return unparsable_bundle_report(exc)
    return MultiChainReader(endpoints).verify_bundle(bundle)


def _option_document(option: str, file: Path) -> Any:
    """The JSON document in the file given with ``option``; a usage error if there is none."""
    if str(file) == "-":
        raise _UsageError(f"{option} takes a file; only FILE may be - (stdin)")
    try:
        return _document(_read_input(file))
    except (ValueError, RecursionError) as exc:
        raise _UsageError(f"{option} {file}: not UTF-8 JSON: {exc}") from None


def _component_documents(files: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """The learner's copies given with --component; a file that is not one is a usage error."""
    documents = []
    for file in files:
        document = _option_document("--component", file)
        if not _is_credential(document):
            raise _UsageError(f"--component {file}: not a credential (no @context)")
        documents.append((file, document))
    return documents


def _same_json(a: Any, b: Any) -> bool:
    """Whether two parsed JSON values are the same JSON (key order aside; true is not 1)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same_json, a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _with_bundle(document: dict[str, Any], file: Path) -> dict[str, Any]:
    """The credential ``document`` with the proof bundle in ``file`` as its ``anchorProof``,
    as the learner's copy carries it; a usage error when the two do not go together."""
    from mcledger.node.credentials.dataintegrity import ANCHOR_PROPERTY

    bundle = _option_document("--bundle", file)
    if _is_credential(bundle):
        raise _UsageError(f"--bundle {file}: a credential (it has an @context), not a proof bundle")
    if ANCHOR_PROPERTY in document and not _same_json(document[ANCHOR_PROPERTY], bundle):
        raise _UsageError(
            f"the credential already has an {ANCHOR_PROPERTY}, and it differs from --bundle"
            f" {file}: give the credential without it, or leave out --bundle"
        )
    return {**document, ANCHOR_PROPERTY: bundle}


def verify_file(
    raw: bytes,
    endpoints: ChainEndpoints,
    components: list[Path] | None = None,
    bundle: Path | None = None,
) -> VerificationReport | CredentialReport:
    """Verify the credential or proof bundle in ``raw``, each bundle against the chain
    ``endpoints`` gives for its chain id; a credential's stack with the learner's copies
    of its ``components``, and with the proof ``bundle`` held apart from it as its
    ``anchorProof``. ChainLookupError when a bundle's chain has no endpoint."""
    from mcledger.node.verifier.chains import MultiChainReader
    from mcledger.node.verifier.credential import verify_credential_file
    from mcledger.node.verifier.report import unparsable_bundle_report

    try:
        document = _document(raw)
    except (ValueError, RecursionError) as exc:
        if bundle is not None:
            raise _UsageError(
                f"--bundle goes with a credential; FILE is not UTF-8 JSON: {exc}"
            ) from None
        return unparsable_bundle_report(f"the proof bundle is not UTF-8 JSON: {exc}")
    if not _is_credential(document):
        if bundle is not None:
            raise _UsageError(
                "--bundle goes with a credential; FILE is a proof bundle (verify it alone)"
            )
        if components:
            raise _UsageError("--component goes with a credential, not with a proof bundle")
        return _verify_bundle_document(document, endpoints)
    if bundle is not None:
        document = _with_bundle(document, bundle)
    given = _component_documents(components or [])
    report = verify_credential_file(
        document, MultiChainReader(endpoints), [doc for _, doc in given]
    )
    verified = {node.credential_id for node in report.walk()} - {report.credential_id}
    for file, doc in given:
        if doc.get("id") not in verified:
            stderr.print(
                f"[yellow]warning:[/] {_escape(str(file))} ({_escape(str(doc.get('id')))}) is"
                " not a component of this credential; not verified",
                markup=True,
            )
    return report


def _check_line(check: Check, width: int = 20) -> str:
    mark = "[green]PASS[/]" if check.passed else "[bold red]FAIL[/]"
    # Details quote the documents verified (ids, DIDs): never rich markup.
    return f"{mark}  {check.name:<{width}} {_escape(check.detail)}"


def _credential_tree(report: CredentialReport, tree: Tree | None = None) -> Tree:
    from rich.tree import Tree

    mark = "[green]verified[/]" if report.ok else "[bold red]NOT verified[/]"
    label = f"{mark}  [bold]{_escape(report.credential_id or '(no id)')}[/]"
    branch = Tree(label) if tree is None else tree.add(label)
    for check in report.checks:
        branch.add(_check_line(check))
    for component in report.components:
        _credential_tree(component, branch)
    return branch


def _print_credential_report(report: CredentialReport) -> None:
    # Long details wrap inside the tree in a terminal; in a pipe or a log the console is
    # unbounded, so every id and digest stays whole on its line.
    stdout.print(_credential_tree(report), soft_wrap=False)
    reports = list(report.walk())
    total = sum(len(r.checks) for r in reports)
    failed = sum(len(r.failed) for r in reports)
    what = f"{len(reports)} credentials" if len(reports) > 1 else "1 credential"
    if report.ok:
        stdout.print(f"[bold green]verified[/]: all {total} checks passed ({what})")
        return
    where = "; ".join(f"{r.credential_id}: {', '.join(r.failed)}" for r in reports if r.failed)
    stdout.print(f"[bold red]NOT verified[/]: {failed} of {total} checks failed ({_escape(where)})")


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
    rpc: Annotated[
        str | None,
        typer.Option(
            "--rpc",
            help="JSON-RPC URL to read every bundle through (default: the one configured for"
            " the bundle's chain id: MCLEDGER_CHAINS_FILE, MCLEDGER_RPC_URL, else the data"
            " directory's development chain).",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOption = False,
    data_dir: DataDirOption = None,
    components: Annotated[
        list[Path] | None,
        typer.Option(
            "--component",
            help="The learner's copy of a component the credential stacks (repeatable).",
            show_default=False,
        ),
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle",
            help="The credential's proof bundle, when FILE is the credential without its"
            " anchorProof: verified as if it were that anchorProof.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Verify a credential or a proof bundle against the chain: signature, issuer, digest,
    inclusion, anchor, revocation; a stack of credentials as a tree.

    Every check is printed by name with PASS or FAIL. Exits 0 when all pass, 1 when
    any fails (in a stack: anywhere in the tree), 2 when a file cannot be read, --bundle
    does not go with FILE, or no RPC URL is configured for a bundle's chain id.
    """
    from mcledger.node.verifier.chains import ChainLookupError
    from mcledger.node.verifier.report import CredentialReport

    try:
        raw = _read_input(file)
        report = verify_file(raw, chain_endpoints(rpc, data_dir), components, bundle)
    except (_UsageError, ChainLookupError) as exc:
        stderr.print(f"[red]error:[/] {_escape(str(exc))}", markup=True)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(json.dumps(report.to_json(), indent=2))
    elif isinstance(report, CredentialReport):
        _print_credential_report(report)
    else:
        _print_report(report)
    raise typer.Exit(0 if report.ok else 1)
