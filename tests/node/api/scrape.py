"""Test helpers: serve an app over real HTTP (uvicorn in a thread, a free loopback port) and
read a Prometheus scrape with prometheus_client's own parser."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from mcledger.anchoring.anvil import free_loopback_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on http://127.0.0.1:<free port> until the block ends."""
    port = free_loopback_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def scrape(url: str) -> Samples:
    """Every sample of ``url``/metrics by (name, labels), parsed as Prometheus would."""
    reply = httpx.get(f"{url}/metrics", timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, None when the scrape does not have it."""
    return samples.get((name, frozenset(labels.items())))


def labels_of(samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float], name: str) -> list:
    return [dict(labels) for sample, labels in samples if sample == name]
