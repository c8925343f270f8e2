"""`/healthz`: is every service this site needs answering? For load balancers and operators."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from analytics.cassandra import READ_PROFILE, cassandra_session
from config.celery_app import app as celery_app
from config.pipeline import pipeline_depths


def _database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()


def _cassandra() -> None:
    cassandra_session().execute("SELECT release_version FROM system.local", execution_profile=READ_PROFILE, timeout=2)


def _celery() -> None:
    # A fresh broker connection each time: a pooled one may be stale after a Redis restart.
    with celery_app.connection_for_write() as connection:
        if not celery_app.control.ping(timeout=1.0, connection=connection):
            raise RuntimeError("no worker answered ping")


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "redis": _redis,
    "cassandra": _cassandra,
    "celery": _celery,
}


def _pipeline() -> dict[str, object] | None:
    # Informational: a deep queue is not "down" (the workers may be catching up); operators and
    # alerts read the depths and the oldest batch's age. None when Redis does not answer.
    try:
        depths = pipeline_depths()
    except redis.RedisError:
        return None
    age = depths.oldest_age_seconds
    return {
        "queues": depths.queues,
        "watch_stream_pending": depths.stream_pending,
        "watch_dead_letters": depths.dead_letters,
        "oldest_batch_age_seconds": None if age is None else round(age, 1),
    }


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    # Only the failing exception's class name goes out: messages can carry hosts or credentials.
    report: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            report[name] = {"ok": False, "error": type(exc).__name__}
        else:
            report[name] = {"ok": True}
        report[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    down = [name for name, result in report.items() if not result["ok"]]
    body = {"status": "down" if down else "ok", "down": down, "checks": report, "pipeline": _pipeline()}
    return JsonResponse(body, status=503 if down else 200)
