"""The node's Prometheus metrics: what this process counts, and gauges read from the index.

Two kinds, kept apart on purpose:

- *events of this process* (gas used and fee paid by confirmed transactions, RPC
  errors, HTTP request latency) are counted where they happen, in `EVENTS`;
  with several node processes Prometheus sums them across processes;
- *the state of the pipeline* (digests waiting, batches by state, revocations not
  yet sent, the age of the last confirmed anchor) is read from the index at scrape
  time, so every process on one database reports the same, right values.

This module sits on the node's base floor so the pipeline can record into it
without importing the API; `/metrics` (node.api.routes_metrics) renders it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

import requests
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from web3 import Web3
from web3.middleware.base import Web3Middleware
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

log = logging.getLogger("mcledger.metrics")

EVENTS = CollectorRegistry(auto_describe=True)
"""This process's counters (and the process and platform collectors)."""
ProcessCollector(registry=EVENTS)
PlatformCollector(registry=EVENTS)

TRANSACTION_KINDS = ("anchor", "revocation")
BATCH_STATES = ("sealed", "submitted", "confirmed")

TRANSACTION_GAS = Histogram(
    "mcledger_transaction_gas_used",
    "Gas used by each confirmed transaction of this process, by kind (anchor, revocation)",
    ["kind"],
    # an anchor is ~60 k gas; a revoke of 1,000 digests ~25 M
    buckets=(5e4, 1e5, 2.5e5, 1e6, 2.5e6, 1e7, 3e7),
    registry=EVENTS,
)
TRANSACTION_FEE = Counter(
    "mcledger_transaction_fee_wei",
    "Fees paid (gas used x effective gas price, wei) by confirmed transactions, by kind",
    ["kind"],
    registry=EVENTS,
)
RPC_ERRORS = Counter(
    "mcledger_rpc_errors",
    "JSON-RPC requests that failed, by method and kind "
    "(connection, timeout, http, rpc: an error reply, revert: the contract refused)",
    ["method", "kind"],
    registry=EVENTS,
)
HTTP_DURATION = Histogram(
    "mcledger_http_request_duration_seconds",
    "HTTP requests served, by method, route template and status class",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=EVENTS,
)
PROCESS_ID = Gauge(
    "mcledger_process_id",
    "The operating-system id of the process that answered this scrape (with `serve "
    "--workers N`, each worker answers for its own counters)",
    registry=EVENTS,
)
PROCESS_ID.set_function(os.getpid)  # read at each scrape: right in every worker process
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

for _kind in TRANSACTION_KINDS:  # the series exist (at 0) before the first transaction
    TRANSACTION_GAS.labels(_kind)
    TRANSACTION_FEE.labels(_kind)


# -- recording ------------------------------------------------------------------------------
def record_transaction(kind: str, gas_used: int, effective_gas_price: int) -> None:
    """A transaction of ``kind`` was confirmed: its gas and the fee it paid."""
    TRANSACTION_GAS.labels(kind).observe(gas_used)
    TRANSACTION_FEE.labels(kind).inc(gas_used * effective_gas_price)


def record_rpc_error(method: str, kind: str) -> None:
    RPC_ERRORS.labels(method, kind).inc()


def observe_http_request(method: str, route: str, status: int, seconds: float) -> None:
    """One served request; ``route`` is the route template (never the raw path, so digests
    and ids do not become label values)."""
    method = method if method in _METHODS else "other"
    HTTP_DURATION.labels(method, route, f"{status // 100}xx").observe(seconds)


def _transport_error_kind(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout | TimeoutError):
        return "timeout"
    if isinstance(exc, requests.HTTPError):
        return "http"
    if isinstance(exc, requests.ConnectionError | OSError):
        return "connection"
    return "other"


def _reply_error_kind(error: Any) -> str | None:
    """The kind of a JSON-RPC error reply; None for replies the client treats as success
    (a resent transaction the node already knows)."""
    message = str(error.get("message", "") if isinstance(error, Mapping) else error).lower()
    if "already known" in message or "already imported" in message:
        return None
    code = error.get("code") if isinstance(error, Mapping) else None
    return "revert" if code == 3 or "revert" in message else "rpc"


class RpcErrorCounter(Web3Middleware):
    """Counts every failed JSON-RPC request of a Web3 instance by method and kind."""

    def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
        def counted(method: RPCEndpoint, params: Any) -> RPCResponse:
            try:
                response = make_request(method, params)
            except Exception as exc:
                record_rpc_error(str(method), _transport_error_kind(exc))
                raise
            if isinstance(response, Mapping) and response.get("error") is not None:
                kind = _reply_error_kind(response["error"])
                if kind is not None:
                    record_rpc_error(str(method), kind)
            return response

        return counted


_RPC_LAYER = "mcledger_rpc_errors"


def count_rpc_errors(w3: Web3) -> None:
    """Count ``w3``'s RPC errors in `RPC_ERRORS` (once, however often it is called)."""
    if _RPC_LAYER not in {name for _, name in w3.middleware_onion.middleware}:
        w3.middleware_onion.add(RpcErrorCounter, name=_RPC_LAYER)


# -- the index at scrape time ---------------------------------------------------------------
class PipelineView(Protocol):
    """What the gauges show (node.pipeline.health.PipelineState has these fields)."""

    @property
    def pending_digests(self) -> Mapping[str, int]: ...  # issuer -> digests not yet sealed
    @property
    def batches(self) -> Mapping[tuple[str, str], int]: ...  # (kind, state) -> batches
    @property
    def revocations_waiting(self) -> Mapping[str, int]: ...  # issuer -> not yet sent
    @property
    def last_confirmed_anchor_at(self) -> datetime | None: ...
    @property
    def read_at(self) -> datetime: ...


class PipelineCollector:
    """Gauges from ``read()`` (a few cheap queries of the index), called at each scrape."""

    def __init__(self, read: Callable[[], PipelineView]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("mcledger_index_up", "1 when the index answered this scrape")
        try:
            view = self.read()
        except Exception as exc:  # the scrape still serves this process's counters
            log.warning("metrics: the index did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _by_label(
            "mcledger_digests_pending",
            "Digests waiting to be sealed into a batch, by issuer",
            "issuer",
            view.pending_digests,
        )
        batches = GaugeMetricFamily(
            "mcledger_batches",
            "Batches in the index by kind (anchor, revocation) and state",
            labels=["kind", "state"],
        )
        for kind in TRANSACTION_KINDS:
            for state in BATCH_STATES:
                batches.add_metric([kind, state], view.batches.get((kind, state), 0))
        yield batches
        yield _by_label(
            "mcledger_revocations_waiting",
            "Revocations not yet sent to the chain (unsealed or in a sealed batch), by issuer",
            "issuer",
            view.revocations_waiting,
        )
        if view.last_confirmed_anchor_at is not None:  # absent until the first anchor
            age = (view.read_at - view.last_confirmed_anchor_at).total_seconds()
            yield GaugeMetricFamily(
                "mcledger_last_anchor_age_seconds",
                "Seconds since the last anchor was confirmed",
                value=max(age, 0.0),
            )


def _by_label(name: str, documentation: str, label: str, values: Mapping[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


class _Exposition:
    """This process's counters followed by the index's gauges, as one collector."""

    def __init__(self, pipeline: PipelineCollector | None) -> None:
        self.pipeline = pipeline

    def collect(self) -> Iterator[Metric]:
        yield from EVENTS.collect()
        if self.pipeline is not None:
            yield from self.pipeline.collect()


def render(pipeline: PipelineCollector | None, accept: str | None) -> tuple[bytes, str]:
    """The scrape body and its media type (OpenMetrics when the scraper asks for it)."""
    encoder, media_type = choose_encoder(accept or "")
    return encoder(_Exposition(pipeline)), media_type
