"""Operational metrics: counters kept in Redis, gauges computed at scrape time, `/metrics` for Prometheus.

Why Redis and not prometheus-client's multiprocess mode: the numbers come from gunicorn workers,
Celery prefork children (recycled by worker_max_memory_per_child) and, in production, several hosts.
Multiprocess mode needs a shared PROMETHEUS_MULTIPROC_DIR per host, wiped at every start, and a
scrape per host; Redis is already shared by every process of the site, so one `/metrics` on any web
process shows the whole site. Counters survive process restarts (not a Redis flush: Prometheus reads
a drop as a counter reset, as it does for a restarted process).

Cost: observations are buffered in the process and flushed to Redis in one pipelined round trip at
most once per FLUSH_SECONDS (and at the end of each drain task), so a request does not pay a Redis
call per metric. The Cassandra driver's callbacks (its event loop thread) only buffer, never flush.
Metrics never break the caller: a Redis error drops the buffered increments and logs at DEBUG.

This module imports no app: it has its own Redis client (same REDIS_URL as the stream), and gauges
that need an app's data (the watch pipeline's depths and caps) come from collectors the app registers
with `metrics_collector_register` from its `AppConfig.ready()`.
"""

from __future__ import annotations

import functools
import hmac
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

KEY = "wp:metrics"
LAST_WRITE_KEY = "wp:metrics:last_write"
# Events written per 10-second slot, kept 3 minutes: "events/s over the last minute".
WRITTEN_SLOT_KEY = "wp:metrics:written:{slot}"
SLOT_SECONDS = 10
FLUSH_SECONDS = 1.0
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

COUNTERS = {
    "watchpoint_http_requests": "HTTP requests by view and status code.",
    "watchpoint_watch_events_accepted": "Watch events accepted by the endpoint (queued in the stream).",
    "watchpoint_watch_batches_rejected": "Watch batches refused by the endpoint, by HTTP status.",
    "watchpoint_watch_events_written": "Distinct watch events written to Cassandra by drain tasks.",
    "watchpoint_celery_task_retries": "Celery task retries, by task.",
    "watchpoint_celery_task_failures": "Celery tasks that failed for good, by task.",
    "watchpoint_cassandra_rows_bound_by_driver": "Rows the drain's hand packers left to the driver's slower bind().",
}
HISTOGRAMS = {
    "watchpoint_http_request_duration_seconds": "HTTP request latency by view.",
    "watchpoint_cassandra_request_duration_seconds": "Cassandra request latency seen by the driver, by kind.",
}


class _Buffer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ints: dict[str, int] = defaultdict(int)
        self.floats: dict[str, float] = defaultdict(float)
        self.last_flush = time.monotonic()


_buffer = _Buffer()


def _field(name: str, labels: dict[str, str]) -> str:
    return name + "|" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _parse(field: str) -> tuple[str, dict[str, str]]:
    name, _, encoded = field.partition("|")
    labels = dict(item.split("=", 1) for item in encoded.split(",") if item)
    return name, labels


def counter_inc(name: str, amount: int = 1, *, flush: bool = True, **labels: str) -> None:
    if name not in COUNTERS:
        raise KeyError(name)
    with _buffer.lock:
        _buffer.ints[_field(name, labels)] += amount
    if flush:
        metrics_flush()


def histogram_observe(name: str, seconds: float, *, flush: bool = True, **labels: str) -> None:
    if name not in HISTOGRAMS:
        raise KeyError(name)
    bucket = next((str(b) for b in BUCKETS if seconds <= b), "+Inf")
    with _buffer.lock:
        _buffer.ints[_field(f"{name}:bucket", {**labels, "le": bucket})] += 1
        _buffer.ints[_field(f"{name}:count", labels)] += 1
        _buffer.floats[_field(f"{name}:sum", labels)] += seconds
    if flush:
        metrics_flush()


def events_written_record(count: int) -> None:
    """Drain tasks: count written events, remember when, and feed the events/s window."""
    counter_inc("watchpoint_watch_events_written", count, flush=False)
    now = time.time()
    try:
        pipe = _client().pipeline(transaction=False)
        pipe.set(LAST_WRITE_KEY, f"{now:.3f}")
        slot_key = WRITTEN_SLOT_KEY.format(slot=int(now // SLOT_SECONDS))
        pipe.incrby(slot_key, count)
        pipe.expire(slot_key, 180)
        pipe.execute()
    except redis.RedisError:
        logger.debug("metrics: could not record a write", exc_info=True)
    metrics_flush(force=True)


def metrics_flush(*, force: bool = False) -> None:
    """Push buffered increments to Redis (at most once per FLUSH_SECONDS unless forced)."""
    if not force and time.monotonic() - _buffer.last_flush < FLUSH_SECONDS:
        return
    with _buffer.lock:
        ints, floats = dict(_buffer.ints), dict(_buffer.floats)
        _buffer.ints.clear()
        _buffer.floats.clear()
        _buffer.last_flush = time.monotonic()
    if not ints and not floats:
        return
    try:
        pipe = _client().pipeline(transaction=False)
        for field, amount in ints.items():
            pipe.hincrby(KEY, field, amount)
        for field, value in floats.items():
            pipe.hincrbyfloat(KEY, field, value)
        pipe.execute()
    except redis.RedisError:
        logger.debug("metrics: dropped %d buffered increments", len(ints) + len(floats), exc_info=True)


@functools.cache
def _client_for(url: str) -> redis.Redis:
    # Pooled (one pool per process; redis-py reconnects in a forked child and after a Redis restart).
    # Short timeouts: a request flushing its metrics must not hang on a stalled Redis.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1, health_check_interval=30)


def metrics_redis() -> redis.Redis:
    """This process's pooled Redis client for metrics (and /healthz's Redis check)."""
    return _client_for(settings.REDIS_URL)


def _client() -> redis.Redis:
    return metrics_redis()


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
        # The driver's event loop thread: buffer only (no Redis call here).
        histogram_observe(
            "watchpoint_cassandra_request_duration_seconds",
            time.perf_counter() - started,
            flush=False,
            kind=kind,
            outcome=outcome,
        )

    response_future.add_callbacks(callback=done, callback_args=("ok",), errback=done, errback_args=("error",))


# --- Scrape-time reading --------------------------------------------------------------------------


def written_per_second(*, window_seconds: int = 60) -> float:
    """Events written per second over the last full `window_seconds` (10-second slots)."""
    now_slot = int(time.time() // SLOT_SECONDS)
    slots = range(now_slot - window_seconds // SLOT_SECONDS, now_slot)
    values = _client().mget([WRITTEN_SLOT_KEY.format(slot=s) for s in slots])
    return sum(int(v or 0) for v in values) / window_seconds


def last_write_at() -> float | None:
    value = _client().get(LAST_WRITE_KEY)
    return float(value) if value else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisCountersCollector(Collector):
    def collect(self) -> Iterator[Any]:
        raw = {_text(k): _text(v) for k, v in _client().hgetall(KEY).items()}
        counters: dict[str, CounterMetricFamily] = {}
        counter_labels: dict[str, list[str]] = {}
        for name, help_text in COUNTERS.items():
            counter_labels[name] = sorted({k for f in raw if f.startswith(name + "|") for k in _parse(f)[1]})
            counters[name] = CounterMetricFamily(name, help_text, labels=counter_labels[name])
        histograms: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
        for field, value in raw.items():
            name, labels = _parse(field)
            if name in counters:
                counters[name].add_metric([labels.get(k, "") for k in counter_labels[name]], float(value))
                continue
            base, _, part = name.partition(":")
            if base not in HISTOGRAMS:
                continue
            le = labels.pop("le", None)
            entry = histograms.setdefault((base, tuple(sorted(labels.items()))), {"buckets": {}, "sum": 0.0})
            if part == "bucket" and le is not None:
                entry["buckets"][le] = int(value)
            elif part == "sum":
                entry["sum"] = float(value)
        yield from counters.values()
        for base, help_text in HISTOGRAMS.items():
            series = {k: v for k, v in histograms.items() if k[0] == base}
            label_names = sorted({name for (_, items) in series for name, _ in items})
            family = HistogramMetricFamily(base, help_text, labels=label_names)
            for (_, items), entry in sorted(series.items()):
                labels = dict(items)
                cumulative, buckets = 0, []
                for bound in [*map(str, BUCKETS), "+Inf"]:
                    cumulative += entry["buckets"].get(bound, 0)
                    buckets.append((bound, cumulative))
                family.add_metric([labels.get(k, "") for k in label_names], buckets, entry["sum"])
            yield family


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

_collectors: dict[str, CollectFunction] = {}


def metrics_collector_register(*, name: str, collect: CollectFunction) -> None:
    """An app's scrape-time gauges: `collect()` yields metric families on every /metrics scrape.

    Registering the same function again is a no-op (`ready()` can run twice); another one under a
    taken name is a configuration error, as in `config.probes.probe_register`.
    """
    existing = _collectors.get(name)
    if existing is not None and existing is not collect:
        raise ImproperlyConfigured(f"metrics collector {name!r} is already registered")
    _collectors[name] = collect


class _CallbackCollector(Collector):
    def __init__(self, collect: CollectFunction) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCountersCollector())
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
        counter_inc("watchpoint_http_requests", flush=False, view=view, status=str(response.status_code))
        histogram_observe("watchpoint_http_request_duration_seconds", time.perf_counter() - started, view=view)
        return response
