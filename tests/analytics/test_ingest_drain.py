"""The drain's own binding and packing write exactly what the driver's binding would."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cassandra.query import BatchStatement, BatchType

from analytics import drain, recount
from analytics.acceptance import MAX_PLAYBACK_RATE, MAX_POSITION
from analytics.cassandra import (
    ROWS_PER_BATCH,
    SET_ELEMENTS_PER_BATCH,
    BatchPacker,
    cassandra_execute_all,
    cassandra_keyspace,
    cassandra_prepared,
    cassandra_row_encode,
    cassandra_session,
)
from analytics.drain import ADD_COVERAGE, INSERT_EVENT
from analytics.models import VIDEO_MEMBER_SHARDS
from tests.conftest import CASSANDRA_DBS

pytestmark = pytest.mark.django_db(databases=CASSANDRA_DBS)

BIG = 2**63 - 1
SESSION = uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff")
# Every statement the drain and the recount bind by hand, with the edge values of each column
# (the ranges WatchBatch.from_json admits, the widest ids and sets) and ordinary ones.
ROWS: dict[str, list[tuple[Any, ...]]] = {
    "INSERT_EVENT": [
        (BIG, date(2026, 12, 1), BIG, SESSION, MAX_POSITION, 2**53 - 1, float(MAX_PLAYBACK_RATE)),
        (1, date(1970, 1, 1), 1, uuid.UUID(int=0), 0, 0, 0.0625),
        (42, date(2199, 12, 31), 7, uuid.uuid4(), 61, 1_764_547_200_000, 1.25),
    ],
    "INSERT_MEMBER_DAY": [(BIG, date(2026, 12, 1), BIG), (1, date(1969, 12, 31), 0)],
    "ADD_COVERAGE": [({0, 63}, BIG, BIG, 0), (set(range(64)), 5, 6, MAX_POSITION // 64), (set(), 1, 1, 1)],
    "UPDATE_RESUME": [(2**53 * 1000, MAX_POSITION, 2**53 - 1, SESSION, BIG, BIG), (0, 0, 0, uuid.uuid4(), 1, 1)],
    "INSERT_CHANGE": [(2**31 - 1, BIG, date(2026, 12, 1)), (0, 1, date(1970, 1, 2))],
    "ADD_SESSION_SECONDS": [
        (set(range(200)), BIG, date(2026, 12, 1), BIG, SESSION),
        ({5}, 1, date(2000, 2, 29), 2, uuid.uuid4()),
    ],
    "ADD_VIDEO_MEMBER": [({1, 2, 3}, BIG, VIDEO_MEMBER_SHARDS - 1, BIG), ({MAX_POSITION}, 1, 0, 1)],
    "UPDATE_WATCHED": [(2**62, {0: 64, 112: 1}, BIG, BIG), (1, {}, 1, 1)],
}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_hand_bound_rows_serialize_exactly_as_the_drivers_bind(name):
    statement = cassandra_prepared(getattr(drain, name, None) or getattr(recount, name))
    for values in ROWS[name]:
        bound = statement.bind(values)
        assert cassandra_row_encode(statement, values) == list(bound.values)


def test_a_value_the_packers_do_not_take_falls_back_to_the_drivers_bind():
    statement = cassandra_prepared(recount.UPDATE_WATCHED)
    values = (1, {0: None}, 2, 3)  # a null map value: struct cannot pack it, the driver can
    assert cassandra_row_encode(statement, values) == list(statement.bind(values).values)


def test_packed_batches_route_by_their_first_partition_as_the_driver_would():
    insert = cassandra_prepared(INSERT_EVENT)
    packer = BatchPacker(max_rows=ROWS_PER_BATCH, max_elements=SET_ELEMENTS_PER_BATCH)
    packer.rows([(insert, ROWS["INSERT_EVENT"][0], 0)])
    ((batch, _),) = packer.requests()
    driver = BatchStatement(batch_type=BatchType.UNLOGGED)
    driver.add(insert, ROWS["INSERT_EVENT"][0])
    assert len(batch) == len(driver) == 1
    assert (batch.routing_key, batch.keyspace) == (driver.routing_key, driver.keyspace)
    assert batch.routing_key == insert.bind(ROWS["INSERT_EVENT"][0]).routing_key


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
            out.append(len(batch))
        return out

    per_batch = SET_ELEMENTS_PER_BATCH // 200
    # Rows carrying a session's 200 seconds each: bounded by set elements, not by rows.
    assert sizes(rows(50, 200)) == [per_batch] * (50 // per_batch) + ([50 % per_batch] if 50 % per_batch else [])
    assert sizes(rows(250, 1)) == [ROWS_PER_BATCH, ROWS_PER_BATCH, 50]
    # One node: every partition has the same replica, so small partitions share requests.
    assert sizes(*(rows(3, 1, user_id=u) for u in range(1, 101))) == [ROWS_PER_BATCH] * 3


def test_packed_rows_reach_cassandra_as_written():
    """Many members' partitions in shared requests, all stored (one node)."""
    packer = BatchPacker(max_rows=ROWS_PER_BATCH, max_elements=SET_ELEMENTS_PER_BATCH)
    add = cassandra_prepared(ADD_COVERAGE)
    insert = cassandra_prepared(INSERT_EVENT)
    session_id = uuid.uuid4()
    day = date(2026, 12, 1)
    for user_id in range(900_001, 900_041):
        positions = range(user_id % 5 + 1)
        packer.rows([(insert, (user_id, day, 7, session_id, p, 1_700_000_000_000 + p, 1.0), 0) for p in positions])
        packer.rows([(add, ({user_id % 64}, user_id, 7, 0), 1)])
    requests = packer.requests()
    # One node has one replica set: the 40 members' 160 rows (80 partitions) fill requests in order.
    rows = sum(user_id % 5 + 2 for user_id in range(900_001, 900_041))
    assert [len(batch) for batch, _ in requests] == [ROWS_PER_BATCH, rows - ROWS_PER_BATCH]

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


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_a_row_the_hand_packers_cannot_take_is_bound_by_the_driver_and_logged(caplog):
    statement = cassandra_prepared(INSERT_EVENT)
    # A datetime for the timestamp column: the packers take ms as an int only.
    values = (1, date(2026, 1, 1), 2, uuid.uuid4(), 3, datetime(2026, 1, 1, tzinfo=UTC), 1.0)

    with caplog.at_level("WARNING", logger="analytics.cassandra"):
        encoded = cassandra_row_encode(statement, values)

    assert encoded == list(statement.bind(values).values)
    assert "bound by the driver (slow path)" in caplog.text
