"""Celery tasks of the analytics app: deserialize, call a service, own the retries."""

from __future__ import annotations

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable
from celery import shared_task
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from analytics.services import watch_stream_drain
from analytics.stream import consumer_name

# Transient failures: the entries stay pending in the stream; retry with capped, jittered backoff.
TRANSIENT = (NoHostAvailable, DriverException, RedisConnectionError, RedisTimeoutError)


@shared_task(
    name="analytics.watch_stream_drain",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=None,
    ignore_result=True,
)
def watch_stream_drain_task() -> int:
    result = watch_stream_drain(consumer=consumer_name(), budget_seconds=settings.WATCH_DRAIN_BUDGET_SECONDS)
    if result.more:
        watch_stream_drain_task.delay()
    return result.events
