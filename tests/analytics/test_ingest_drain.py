"""The drain's cheaper binding and grouping write exactly what the driver's own binding would."""

from __future__ import annotations

import random
import uuid
from datetime import date
from typing import Any

import pytest
from cassandra.query import BatchStatement, BatchType

from analytics.cassandra import (
    BatchPacker,
    cassandra_execute_all,
    cassandra_keyspace,
    cassandra_prepared,
    cassandra_session,
)
from analytics.schemas import MAX_PLAYBACK_RATE, MAX_POSITION
from analytics.services import (
    ADD_COVERAGE,
    INSERT_EVENT,
    ROWS_PER_BATCH,
    SET_ELEMENTS_PER_BATCH,
    _event_batches,
)
from tests.conftest import CASSANDRA_DBS

pytestmark = pytest.mark.django_db(databases=CASSANDRA_DBS)


def test_hand_bound_event_rows_serialize_exactly_as_the_drivers_bind():
    insert = cassandra_prepared(INSERT_EVENT)
    rng = random.Random(5)
    sessions = [(rng.randrange(1, 2**63), uuid.uuid4()) for _ in range(4)]
    cells: dict[tuple[int, uuid.UUID, int], tuple[int, float]] = {}
    # Edge values of every column (the ranges WatchBatch.from_json admits), then random ones.
    cells[(*sessions[0], 0)] = (0, 0.0625)
    cells[(*sessions[1], MAX_POSITION)] = (2**53 - 1, float(MAX_PLAYBACK_RATE))
    while len(cells) < 2 * ROWS_PER_BATCH + 7:
        video_id, session_id = rng.choice(sessions)
        cells[(video_id, session_id, rng.randrange(0, MAX_POSITION))] = (rng.randrange(0, 2**53), rng.random() * 4)
    user_id, day = 2**62 + 3, date(2026, 12, 1)

    batches = _event_batches(insert, user_id, day, cells)

    expected = []
    rows = list(cells.items())
    for start in range(0, len(rows), ROWS_PER_BATCH):
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for (video_id, session_id, position), (client_ts, rate) in rows[start : start + ROWS_PER_BATCH]:
            batch.add(insert, (user_id, day, video_id, session_id, position, client_ts, rate))
        expected.append(batch)
    assert len(batches) == len(expected) == 3
    for got, want in zip(batches, expected, strict=True):
        assert got._statements_and_parameters == want._statements_and_parameters
        assert got.routing_key == want.routing_key
        assert got.keyspace == want.keyspace


def test_packed_batches_stay_under_the_row_and_set_element_bounds():
    insert = cassandra_prepared(INSERT_EVENT)

    def rows(n: int, elements: int, user_id: int = 1) -> list[tuple[Any, tuple[Any, ...], int]]:
        values = (user_id, date(2026, 12, 1), 1, uuid.UUID(int=1, version=4))
        return [(insert, (*values, i, 0, 1.0), elements) for i in range(n)]

    def sizes(*groups: list[tuple[Any, tuple[Any, ...], int]]) -> list[int]:
        packer = BatchPacker(max_rows=ROWS_PER_BATCH, max_elements=SET_ELEMENTS_PER_BATCH)
        for group in groups:
            packer.rows(group)
        out = []
        for batch, values in packer.requests():
            assert values == ()
            assert batch.batch_type == BatchType.UNLOGGED
            out.append(len(batch._statements_and_parameters))
        return out

    per_batch = SET_ELEMENTS_PER_BATCH // 200
    # Rows carrying a session's 200 seconds each: bounded by set elements, not by rows.
    assert sizes(rows(50, 200)) == [per_batch] * (50 // per_batch) + ([50 % per_batch] if 50 % per_batch else [])
    assert sizes(rows(250, 1)) == [ROWS_PER_BATCH, ROWS_PER_BATCH, 50]
    # One node: every partition has the same replica, so small partitions share requests.
    assert sizes(*(rows(3, 1, user_id=u) for u in range(1, 101))) == [ROWS_PER_BATCH] * 3


def test_packed_rows_reach_cassandra_as_written():
    """Hand-bound partitions merged whole, and driver-bound rows, all stored (one node)."""
    packer = BatchPacker(max_rows=ROWS_PER_BATCH, max_elements=SET_ELEMENTS_PER_BATCH)
    add = cassandra_prepared(ADD_COVERAGE)
    insert = cassandra_prepared(INSERT_EVENT)
    session_id = uuid.uuid4()
    day = date(2026, 12, 1)
    for user_id in range(900_001, 900_041):
        cells = {(7, session_id, p): (1_700_000_000_000 + p, 1.0) for p in range(user_id % 5 + 1)}
        for batch in _event_batches(insert, user_id, day, cells):
            packer.batch(batch)
        packer.rows([(add, ({user_id % 64}, user_id, 7, 0), 1)])
    requests = packer.requests()
    assert len(requests) < 40  # 40 members' 80 partitions in fewer requests than members

    cassandra_execute_all(requests)
    ks = cassandra_keyspace()
    for user_id in (900_001, 900_017, 900_040):
        events = cassandra_session().execute(
            f"SELECT position FROM {ks}.watch_events WHERE user_id = %s AND day = %s", (user_id, day)
        )
        assert sorted(row.position for row in events) == list(range(user_id % 5 + 1))
        coverage = cassandra_session().execute(
            f"SELECT seconds FROM {ks}.member_video_coverage WHERE user_id = %s AND video_id = 7 AND bucket = 0",
            (user_id,),
        )
        assert coverage.one().seconds == {user_id % 64}
