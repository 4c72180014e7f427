"""The verifier page on bundles whose root was timestamped through EBSI's Timestamp
interface (our EbsiTimestamp on the session's Anvil): the exported page, opened from
file://, gives the checks of `mcledger verify --json` on the same bundle, check by check and
word for word: genuine (with the ledger beside it, and without), and tampered."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mcledger.anchoring.anvil import DEFAULT_CHAIN_ID
from mcledger.anchoring.chain import ChainClient
from mcledger.cli.main import build_app
from tests.node.verifier.test_verify_timestamped import timestamp_a_tree
from tests.verifier_page.pagedriver import (
    assert_same_checks,
    cli_report,
    detail_differences,
    open_page,
    verify_file_in_page,
)

pytestmark = pytest.mark.chain


def test_the_page_checks_timestamped_bundles_as_the_cli_does(
    chain: ChainClient, deployed: Any, funded_account: Any, page: Any, tmp_path: Path
) -> None:
    stamped = timestamp_a_tree(chain, deployed, funded_account)
    out = tmp_path / "exported"
    done = CliRunner().invoke(
        build_app("verifier"),
        ["verifier", "export", str(out), "--rpc", f"{DEFAULT_CHAIN_ID}={chain.rpc_url}"],
    )
    assert done.exit_code == 0, done.output
    bundle = stamped.bundle
    cases = {
        "with-ledger": (bundle, "passed"),
        "without-ledger": (
            dataclasses.replace(bundle, anchor=dataclasses.replace(bundle.anchor, ledger=None)),
            "passed",
        ),
        "other-algorithm": (
            dataclasses.replace(
                bundle, anchor=dataclasses.replace(bundle.anchor, hash_algorithm_id=2)
            ),
            "failed",
        ),
        "other-block": (
            dataclasses.replace(
                bundle,
                anchor=dataclasses.replace(
                    bundle.anchor, block_number=bundle.anchor.block_number - 1
                ),
            ),
            "failed",
        ),
    }
    open_page(page, (out / "index.html").as_uri())
    for name, (case, verdict) in cases.items():
        file = tmp_path / f"{name}.json"
        file.write_text(json.dumps(case.to_json()), encoding="utf-8")
        shown = verify_file_in_page(page, file)
        cli = cli_report(file, chain.rpc_url)
        assert shown["report"] is not None, (name, shown)
        assert_same_checks(shown["report"], cli)
        assert detail_differences(shown["report"], cli) == [], name
        assert shown["verdict"] == verdict, (name, shown["banner"])
        details = {c["name"]: c["detail"] for c in shown["report"]["checks"]}
        assert "anchor target ebsi-timestamp" in details["bundle.format"]
        if name == "without-ledger":
            assert details["issuer.registered"].startswith("no issuer registry beside")
    assert not page.errors, page.errors
