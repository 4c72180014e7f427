"""The JSON-LD contexts that ship with the package are exactly what the pinned npm
packages hold: exported anew into a temporary folder and compared byte for byte."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mcledger.node.credentials.loader import GENERATED_DIR, VC_V2_CONTEXT, LocalContextLoader

EXPORTER = Path(__file__).resolve().parents[3] / "node" / "contexts"


def _exporter_ready() -> None:
    if shutil.which("node") is None or not (EXPORTER / "node_modules").is_dir():
        pytest.fail("the pinned context packages are not installed: run `make test`")


def test_committed_contexts_match_the_pinned_packages(tmp_path: Path) -> None:
    _exporter_ready()
    subprocess.run(
        ["node", "export.mjs", str(tmp_path)],
        cwd=EXPORTER,
        check=True,
        capture_output=True,
        text=True,
    )
    fresh = sorted(p.name for p in tmp_path.iterdir())
    committed = sorted(p.name for p in GENERATED_DIR.iterdir())
    assert fresh == committed
    for name in fresh:
        assert (tmp_path / name).read_bytes() == (GENERATED_DIR / name).read_bytes(), name


def test_committed_contexts_load_without_the_npm_packages() -> None:
    loader = LocalContextLoader()
    assert loader(VC_V2_CONTEXT, {})["document"]["@context"]
