"""The verifier page in a real headless Chromium against a real node and Anvil: for each
case of the matrix the page's per-check results equal `mcledger verify --json`'s on the
same input, check by check (name, order, passed), and the verdict banner says what they
add up to.

The node's issuer here is a did:web DID (``did:web:127.0.0.1%3A<port>``): the CLI and the
page both resolve it by fetching the DID document the node serves, for the credentials'
signatures and the status lists' alike; the registry's address→DID binding is still
checked (``issuer.did``).

One node and one anchoring serve the module: the credentials are issued, anchored and
fetched once (fixture ``issued``); each case then costs one CLI run and one page run.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner

from mcledger.anchoring.anvil import DEFAULT_CHAIN_ID as ANVIL_CHAIN_ID
from mcledger.anchoring.anvil import free_loopback_port
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.ledger import LedgerContract
from mcledger.anchoring.status_commitment import status_list_key
from mcledger.cli.main import build_app
from mcledger.contracts.toolchain import load_artifact
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT
from mcledger.node.credentials.dataintegrity import sign_credential
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.issuing.keys import open_keystore
from mcledger.node.runtime.chain_setup import issuer_key_name
from mcledger.node.verifier.status_commitment import GRACE
from tests.test_end_to_end import RunningNode, _cli, _token, _wait_for_proofs
from tests.test_end_to_end_credentials import _award, _post
from tests.verifier_page.conftest import start_page_node
from tests.verifier_page.pagedriver import (
    READ_REPORT,
    assert_same_checks,
    cli_report,
    detail_differences,
    open_page,
    verify_file_in_page,
)

pytestmark = pytest.mark.chain

XSS_NAME = '<img src=x onerror="window.__xss=1"></script><script>window.__xss=2</script>'


@pytest.fixture(scope="module")
def page_node(anvil: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The module's node: a did:web issuer, its DID document served by the node itself."""
    running = start_page_node(anvil, tmp_path_factory, did_web=True)
    yield running
    running.stop()


@dataclass
class Issued:
    node: RunningNode
    rpc_url: str
    token: str
    folder: Path
    copies: dict[str, Path]
    bodies: dict[str, dict[str, Any]]

    def write(self, name: str, document: Any) -> Path:
        path = self.folder / f"{name}.json"
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def issued(page_node: RunningNode, anvil: Any, tmp_path_factory: pytest.TempPathFactory) -> Issued:
    """Credentials for every case, issued over HTTP and anchored in one batch; one more
    issued after it (its copy is never anchored); one revoked and one suspended through the
    API, then `mcledger anchor`: the revocation committed in the issuer's revocation set,
    and the status lists committed as served."""
    node, token = page_node, _token(page_node)
    created = _post(node, token, "/v1/achievements", EXAMPLE_ACHIEVEMENT)
    assert created.status_code == 201, created.text
    achievement = created.json()["id"]
    names = {
        "valid": "Anna Bērziņa",
        "other": "Jānis Kalniņš",
        "revoked": "Rūta Ozola",
        "suspended": "Ilze Liepa",
        "xss": XSS_NAME,
    }
    bodies = {}
    for key, name in names.items():
        reply = _post(node, token, "/v1/credentials", _award(achievement, name))
        assert reply.status_code == 201, reply.text
        bodies[key] = reply.json()
    parts = [
        {"id": bodies[k]["credential"]["id"], "digest": bodies[k]["digest"]}
        for k in ("valid", "other")
    ]
    stack = _post(
        node, token, "/v1/credentials", _award(achievement, "Anna Bērziņa", components=parts)
    )
    assert stack.status_code == 201, stack.text
    bodies["stack"] = stack.json()
    sealed = _post(node, token, "/v1/batches", {})
    assert sealed.status_code == 202, sealed.text
    _wait_for_proofs(node, [body["digest"] for body in bodies.values()])
    pending = _post(node, token, "/v1/credentials", _award(achievement, "Pēteris Liepa"))
    assert pending.status_code == 201, pending.text
    bodies["pending"] = pending.json()

    folder = tmp_path_factory.mktemp("copies")
    copies = {}
    for key, body in bodies.items():
        reply = httpx.get(body["learnerLink"], timeout=30)
        assert reply.status_code == 200, reply.text
        copies[key] = folder / f"{key}.json"
        copies[key].write_text(reply.text, encoding="utf-8")
    for key, action in (("revoked", "revoke"), ("suspended", "suspend")):
        credential_id = bodies[key]["credential"]["id"]
        done = _post(
            node,
            token,
            f"/v1/credentials/{credential_id}/{action}",
            {"reason": 2} if action == "revoke" else {},
        )
        assert done.status_code in (200, 201), done.text
    # The flush, as the node's schedule runs it: the revocation and every status list as now
    # served go on the chain (status.committed passes; the copies were fetched before).
    flushed = _cli(node.env, "anchor")
    assert flushed.returncode == 0, flushed.stdout + flushed.stderr
    for key in ("valid", "revoked"):  # copies fetched now: their bundles carry the proof
        reply = httpx.get(bodies[key]["learnerLink"], timeout=30)
        assert reply.status_code == 200 and "revocation" in reply.json()["anchorProof"]
        copies[f"{key}_fresh"] = folder / f"{key}_fresh.json"
        copies[f"{key}_fresh"].write_text(reply.text, encoding="utf-8")
    return Issued(node, anvil.rpc_url, token, folder, copies, bodies)


def _copy(issued: Issued, key: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(issued.copies[key].read_text(encoding="utf-8"))
    return loaded


def _signed_by_another_key(issued: Issued) -> dict[str, Any]:
    """The valid copy signed anew with a key of no issuer (a did:key of its own)."""
    document = _copy(issued, "valid")
    bundle = document.pop("anchorProof")
    document.pop("proof")
    key = Ed25519SigningKey.generate()
    signed = sign_credential(document, key, key.verification_method, "2026-11-20T10:00:00Z")
    return {**signed, "anchorProof": bundle}


def _proof_of_an_unanchored_root(issued: Issued) -> dict[str, Any]:
    """The valid copy with a correct inclusion proof in a tree of one leaf that was never
    anchored: the Merkle check passes, the chain knows no such root."""
    document = _copy(issued, "valid")
    bundle = document["anchorProof"]
    root = hashlib.sha256(b"\x00" + bytes.fromhex(bundle["digest"])).hexdigest()
    document["anchorProof"] = {
        **bundle,
        "leafIndex": 0,
        "treeSize": 1,
        "auditPath": [],
        "root": root,
    }
    return document


def _signed_by_an_unreachable_did_web(issued: Issued) -> dict[str, Any]:
    """The valid copy whose proof names a key of a did:web DID on a port nothing listens
    on: its DID document cannot be fetched."""
    document = _copy(issued, "valid")
    port = free_loopback_port()
    document["proof"]["verificationMethod"] = f"did:web:127.0.0.1%3A{port}#key-1"
    return document


def _case_input(issued: Issued, case: str) -> tuple[Path, list[Path]]:
    """The file (and component copies) a case verifies."""
    if case in (
        "valid",
        "valid_fresh",
        "pending",
        "revoked",
        "revoked_fresh",
        "suspended",
        "xss",
        "rpc_unreachable",
    ):
        return issued.copies[case.replace("rpc_unreachable", "valid")], []
    if case == "other_key":
        return issued.write(case, _signed_by_another_key(issued)), []
    if case == "did_web_unreachable":
        return issued.write(case, _signed_by_an_unreachable_did_web(issued)), []
    if case == "root_not_on_chain":
        return issued.write(case, _proof_of_an_unanchored_root(issued)), []
    if case == "undefined_term":  # a property no context defines: it would go unsigned
        return issued.write(case, {**_copy(issued, "valid"), "nickname": "Ann"}), []
    if case == "bundle":  # a proof bundle alone
        return issued.write(case, _copy(issued, "other")["anchorProof"]), []
    if case in ("bundle_wrong_version", "bundle_unversioned"):
        bundle = _copy(issued, "other")["anchorProof"]
        assert bundle["anchor"]["contractVersion"] == 2  # the node's ledger is version 2
        anchor = {k: v for k, v in bundle["anchor"].items() if k != "contractVersion"}
        if case == "bundle_wrong_version":  # it says another version than the contract's
            anchor = {**bundle["anchor"], "contractVersion": 3}
        return issued.write(case, {**bundle, "anchor": anchor}), []
    if case == "junk_5mb":
        path = issued.folder / "junk.bin"
        path.write_bytes(random.Random(11).randbytes(5 * 1024 * 1024))
        return path, []
    if case == "tampered":  # one byte of credentialSubject changed
        document = _copy(issued, "valid")
        name = document["credentialSubject"]["name"]
        document["credentialSubject"]["name"] = "B" + name[1:]
        return issued.write(case, document), []
    if case == "other_bundle":  # the learner's copy with another credential's proof
        document = _copy(issued, "valid")
        document["anchorProof"] = _copy(issued, "other")["anchorProof"]
        return issued.write(case, document), []
    if case == "malformed":
        path = issued.folder / "malformed.json"
        path.write_text('{"@context": ["https://www.w3.org/ns/credentials/v2",', "utf-8")
        return path, []
    if case == "stack_bad_component":  # the second component's copy changed by one byte
        document = _copy(issued, "other")
        document["credentialSubject"]["name"] = "K" + document["credentialSubject"]["name"][1:]
        return issued.copies["stack"], [issued.copies["valid"], issued.write(case, document)]
    raise AssertionError(case)


EXPECTED_VERDICT = {
    "valid": "passed",
    "valid_fresh": "passed",  # its revocation proof against the root on chain
    "revoked_fresh": "failed",  # revoked: a proof of membership
    "pending": "cannot-check",
    "tampered": "failed",
    "other_bundle": "failed",
    "revoked": "failed",
    "suspended": "failed",
    "malformed": "failed",
    "xss": "passed",
    "stack_bad_component": "failed",
    "other_key": "failed",
    "root_not_on_chain": "failed",
    "junk_5mb": "failed",
    "bundle": "passed",
    "bundle_unversioned": "passed",  # as bundles were written before versions were recorded
    "bundle_wrong_version": "failed",
    "undefined_term": "failed",
    "rpc_unreachable": "cannot-check",
    "did_web_unreachable": "failed",
}


@pytest.mark.parametrize("case", list(EXPECTED_VERDICT))
def test_the_page_agrees_with_the_cli(issued: Issued, page: Any, case: str) -> None:
    file, components = _case_input(issued, case)
    rpc_url = issued.rpc_url
    open_page(page, f"{issued.node.url}/verify/")
    if case == "rpc_unreachable":  # the user points the page at an RPC that does not answer
        rpc_url = f"http://127.0.0.1:{free_loopback_port()}"
        page.click("details.chain-settings > summary")
        page.fill(f"#rpc-{ANVIL_CHAIN_ID}", rpc_url)
        page.dispatch_event(f"#rpc-{ANVIL_CHAIN_ID}", "change")
    cli = cli_report(file, rpc_url, components)
    shown = verify_file_in_page(page, file, components)
    assert shown["report"] is not None, shown
    assert_same_checks(shown["report"], cli)
    assert shown["verdict"] == EXPECTED_VERDICT[case], shown["banner"]
    assert cli["ok"] == (shown["verdict"] == "passed")
    assert detail_differences(shown["report"], cli) == []
    assert not page.errors, page.errors
    CASE_CHECKS.get(case, lambda *_: None)(page, shown, cli)


def _xss_shows_literally(page: Any, shown: dict[str, Any], cli: dict[str, Any]) -> None:
    learner = page.text_content("#credential [data-field='learner']")
    assert learner == XSS_NAME
    assert page.evaluate("() => window.__xss") is None
    assert page.query_selector_all("#credential img, #report img, #credential script") == []


def _pending_names_the_next_anchoring(page: Any, shown: dict[str, Any], _: Any) -> None:
    assert "Not anchored on the chain yet." in shown["banner"], shown["banner"]
    assert re.search(r"anchors it at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown["banner"])


def _revocation_named(page: Any, shown: dict[str, Any], cli: dict[str, Any]) -> None:
    detail = {c["name"]: c["detail"] for c in cli["checks"]}["status.revocation"]
    assert re.search(r"reason 2 \(fraud or misconduct\), revoked at \S+Z", detail), detail


def _cannot_check_is_said(page: Any, shown: dict[str, Any], _: Any) -> None:
    outcomes = {c["name"]: c["outcome"] for c in shown["report"]["checks"]}
    assert outcomes["chain.id"] == outcomes["anchor.root"] == "cannot-check", outcomes
    assert outcomes["credential.signature"] == "passed"
    assert "Cannot check" in shown["banner"] and "Verified" not in shown["banner"]


def _did_web_resolved(page: Any, shown: dict[str, Any], cli: dict[str, Any]) -> None:
    details = {c["name"]: c["detail"] for c in cli["checks"]}
    did = _copy_issuer(cli)
    assert did.startswith("did:web:127.0.0.1%3A"), did
    assert details["credential.signature"].endswith(f"by {did}#key-1"), details
    assert details["issuer.did"].endswith(f"is registered as {did}"), details
    assert "bit" in details["status.revocation"], details  # the list's did:web key, too


def _copy_issuer(cli: dict[str, Any]) -> str:
    detail = {c["name"]: c["detail"] for c in cli["checks"]}["credential.issuer"]
    return detail.removeprefix("signed by the issuer, ")


def _did_web_unreachable(page: Any, shown: dict[str, Any], cli: dict[str, Any]) -> None:
    outcomes = {c["name"]: c["outcome"] for c in shown["report"]["checks"]}
    assert outcomes["credential.signature"] == "cannot-check", outcomes
    detail = {c["name"]: c["detail"] for c in cli["checks"]}["credential.signature"]
    assert detail.startswith("proof.verificationMethod: cannot fetch the DID document of"), detail


def _in_the_set(page: Any, shown: dict[str, Any], cli: dict[str, Any]) -> None:
    details = {c["name"]: c["detail"] for c in cli["checks"]}
    assert "(in its revocation set, root " in details["digest.notRevoked"], details
    assert "reason 2 (fraud or misconduct)" in details["digest.notRevoked"], details


def _walked_back(page: Any, shown: dict[str, Any], cli: dict[str, Any]) -> None:
    details = {c["name"]: c["detail"] for c in cli["checks"]}
    assert "(committed in block " in details["digest.notRevoked"], details
    _revocation_named(page, shown, cli)


def _outside_the_set(page: Any, shown: dict[str, Any], cli: dict[str, Any]) -> None:
    details = {c["name"]: c["detail"] for c in cli["checks"]}
    assert ": outside its revocation set (root " in details["digest.notRevoked"], details
    committed = [c for c in cli["checks"] if c["name"] == "status.committed"]
    assert len(committed) == 2 and all(c["passed"] for c in committed), committed


def _wrong_version_named(page: Any, shown: dict[str, Any], cli: dict[str, Any]) -> None:
    failed = [c["name"] for c in cli["checks"] if not c["passed"]]
    assert failed == ["digest.notRevoked"], failed
    detail = {c["name"]: c["detail"] for c in cli["checks"]}["digest.notRevoked"]
    assert "a version-3 MicroCredentialLedger; version() of 0x" in detail, detail
    assert detail.endswith(" returns 2: the bundle does not describe this contract"), detail


CASE_CHECKS = {
    "bundle_wrong_version": _wrong_version_named,
    "valid": _did_web_resolved,
    "valid_fresh": _outside_the_set,
    "revoked_fresh": _in_the_set,
    "did_web_unreachable": _did_web_unreachable,
    "xss": _xss_shows_literally,
    "pending": _pending_names_the_next_anchoring,
    "revoked": _walked_back,
    "rpc_unreachable": _cannot_check_is_said,
}


def test_the_exported_page_verifies_a_learner_link_from_a_file(
    issued: Issued, page: Any, tmp_path: Path
) -> None:
    """`mcledger verifier export`, opened as file://…/index.html?url=<learner's link>: the
    page fetches the copy, the status lists and the history from the node across origins
    (CORS) and reads the chain; the same verdicts as the CLI, and a QR code of the link."""
    out = tmp_path / "exported"
    done = CliRunner().invoke(
        build_app("verifier"),
        ["verifier", "export", str(out), "--rpc", f"{ANVIL_CHAIN_ID}={issued.rpc_url}"],
    )
    assert done.exit_code == 0, done.output
    link = str(issued.bodies["valid"]["learnerLink"])
    open_page(page, f"{(out / 'index.html').as_uri()}?url={quote(link, safe='')}")
    page.wait_for_selector("body[data-state='done']", timeout=30000)
    shown = page.evaluate(READ_REPORT)
    assert shown["verdict"] == "passed", shown
    assert_same_checks(shown["report"], cli_report(issued.copies["valid"], issued.rpc_url))
    assert page.query_selector("#credential svg.qr path.qr-modules") is not None
    assert not page.errors, page.errors


def test_keyboard_drop_and_language(issued: Issued, page: Any) -> None:
    """The drop zone opens the file chooser from the keyboard; a dropped file is verified;
    the verdict sits in a live region; Latvian relabels everything; and nothing the page
    sends carries the credential (only status lists, history, and JSON-RPC reads)."""
    sent: list[Any] = []
    page.on("request", lambda request: sent.append(request))
    open_page(page, f"{issued.node.url}/verify/")
    page.keyboard.press("Tab")  # the language menu comes first, then the drop zone
    assert page.evaluate("() => document.activeElement.id") == "language"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "drop-zone"
    page.evaluate(COUNT_PICKER_OPENINGS)
    page.keyboard.press("Enter")
    page.keyboard.press(" ")
    assert page.evaluate("() => window.pickerOpened") == 2

    text = issued.copies["valid"].read_text(encoding="utf-8")
    page.evaluate("() => { delete document.body.dataset.state; }")
    page.evaluate(DROP, [text, "copy.json"])
    page.wait_for_selector("body[data-state='done']", timeout=30000)
    assert page.get_attribute("#verdict", "role") == "status"
    assert page.get_attribute("#verdict", "aria-live") == "polite"
    assert page.text_content("#verdict .verdict-heading").strip().endswith("Verified")

    page.select_option("#language", "lv")
    assert page.evaluate("() => document.documentElement.lang") == "lv"
    assert page.text_content("#verdict .verdict-heading").strip().endswith("Pārbaudīts")
    assert page.text_content("label[for='paste']") == "Vai ielīmējiet JSON"
    assert page.text_content("[data-name='credential.signature'] .check-label") == (
        "Izdevēja paraksts"
    )

    credential = json.loads(text)
    secrets = (credential["credentialSubject"]["name"], credential["proof"]["proofValue"])
    rpc_methods = set()
    for request in sent:
        body = request.post_data or ""
        assert not any(secret in request.url or secret in body for secret in secrets)
        if request.method == "POST":
            assert request.url.rstrip("/") == issued.rpc_url, request.url
            rpc_methods.add(json.loads(body)["method"])
        else:
            assert request.method == "GET", request.method
    assert rpc_methods <= {
        "eth_chainId",
        "eth_call",
        "eth_getBlockByNumber",
        "eth_getTransactionReceipt",
        "eth_getLogs",
    }, rpc_methods


def test_revoked_on_chain_then_the_issuer_suspended(issued: Issued, page: Any) -> None:
    """Once the revocation is on chain (sent here with the issuer's key, as the node's flush
    sends it: `revoke([digest], reason)`) the chain says revoked too; once the contract's
    admin suspends the issuer, issuer.registered fails. The page agrees with the CLI each
    time. (Last in the module: it changes the chain under every credential.)"""
    data = Path(issued.node.env["MCLEDGER_DATA_DIR"])
    keys = open_keystore(data / "keys", None, dev=True)
    deployment = json.loads((data / "chain" / "deployment.json").read_text())
    ledger = LedgerContract(
        ChainClient(issued.rpc_url), deployment["contract"], load_artifact()["abi"]
    )
    revoked = issued.copies["revoked"]
    digest = bytes.fromhex(issued.bodies["revoked"]["digest"])
    ledger.revoke(keys.load_or_create(issuer_key_name("local")), [digest], 2)

    open_page(page, f"{issued.node.url}/verify/")
    shown = verify_file_in_page(page, revoked)
    cli = cli_report(revoked, issued.rpc_url)
    assert_same_checks(shown["report"], cli)
    assert detail_differences(shown["report"], cli) == []
    failed = {c["name"]: c["detail"] for c in cli["checks"] if not c["passed"]}
    assert set(failed) == {"status.revocation", "digest.notRevoked"}, failed
    assert "reason 2 (fraud or misconduct)" in failed["digest.notRevoked"]

    # A split view: the issuer commits, ten minutes on, another hash for the list it serves.
    valid = _copy(issued, "valid")
    [url] = [e["statusListCredential"] for e in valid["credentialStatus"]][:1]
    ledger.client.request("evm_increaseTime", [GRACE + 60])
    ledger.commit_status_lists(
        keys.load_or_create(issuer_key_name("local")), [(status_list_key(url), b"\x5a" * 32)]
    )
    open_page(page, f"{issued.node.url}/verify/")
    shown = verify_file_in_page(page, issued.copies["valid"])
    cli = cli_report(issued.copies["valid"], issued.rpc_url)
    assert_same_checks(shown["report"], cli)
    assert detail_differences(shown["report"], cli) == []
    [split] = [c for c in cli["checks"] if c["name"] == "status.committed" and not c["passed"]]
    assert "a split view" in split["detail"] and shown["verdict"] == "failed"

    issuer = valid["anchorProof"]["anchor"]["issuer"]
    ledger.suspend_issuer(keys.load_or_create("admin"), issuer)
    open_page(page, f"{issued.node.url}/verify/")
    shown = verify_file_in_page(page, issued.copies["valid"])
    cli = cli_report(issued.copies["valid"], issued.rpc_url)
    assert_same_checks(shown["report"], cli)
    assert detail_differences(shown["report"], cli) == []
    failed_now = [c["name"] for c in cli["checks"] if not c["passed"]]
    assert failed_now == ["issuer.registered", "status.committed"]  # the split view stays
    assert shown["verdict"] == "failed"


# Counts the file picker's openings (and keeps the dialog shut).
COUNT_PICKER_OPENINGS = """() => {
  window.pickerOpened = 0;
  document.getElementById('file').addEventListener('click', event => {
    window.pickerOpened += 1;
    event.preventDefault();
  });
}"""

DROP = """([text, name]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, {type: 'application/json'}));
  document.getElementById('drop-zone').dispatchEvent(
    new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
}"""
