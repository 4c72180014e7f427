"""The CLI starts at once: importing it, and running the commands that need no chain or
index, loads none of the heavy libraries (the durable guard; the timing is in
tests/benchmarks/bench_cli_start.py). Each probe runs in a fresh interpreter, where
sys.modules shows what an import really pulled in."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = {
    "web3",
    "eth_account",
    "eth_utils",
    "pyld",
    "cryptography",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "fastapi",
    "uvicorn",
}

# Runs `mcledger ARGS...` as the console script does (main(), SystemExit caught).
RUN_MAIN = """
import contextlib, io, sys
from mcledger.cli.main import main

def run(*args):
    sys.argv = ["mcledger", *args]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            main()
        return 0, out.getvalue()
    except SystemExit as exc:
        return exc.code or 0, out.getvalue()
"""


def _probe(program: str) -> tuple[set[str], str]:
    """The modules loaded once ``program`` has run in a fresh interpreter, and the last
    line it printed."""
    report = "\nimport json, sys\nprint(json.dumps(list(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", program + report],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    *printed, modules = done.stdout.splitlines()
    return set(json.loads(modules)), printed[-1] if printed else ""


def _heavy(modules: set[str]) -> list[str]:
    return sorted({name.split(".")[0] for name in modules} & HEAVY)


def test_importing_the_cli_and_building_every_command_loads_no_heavy_library() -> None:
    """What `mcledger --help` does: import every command module, build every command."""
    modules, _ = _probe("from mcledger.cli.main import build_app\nbuild_app()")
    assert "mcledger.cli.verify" in modules and "mcledger.cli.audit" in modules
    assert _heavy(modules) == []


def test_the_probe_sees_heavy_libraries_when_they_are_imported() -> None:
    """The check above is not vacuous: using a name of the lazy credentials package loads
    the JSON-LD processor and the cryptography library, and the probe reports them."""
    modules, _ = _probe("from mcledger.node.credentials import canonicalize")
    assert _heavy(modules) == ["cryptography", "pyld"]


def test_commands_without_chain_or_index_run_without_heavy_libraries(tmp_path: Path) -> None:
    """merkle root / prove / verify, prove against an unreachable node and --help, run one
    after the other in one interpreter: right exit codes, and still nothing heavy loaded."""
    digests, proof = tmp_path / "digests.txt", tmp_path / "proof.json"
    digests.write_text("".join(f"{i:064x}\n" for i in range(1, 9)))  # leaf 3 is 00…04
    program = RUN_MAIN + (
        f"root = run('merkle', 'root', {str(digests)!r})\n"
        f"code, text = run('merkle', 'prove', {str(digests)!r}, '3')\n"
        f"open({str(proof)!r}, 'w').write(text)\n"
        f"check = run('merkle', 'verify', {str(proof)!r}, '{4:064x}')\n"
        "unreachable = run('prove', 'ab' * 32, '--node', 'http://127.0.0.1:9')\n"
        "helped = run('--help')\n"
        "import json\n"
        "print(json.dumps([root[0], code, check[0], unreachable[0], helped[0], check[1]]))\n"
    )
    modules, printed = _probe(program)
    *codes, verdict = json.loads(printed)
    assert codes == [0, 0, 0, 2, 0]
    assert verdict.startswith(f"VALID: digest {4:064x} is leaf 3 of 8")
    assert _heavy(modules) == []


@pytest.mark.parametrize(
    ("package", "submodules", "plain_module", "not_loaded"),
    [
        (
            "mcledger.node.credentials",
            ("dataintegrity", "loader", "multikey"),
            "mcledger.node.credentials.annex",
            "pyld",
        ),
        (
            "mcledger.anchoring",
            ("merkle", "tiles", "tree"),
            "mcledger.anchoring.errors",
            "mcledger.anchoring.tree",
        ),
    ],
)
def test_lazy_package_names_are_the_modules_own(
    package: str, submodules: tuple[str, ...], plain_module: str, not_loaded: str
) -> None:
    """A plain module of the package loads without the rest of it; every public name of the
    package is still there, the very object its module defines; an unknown name fails."""
    modules, _ = _probe(f"import {plain_module}")
    assert plain_module in modules and not_loaded not in modules
    lazy = importlib.import_module(package)
    for name in lazy.__all__:
        owners = [importlib.import_module(f"{package}.{module}") for module in submodules]
        assert any(getattr(owner, name, None) is getattr(lazy, name) for owner in owners), name
    assert getattr(lazy, submodules[0]) is importlib.import_module(f"{package}.{submodules[0]}")
    with pytest.raises(AttributeError, match="no_such_name"):
        lazy.no_such_name  # noqa: B018
