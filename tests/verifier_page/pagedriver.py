"""Driving the verifier page in Chromium and reading what it shows, and the CLI's report
of the same input, for check-by-check comparison."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from mcledger.cli.main import build_app

NOT_JSON = "the proof bundle is not UTF-8 JSON: "

# The report as the page shows it: a section per credential (or bundle), its checks as
# list items carrying name, verdict and outcome, components nested below.
READ_REPORT = """() => {
  const read = section => ({
    id: section.dataset.credentialId ?? null,
    kind: section.dataset.kind,
    checks: [...section.querySelectorAll(':scope > ul.checks > li.check')].map(li => ({
      name: li.dataset.name,
      passed: li.dataset.passed === 'true',
      outcome: li.dataset.outcome,
      detail: li.querySelector('.check-detail').textContent,
    })),
    components: [...section.querySelectorAll(':scope > .components > section.report')]
      .map(read),
  });
  const root = document.querySelector('#report > section.report');
  const verdict = document.querySelector('#verdict [data-verdict]');
  return {
    report: root ? read(root) : null,
    verdict: verdict ? verdict.dataset.verdict : null,
    banner: verdict ? verdict.textContent : null,
    elapsedMs: Number(document.body.dataset.elapsedMs),
  };
}"""


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='true']", timeout=15000)


def verify_file_in_page(
    page: Any,
    file: Path,
    components: Sequence[Path] = (),
    *,
    bundle: Path | None = None,
    timeout: float = 30000,
) -> dict[str, Any]:
    """Pick ``file`` (and the component copies, and its separate proof bundle) in the page;
    what it shows once done."""
    page.evaluate("() => { delete document.body.dataset.state; }")
    if components:
        page.set_input_files("#components", [str(path) for path in components])
    if bundle is not None:
        page.set_input_files("#bundle", str(bundle))
    page.set_input_files("#file", str(file))
    page.wait_for_selector("body[data-state='done']", timeout=timeout)
    shown: dict[str, Any] = page.evaluate(READ_REPORT)
    return shown


def cli_report(
    file: Path, rpc_url: str, components: Sequence[Path] = (), bundle: Path | None = None
) -> dict[str, Any]:
    """`mcledger verify FILE --json` on the same input: the command itself, run in this
    process (an interpreter per case would cost seconds of imports and cold caches)."""
    args = [arg for path in components for arg in ("--component", str(path))]
    if bundle is not None:
        args += ["--bundle", str(bundle)]
    done = CliRunner().invoke(
        build_app("verify"), ["verify", str(file), *args, "--rpc", rpc_url, "--json"]
    )
    assert done.exit_code in (0, 1), done.output
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def verdicts(report: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(check["name"], check["passed"]) for check in report["checks"]]


def detail_differences(shown: dict[str, Any], cli: dict[str, Any], where: str = "") -> list[str]:
    """Checks whose details differ between the page and the CLI, by path and name, except
    where each side quotes its own platform: a transport error (the page's outcome is
    "cannot check") or the JSON parser's complaint about input that is not JSON."""
    differences = []
    for mine, theirs in zip(shown["checks"], cli["checks"], strict=False):
        if mine["detail"] == theirs["detail"] or mine["outcome"] == "cannot-check":
            continue
        both_not_json = all(c["detail"].startswith(NOT_JSON) for c in (mine, theirs))
        if mine["name"] == "bundle.format" and both_not_json:
            continue
        differences.append(
            f"{where}{mine['name']}: page {mine['detail']!r}, cli {theirs['detail']!r}"
        )
    for mine, theirs in zip(shown["components"], cli.get("components", []), strict=False):
        differences += detail_differences(mine, theirs, f"{where}{theirs['id']}/")
    return differences


def assert_same_checks(shown: dict[str, Any], cli: dict[str, Any]) -> None:
    """The page's report equals the CLI's check by check (name, order, passed), and its
    components' reports likewise, recursively."""
    assert verdicts(shown) == verdicts(cli), (verdicts(shown), verdicts(cli))
    if "id" in cli:
        assert shown["id"] == (cli["id"] or ""), (shown["id"], cli["id"])
    theirs = cli.get("components", [])
    assert len(shown["components"]) == len(theirs)
    for mine, other in zip(shown["components"], theirs, strict=True):
        assert_same_checks(mine, other)
