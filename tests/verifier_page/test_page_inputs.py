"""The verifier page's other inputs and its reading view, in a real headless Chromium against
a real node and Anvil: a credential held apart from its proof bundle (picked in its own
input, or dropped together with it) gets the report `mcledger verify --bundle` gives; a
bundle that differs from the credential's own anchorProof is an input error; the credential
view lists a stack's components; and a print shows every check's detail and no controls.

One small anchoring serves the module: two credentials and a stack of both, one batch, and
their status lists committed on chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT
from tests.test_end_to_end import RunningNode, _cli, _token, _wait_for_proofs
from tests.test_end_to_end_credentials import _award, _post
from tests.verifier_page.pagedriver import (
    READ_REPORT,
    assert_same_checks,
    cli_report,
    detail_differences,
    open_page,
    verify_file_in_page,
)

pytestmark = pytest.mark.chain


@dataclass
class Held:
    """The learner's copies (``first``, ``second``, ``stack``), each as one file and as the
    bare credential beside its proof bundle (``<key>-bare``, ``<key>-proof``)."""

    node: RunningNode
    rpc_url: str
    files: dict[str, Path]
    digests: dict[str, str]


@pytest.fixture(scope="module")
def held(page_node: RunningNode, anvil: Any, tmp_path_factory: pytest.TempPathFactory) -> Held:
    node, token = page_node, _token(page_node)
    created = _post(node, token, "/v1/achievements", EXAMPLE_ACHIEVEMENT)
    assert created.status_code == 201, created.text
    achievement = created.json()["id"]
    bodies = {}
    for key, name in (("first", "Anna Bērziņa"), ("second", "Jānis Kalniņš")):
        reply = _post(node, token, "/v1/credentials", _award(achievement, name))
        assert reply.status_code == 201, reply.text
        bodies[key] = reply.json()
    parts = [{"id": b["credential"]["id"], "digest": b["digest"]} for b in bodies.values()]
    stack = _post(
        node, token, "/v1/credentials", _award(achievement, "Anna Bērziņa", components=parts)
    )
    assert stack.status_code == 201, stack.text
    bodies["stack"] = stack.json()
    sealed = _post(node, token, "/v1/batches", {})
    assert sealed.status_code == 202, sealed.text
    _wait_for_proofs(node, [body["digest"] for body in bodies.values()])
    committed = _cli(node.env, "anchor")  # the status lists as served go on the chain
    assert committed.returncode == 0, committed.stdout + committed.stderr

    folder = tmp_path_factory.mktemp("held")
    files = {}
    for key, body in bodies.items():
        reply = httpx.get(body["learnerLink"], timeout=30)
        assert reply.status_code == 200, reply.text
        copy = reply.json()
        bundle = copy.pop("anchorProof")
        for name, document in ((key, {**copy, "anchorProof": bundle}), (f"{key}-bare", copy)):
            files[name] = folder / f"{name}.json"
            files[name].write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        files[f"{key}-proof"] = folder / f"{key}-proof.json"
        files[f"{key}-proof"].write_text(json.dumps(bundle), encoding="utf-8")
    digests = {key: str(body["digest"]) for key, body in bodies.items()}
    return Held(node, anvil.rpc_url, files, digests)


def _drop(page: Any, *files: Path) -> dict[str, Any]:
    """Drop ``files`` together on the drop zone, in this order; what the page shows."""
    page.evaluate("() => { delete document.body.dataset.state; }")
    page.evaluate(DROP, [[path.read_text(encoding="utf-8"), path.name] for path in files])
    page.wait_for_selector("body[data-state='done']", timeout=30000)
    shown: dict[str, Any] = page.evaluate(READ_REPORT)
    return shown


def test_a_separate_bundle_gives_the_cli_report_picked_or_dropped(held: Held, page: Any) -> None:
    bare, proof = held.files["first-bare"], held.files["first-proof"]
    cli = cli_report(bare, held.rpc_url, bundle=proof)
    assert cli == cli_report(held.files["first"], held.rpc_url)  # as the learner's copy
    assert cli["ok"] is True

    open_page(page, f"{held.node.url}/verify/")
    assert page.text_content("label[for='bundle']") == "Proof bundle (if separate)"
    picked = verify_file_in_page(page, bare, bundle=proof)
    assert picked["verdict"] == "passed", picked["banner"]
    assert_same_checks(picked["report"], cli)
    assert detail_differences(picked["report"], cli) == []

    open_page(page, f"{held.node.url}/verify/")
    dropped = _drop(page, proof, bare)  # the bundle first: paired by what each file is
    assert dropped["verdict"] == "passed", dropped["banner"]
    assert_same_checks(dropped["report"], cli)
    assert detail_differences(dropped["report"], cli) == []
    assert not page.errors, page.errors

    page.select_option("#language", "lv")
    assert page.text_content("label[for='bundle']") == (
        "Pierādījumu pakete (ja tā ir atsevišķā failā)"
    )


def test_a_bundle_that_differs_from_the_anchor_proof_is_an_input_error(
    held: Held, page: Any
) -> None:
    """The first credential's copy (with its anchorProof) and the second's proof bundle:
    the CLI refuses them (exit 2) and the page says why, verifying nothing."""
    copy, other = held.files["first"], held.files["second-proof"]
    open_page(page, f"{held.node.url}/verify/")
    for shown in (verify_file_in_page(page, copy, bundle=other), _drop(page, copy, other)):
        assert shown["verdict"] == "input-error", shown
        assert "already has an anchorProof, and it differs" in shown["banner"], shown["banner"]
        assert shown["report"] is None
        assert page.inner_html("#credential") == ""
    # A proof bundle given as the credential, with a separate bundle: an input error too.
    open_page(page, f"{held.node.url}/verify/")
    shown = verify_file_in_page(page, held.files["first-proof"], bundle=other)
    assert shown["verdict"] == "input-error" and "verify it alone" in shown["banner"]
    assert not page.errors, page.errors


def _components_shown(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate(READ_COMPONENTS))


def test_the_reading_view_lists_a_stacks_components(held: Held, page: Any) -> None:
    """Each listed component by id and digest; with its copy given, its title, workload and
    what it verified to (the CLI's verdict for it); without, that it was not given."""
    stack, first, second = held.files["stack"], held.files["first"], held.files["second"]
    ids = [json.loads(held.files[k].read_text())["id"] for k in ("first", "second")]
    tampered = held.files["second"].with_name("second-tampered.json")
    document = json.loads(second.read_text(encoding="utf-8"))
    document["credentialSubject"]["name"] = "K" + document["credentialSubject"]["name"][1:]
    tampered.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")

    open_page(page, f"{held.node.url}/verify/")
    verify_file_in_page(page, stack, [first, tampered])
    assert page.text_content("#credential .credential-components h3") == "Components"
    cli = cli_report(stack, held.rpc_url, [first, tampered])
    assert [c["ok"] for c in cli["components"]] == [True, False]
    assert _components_shown(page) == [
        {
            "id": ids[0],
            "digest": held.digests["first"],
            "title": "Data Protection Fundamentals",
            "workload": "3 ECTS",
            "verification": "✓ Verified",
            "outcome": "passed",
            "notGiven": False,
        },
        {
            "id": ids[1],
            "digest": held.digests["second"],
            "title": "Data Protection Fundamentals",
            "workload": "3 ECTS",
            "verification": "✗ Not verified",
            "outcome": "failed",
            "notGiven": False,
        },
    ]

    verify_file_in_page(page, stack, [first])  # the second's copy not given
    second_shown = _components_shown(page)[1]
    assert second_shown == {
        "id": ids[1],
        "digest": held.digests["second"],
        "title": None,
        "workload": None,
        "verification": None,
        "outcome": None,
        "notGiven": True,
    }
    page.select_option("#language", "lv")
    assert page.text_content("#credential .credential-components h3") == "Komponentes"
    assert not page.errors, page.errors


def test_a_print_shows_every_check_detail_and_no_controls(held: Held, page: Any) -> None:
    open_page(page, f"{held.node.url}/verify/")
    verify_file_in_page(page, held.files["stack"], [held.files["first"]])
    page.click("[data-name='credential.signature'] summary")  # one the reader opened
    page.emulate_media(media="print")
    detail = "[data-name='anchor.block'] .check-detail"
    assert not page.is_visible(detail)  # a closed <details>: not printed without the handler

    page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
    details = page.locator("#report .check-detail")
    assert details.count() == len(page.query_selector_all("#report li.check")) > 20
    assert all(details.nth(i).is_visible() for i in range(details.count()))
    for shown in (
        "#verdict .verdict-heading",
        "#credential .credential-title",
        "#credential .credential-components",
    ):
        assert page.is_visible(shown), shown
    for hidden in (
        "#drop-zone",
        "#paste",
        "#components",
        "#bundle",
        "#verify",
        "details.chain-settings",
        "#language",
    ):
        assert not page.is_visible(hidden), hidden

    page.evaluate("() => window.dispatchEvent(new Event('afterprint'))")
    assert not page.is_visible(detail)  # closed again, as the reader left it
    assert page.is_visible("[data-name='credential.signature'] .check-detail")
    page.emulate_media(media="screen")
    assert page.is_visible("#drop-zone")

    # A real print (to PDF) runs the same handlers: every check's <details> open while it
    # prints, closed again after.
    page.evaluate(COUNT_OPEN_WHILE_PRINTING)
    assert page.pdf()[:5] == b"%PDF-"
    total = len(page.query_selector_all("#report li.check details"))
    assert page.evaluate("() => window.openWhilePrinting") == total
    assert not page.is_visible(detail)
    assert not page.errors, page.errors


# Drops the given [text, name] files together, as one drag from a file manager does.
DROP = """(files) => {
  const data = new DataTransfer();
  for(const [text, name] of files) {
    data.items.add(new File([text], name, {type: 'application/json'}));
  }
  document.getElementById('drop-zone').dispatchEvent(
    new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
}"""

# Registered after the page's own beforeprint handler, so it runs after it.
COUNT_OPEN_WHILE_PRINTING = """() => window.addEventListener('beforeprint', () => {
  window.openWhilePrinting = document.querySelectorAll('#report li.check details[open]').length;
})"""

# The reading view's components list, as a person reads each entry.
READ_COMPONENTS = """() => [...document.querySelectorAll(
    '#credential .credential-components li.component-entry')].map(li => {
  const field = key => {
    const dd = li.querySelector(`dd[data-field='${key}']`);
    return dd ? dd.textContent : null;
  };
  const title = li.querySelector('.component-title');
  return {
    id: field('componentId'),
    digest: field('componentDigest'),
    title: title ? title.textContent : null,
    workload: field('workload'),
    verification: field('componentVerification'),
    outcome: li.dataset.outcome ?? null,
    notGiven: li.textContent.includes("Its learner's copy was not given."),
  };
})"""
