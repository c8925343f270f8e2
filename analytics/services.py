"""Writes of the analytics app: watch events into Cassandra (run by Celery workers)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime

from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType

from analytics.cassandra import cassandra_prepared, cassandra_session

INSERT_EVENT = (
    "INSERT INTO {ks}.watch_events (user_id, day, video_id, session_id, position, client_ts, rate) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INSERT_MEMBER_DAY = "INSERT INTO {ks}.member_watch_days (user_id, day, video_id) VALUES (?, ?, ?)"
# The cell timestamp is the client's event time (µs): newest by the member's clock wins.
UPSERT_RESUME = (
    "INSERT INTO {ks}.resume_positions (user_id, video_id, position, client_ts, session_id) "
    "VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?"
)

# (position, client_ts in ms since epoch, playback rate)
EventTuple = tuple[int, int, float]


def watch_batch_record(*, user_id: int, video_id: int, session_id: uuid.UUID, events: Sequence[EventTuple]) -> None:
    """Store one batch of watch seconds. Idempotent: replaying a batch rewrites identical cells.

    Raw events go as one UNLOGGED batch per (member, day) partition (a single-partition batch is
    atomic and one round trip); the resume position and the member's day index go alongside, all
    concurrently. Raises the driver's exception if any write fails, so the caller retries it whole.
    """
    if not events:
        return
    insert_event = cassandra_prepared(INSERT_EVENT)
    insert_day = cassandra_prepared(INSERT_MEMBER_DAY)
    upsert_resume = cassandra_prepared(UPSERT_RESUME)

    by_day: dict[date, list[EventTuple]] = defaultdict(list)
    for event in events:
        by_day[_utc(event[1]).date()].append(event)

    statements: list[tuple[object, tuple[object, ...]]] = []
    for day, day_events in by_day.items():
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for position, client_ts, rate in day_events:
            batch.add(insert_event, (user_id, day, video_id, session_id, position, _utc(client_ts), rate))
        statements.append((batch, ()))
        statements.append((insert_day, (user_id, day, video_id)))

    position, client_ts, _ = max(events, key=lambda e: (e[1], e[0]))
    statements.append((upsert_resume, (user_id, video_id, position, _utc(client_ts), session_id, client_ts * 1000)))

    results = execute_concurrent(cassandra_session(), statements, concurrency=16, raise_on_first_error=True)
    for ok, result in results:
        if not ok:  # pragma: no cover - raise_on_first_error raises before this
            raise result


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
