"""Several processes opening one empty PostgreSQL index at once (replicas starting together)
all come up: migrations take turns instead of racing to create the schema."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from mcledger.node.index.db import make_engine

REPO = Path(__file__).resolve().parents[3]
PROGRAM = (
    "import sys, time\n"
    "from mcledger.node.index.db import open_index\n"
    "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"  # start together
    "open_index(sys.argv[1]).dispose()\n"
)


@pytest.mark.postgres
def test_replicas_starting_together_all_migrate(postgres_database_url: str) -> None:
    start = f"{time.time() + 3.0:.3f}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROGRAM, postgres_database_url, start],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    failures = []
    for process in processes:
        _, err = process.communicate(timeout=120)
        if process.returncode:
            failures.append(err[-2000:])
    assert failures == []
    engine = make_engine(postgres_database_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert versions == 1
