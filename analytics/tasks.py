"""Celery tasks of the analytics app: deserialize, call a service, own the retries."""

from __future__ import annotations

import uuid
from typing import Any

from cassandra import DriverException, OperationTimedOut, Unavailable, WriteTimeout
from cassandra.cluster import NoHostAvailable
from celery import shared_task

from analytics.services import watch_batch_record

# Transient Cassandra failures: retry the whole batch (idempotent) with capped, jittered backoff.
CASSANDRA_TRANSIENT = (NoHostAvailable, OperationTimedOut, Unavailable, WriteTimeout, DriverException)


@shared_task(
    name="analytics.watch_batch_record",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=CASSANDRA_TRANSIENT,
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=None,
)
def watch_batch_record_task(batch: dict[str, Any]) -> None:
    watch_batch_record(
        user_id=int(batch["user_id"]),
        video_id=int(batch["video_id"]),
        session_id=uuid.UUID(batch["session_id"]),
        events=[(int(p), int(t), float(r)) for p, t, r in batch["events"]],
    )
