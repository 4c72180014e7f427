"""The verifier page that ships in the package is what its sources build: rebuilt into a
temporary folder with the pinned esbuild and libraries and compared byte for byte. The
page names every check as node/verifier/names.py does, and has a label for each in
every language."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mcledger.node.verifier import names
from mcledger.node.verifier.page import ASSETS, INDEX, PAGE_DIR

SOURCE = Path(__file__).resolve().parents[2] / "verifier-page"


def _node(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None or not (SOURCE / "node_modules").is_dir():
        pytest.fail("the verifier page's npm packages are not installed: run `make test`")
    return subprocess.run(
        ["node", *args], cwd=SOURCE, check=True, capture_output=True, text=True, timeout=120
    )


def test_the_committed_page_is_what_the_sources_build(tmp_path: Path) -> None:
    _node("build.mjs", str(tmp_path))
    for name in (INDEX, *ASSETS):
        assert (tmp_path / name).read_bytes() == (PAGE_DIR / name).read_bytes(), (
            f"{name} differs from a fresh build: run `make verifier-page` and commit it"
        )


def test_the_page_names_checks_as_the_cli_and_labels_them_in_every_language() -> None:
    script = (
        "const names = await import('./src/names.js');"
        "const {LABELS} = await import('./src/labels.js');"
        "console.log(JSON.stringify({names, labels: Object.fromEntries("
        "Object.entries(LABELS).map(([lang, table]) => [lang, Object.keys(table)]))}));"
    )
    found = json.loads(_node("--input-type=module", "-e", script).stdout)
    python = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in vars(names).items()
        if key.isupper() and isinstance(value, str | tuple)
    }
    assert found["names"] == python
    every_check = {
        *names.CREDENTIAL_CHECK_NAMES,
        names.COMPONENT_PROVIDED,
        names.COMPONENT_DIGEST,
        names.STATUS_REVOCATION,
        names.STATUS_SUSPENSION,
        names.STATUS_MALFORMED,
    }
    english = set(found["labels"]["en"])
    assert every_check <= english, every_check - english
    for lang, keys in found["labels"].items():
        assert set(keys) == english, (lang, english ^ set(keys))
