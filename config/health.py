"""`/healthz`: is every service this site needs answering? For load balancers and operators.

Anonymous callers (load balancers) get only `{"status": "ok"}` (200) or `{"status": "down"}` (503).
Staff sessions and `Authorization: Bearer $METRICS_TOKEN` (the /metrics rule, one function) also get
the details: each check's result and time, what is down, the pipeline's depths and any warnings.
Warnings (a backlog near its cap) never change the status: a backlog is not an outage, and an
anonymous caller has no business learning that the ingest path is filling up.

The checks are config's own (database, Redis) plus the probes apps register in `config.probes`;
config imports no app module.

Cached per process: the checks run at most once per CACHE_SECONDS. Why a lock-guarded cache refreshed
by a request, not a background refresher thread: a thread started at import or in `ready()` does not
survive gunicorn's or Celery's fork (it would have to be started lazily per process anyway), it probes
even when nobody asks, and it makes tests depend on a clock. Here exactly one request per process runs
the probes when the last report is older than CACHE_SECONDS; concurrent requests meanwhile answer
from the last report at once (the very first caller in a process waits for that one run). Before,
every call waited the whole 1 s Celery ping and opened fresh Redis and broker connections, so ~18
calls/s occupied every web thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from config.metrics import metrics_redis, operator_authorized
from config.probes import Probe, ProbeReport, probes_run

CACHE_SECONDS = 5.0


def _database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    metrics_redis().ping()


CHECKS: Mapping[str, Probe] = {"database": _database, "redis": _redis}


@dataclass(frozen=True)
class HealthReport:
    reports: tuple[ProbeReport, ...]
    checked_at: float  # time.monotonic()

    @property
    def down(self) -> list[str]:
        return [r.name for r in self.reports if r.critical and not r.ok]


class _Cache:
    def __init__(self) -> None:
        self.refresh_lock = threading.Lock()  # held by the one request running the probes
        self.report: HealthReport | None = None


_cache = _Cache()


def _fresh(report: HealthReport | None, max_age: float) -> bool:
    return report is not None and time.monotonic() - report.checked_at < max_age


def health_report(*, max_age: float = CACHE_SECONDS) -> HealthReport:
    """The last report if younger than `max_age`, else a new one (one refresh at a time per process)."""
    cached = _cache.report
    if cached is not None and _fresh(cached, max_age):
        return cached
    # Another thread refreshing: serve the last report rather than probing in parallel. With no report
    # yet there is nothing to serve, so wait for that run (and use its result: no second run).
    if cached is None:
        _cache.refresh_lock.acquire()
    elif not _cache.refresh_lock.acquire(blocking=False):
        return cached
    try:
        current = _cache.report
        if current is None or current is cached:
            current = HealthReport(reports=tuple(probes_run(CHECKS)), checked_at=time.monotonic())
            _cache.report = current
        return current
    finally:
        _cache.refresh_lock.release()


def health_cache_clear() -> None:
    """Forget the cached report (tests; the next call probes)."""
    _cache.report = None


def _details(report: HealthReport) -> dict[str, object]:
    # Only each failing probe's exception class name goes out: messages can carry hosts or credentials.
    checks: dict[str, dict[str, object]] = {}
    body: dict[str, object] = {}
    warnings: list[str] = []
    for r in report.reports:
        warnings.extend(r.warnings)
        if r.critical:
            checks[r.name] = {"ok": r.ok, "ms": r.ms} | ({} if r.ok else {"error": r.error})
        if r.details is not None or not r.critical:
            body[r.name] = None if r.details is None else dict(r.details)
    return {
        "down": report.down,
        "checks": checks,
        **body,
        "warnings": warnings,
        "checked_seconds_ago": round(time.monotonic() - report.checked_at, 1),
    }


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    down = report.down
    body: dict[str, object] = {"status": "down" if down else "ok"}
    if operator_authorized(request):
        body |= _details(report)
    return JsonResponse(body, status=503 if down else 200)
