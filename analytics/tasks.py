"""Celery tasks of the analytics app: deserialize, call a service, own the retries."""

from __future__ import annotations

import contextlib

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable
from celery import shared_task
from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError
from redis.exceptions import TimeoutError as RedisTimeoutError

from analytics.cassandra import cassandra_reset
from analytics.drain import watch_stream_drain
from analytics.stream import consumer_name, stream_client
from config.metrics import events_written_record
from config.task_policies import TaskRetry


@worker_process_init.connect
def _fresh_cassandra_session_after_fork(**_: object) -> None:
    # A driver Session owns sockets and threads; one inherited across fork() is broken in the
    # child. Each prefork child therefore opens its own, on first use. (The worker imports this
    # module, through autodiscovery, before it forks its pool.)
    cassandra_reset()


@worker_ready.connect
def _drain_what_a_previous_worker_left(**_: object) -> None:
    # Entries a killed worker took but never acknowledged are claimed by the next drain.
    watch_stream_drain_task.delay()


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
    result = watch_stream_drain(
        consumer=consumer_name(),
        budget_seconds=settings.WATCH_DRAIN_BUDGET_SECONDS,
        count=settings.WATCH_DRAIN_ROUND_BATCHES,
    )
    if result.events:
        events_written_record(result.events)
    if result.more:
        watch_stream_drain_task.delay()
    return result.events


# No retries: the next beat tick (15 s later) starts from the durable checkpoint.
@shared_task(name="analytics.rollups_refresh", ignore_result=True)
def rollups_refresh_task() -> int:
    from analytics.rollups import rollups_refresh

    # One run at a time (a slow run must not pile up beside the next beat tick); the lock expires if
    # its holder dies. Overlap would still be correct (writes carry read times), only wasteful.
    lock = stream_client().lock("wp:rollups:lock", timeout=300, blocking=False)
    if not lock.acquire():
        return 0
    try:
        return rollups_refresh().days
    finally:
        with contextlib.suppress(LockError):  # expired during a very long run
            lock.release()


# The students report's tasks are recomputations (idempotent): acked late and retried on transient
# failures like the drain. A recount gives up after 10 tries (the next change or the rebuild
# command recounts the course); a member refresh never does, as nothing else would redo it.
STUDENTS_RETRY: TaskRetry = {
    "acks_late": True,
    "autoretry_for": (*TRANSIENT, DatabaseError),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "ignore_result": True,
}
RECOUNT_RETRY: TaskRetry = {**STUDENTS_RETRY, "max_retries": 10}
REFRESH_RETRY: TaskRetry = {**STUDENTS_RETRY, "max_retries": None}


@shared_task(name="analytics.course_members_recount", **RECOUNT_RETRY)
def course_members_recount_task(playlist_id: int) -> int:
    from analytics.students import course_members_recount

    return course_members_recount(playlist_id=playlist_id)


@shared_task(name="analytics.course_members_refresh", **REFRESH_RETRY)
def course_members_refresh_task(touched: list[tuple[int, int]]) -> int:
    from analytics.students import course_members_refresh

    return course_members_refresh(touched=[(int(u), int(v)) for u, v in touched])
