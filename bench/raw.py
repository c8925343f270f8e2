"""Stage 1: synthetic events straight into the raw-event table, one process, driver only (prepared
statement, one UNLOGGED batch per watch batch, execute_concurrent)."""

from __future__ import annotations

import time

from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType

from analytics.acceptance import WatchBatch
from analytics.cassandra import cassandra_session
from bench.common import utc_from_ms


def stage_raw(batches: list[WatchBatch]) -> float:
    session = cassandra_session()
    insert = session.prepare(
        "INSERT INTO bench_raw.watch_events (user_id, day, video_id, session_id, position, client_ts, rate) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    started = time.perf_counter()
    statements = []
    for batch in batches:
        stmt = BatchStatement(batch_type=BatchType.UNLOGGED)
        for position, ts, rate in batch.events:
            stmt.add(
                insert,
                (
                    batch.user_id,
                    utc_from_ms(ts).date(),
                    batch.video_id,
                    batch.session_id,
                    position,
                    utc_from_ms(ts),
                    rate,
                ),
            )
        statements.append((stmt, ()))
    execute_concurrent(session, statements, concurrency=128, raise_on_first_error=True)
    return time.perf_counter() - started
