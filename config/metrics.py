"""Operational metrics: prometheus-client's multiprocess mode, gauges computed at scrape time, `/metrics`.

Every process of a host (gunicorn workers, the granian ingest workers, Celery's prefork children and
beat) writes its counters and histograms to its own memory-mapped file in PROMETHEUS_MULTIPROC_DIR
(config/settings.py points the variable at `config.env`'s directory before anything imports
prometheus_client); `/metrics`, on any web worker, sums the files with `MultiProcessCollector`. An
increment is a write into that mapped file under a lock: no I/O, no Redis round trip, so the
Cassandra driver's event loop thread may record too. Files of exited processes stay (a counter
must not drop when a worker is recycled); the directory is wiped when the host's processes start
(bin/run, bin/procfile, deploy/watchpoint-metrics.service), never while they run. Several hosts:
Prometheus scrapes each host's web, and sums by job.

Two pipeline facts stay in Redis because `pipeline_status` reads them from any host and they are
not counters: when a drain last wrote, and events written per 10-second slot (events/s over the
last minute).

This module imports no app: gauges that need an app's data (the watch pipeline's depths and caps)
come from collectors the app registers with `metrics_collector_register` from its `AppConfig.ready()`.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from config.registry import Registry

logger = logging.getLogger(__name__)

if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    # Without it prometheus_client counts per process and /metrics would show one worker's numbers.
    raise ImproperlyConfigured("PROMETHEUS_MULTIPROC_DIR is not set: config/settings.py sets it from config.env")

LAST_WRITE_KEY = "wp:metrics:last_write"
# Events written per 10-second slot, kept 3 minutes: "events/s over the last minute".
WRITTEN_SLOT_KEY = "wp:metrics:written:{slot}"
SLOT_SECONDS = 10
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _counter(name: str, documentation: str, *labels: str) -> tuple[str, Counter]:
    # registry=None: these are read through MultiProcessCollector, never a per-process registry.
    return name, Counter(name, documentation, labels, registry=None)


def _histogram(name: str, documentation: str, *labels: str) -> tuple[str, Histogram]:
    return name, Histogram(name, documentation, labels, buckets=BUCKETS, registry=None)


COUNTERS = dict(
    [
        _counter("watchpoint_http_requests", "HTTP requests by view and status code.", "view", "status"),
        _counter("watchpoint_watch_events_accepted", "Watch events accepted by the endpoint (queued in the stream)."),
        _counter(
            "watchpoint_watch_batches_rejected", "Watch batches refused by the endpoint, by HTTP status.", "status"
        ),
        _counter("watchpoint_watch_events_written", "Distinct watch events written to Cassandra by drain tasks."),
        _counter("watchpoint_celery_task_retries", "Celery task retries, by task.", "task"),
        _counter("watchpoint_celery_task_failures", "Celery tasks that failed for good, by task.", "task"),
        _counter(
            "watchpoint_cassandra_rows_bound_by_driver",
            "Rows the drain's hand packers left to the driver's slower bind().",
        ),
    ]
)
HISTOGRAMS = dict(
    [
        _histogram("watchpoint_http_request_duration_seconds", "HTTP request latency by view.", "view"),
        _histogram(
            "watchpoint_cassandra_request_duration_seconds",
            "Cassandra request latency seen by the driver, by kind.",
            "kind",
            "outcome",
        ),
    ]
)


def counter_inc(name: str, amount: int = 1, *, flush: bool = True, **labels: str) -> None:
    """Add `amount` to a counter of COUNTERS with exactly its label names.

    `flush` is accepted for the callers written when increments were buffered for Redis; a write
    into the mapped file is immediate and cheap, so there is nothing left to flush.
    """
    counter = COUNTERS[name]
    (counter.labels(**labels) if labels else counter).inc(amount)


def histogram_observe(name: str, seconds: float, *, flush: bool = True, **labels: str) -> None:
    """Observe `seconds` in a histogram of HISTOGRAMS (`flush`: as for `counter_inc`)."""
    histogram = HISTOGRAMS[name]
    (histogram.labels(**labels) if labels else histogram).observe(seconds)


def events_written_record(count: int) -> None:
    """Drain tasks: count written events, and remember when and how many for `pipeline_status`."""
    counter_inc("watchpoint_watch_events_written", count)
    now = time.time()
    try:
        pipe = metrics_redis().pipeline(transaction=False)
        pipe.set(LAST_WRITE_KEY, f"{now:.3f}")
        slot_key = WRITTEN_SLOT_KEY.format(slot=int(now // SLOT_SECONDS))
        pipe.incrby(slot_key, count)
        pipe.expire(slot_key, 180)
        pipe.execute()
    except redis.RedisError:
        logger.debug("metrics: could not record a write", exc_info=True)


def metrics_collect() -> CollectorRegistry:
    """This host's counters and histograms, summed over every process's file (no scrape-time gauges)."""
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def counter_total(name: str) -> float:
    """A counter of COUNTERS summed over its label sets and this host's processes (scripts: bench)."""
    return sum(
        sample.value
        for family in metrics_collect().collect()
        for sample in family.samples
        if sample.name == f"{name}_total"
    )


@functools.cache
def _client_for(url: str) -> redis.Redis:
    # Pooled (one pool per process; redis-py reconnects in a forked child and after a Redis restart).
    # Short timeouts: a scrape or /healthz must not hang on a stalled Redis.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1, health_check_interval=30)


def metrics_redis() -> redis.Redis:
    """This process's pooled Redis client for the pipeline facts (and /healthz's Redis check)."""
    return _client_for(settings.REDIS_URL)


# --- Cassandra driver hook ------------------------------------------------------------------------


def cassandra_request_observe(response_future: Any) -> None:
    """`Session.add_request_init_listener` hook: time each request until its result or error."""
    started = time.perf_counter()
    query = response_future.query
    text = getattr(getattr(query, "prepared_statement", None), "query_string", None) or getattr(
        query, "query_string", ""
    )
    kind = "read" if str(text).lstrip().upper().startswith("SELECT") else "write"

    def done(_: Any, outcome: str) -> None:
        # The driver's event loop thread: a write into this process's mapped file, no I/O.
        histogram_observe(
            "watchpoint_cassandra_request_duration_seconds", time.perf_counter() - started, kind=kind, outcome=outcome
        )

    response_future.add_callbacks(callback=done, callback_args=("ok",), errback=done, errback_args=("error",))


# --- Scrape-time reading --------------------------------------------------------------------------


def written_per_second(*, window_seconds: int = 60) -> float:
    """Events written per second over the last full `window_seconds` (10-second slots)."""
    now_slot = int(time.time() // SLOT_SECONDS)
    slots = range(now_slot - window_seconds // SLOT_SECONDS, now_slot)
    values = metrics_redis().mget([WRITTEN_SLOT_KEY.format(slot=s) for s in slots])
    return sum(int(v or 0) for v in values) / window_seconds


def last_write_at() -> float | None:
    value = metrics_redis().get(LAST_WRITE_KEY)
    return float(value) if value else None


class WriteRateCollector(Collector):
    """Gauges read at scrape time from this module's own keys: the write rate and the last write."""

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily(
            "watchpoint_watch_events_written_per_second",
            "Events written per second over the last minute.",
            value=written_per_second(),
        )
        last = last_write_at()
        yield GaugeMetricFamily(
            "watchpoint_watch_last_write_timestamp_seconds",
            "Unix time of the last drain that wrote events (0 if none yet).",
            value=last or 0.0,
        )


CollectFunction = Callable[[], Iterable[Metric]]

_collectors: Registry[CollectFunction] = Registry("metrics collector")


def metrics_collector_register(*, name: str, collect: CollectFunction) -> None:
    """An app's scrape-time gauges: `collect()` yields metric families on every /metrics scrape.

    Registering the same function again is a no-op; another one under a taken name is a
    configuration error (`config.registry.Registry`).
    """
    _collectors.register(name, collect)


class _CallbackCollector(Collector):
    def __init__(self, collect: CollectFunction) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


def _registry() -> CollectorRegistry:
    registry = metrics_collect()
    registry.register(WriteRateCollector())
    for collect in _collectors.values():
        registry.register(_CallbackCollector(collect))
    return registry


def operator_authorized(request: HttpRequest) -> bool:
    """Staff session or `Authorization: Bearer $METRICS_TOKEN`: who may read /metrics and /healthz details."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; staff sessions or `Authorization: Bearer $METRICS_TOKEN` only."""
    if not operator_authorized(request):
        return HttpResponse("staff session or operator token required\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


class RequestMetricsMiddleware:
    """Counts and times every request by resolved view name (bounded label values)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else "unmatched"
        counter_inc("watchpoint_http_requests", view=view, status=str(response.status_code))
        histogram_observe("watchpoint_http_request_duration_seconds", time.perf_counter() - started, view=view)
        return response
