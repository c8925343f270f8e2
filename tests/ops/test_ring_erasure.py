"""On a real 3-node ring (RF 3): an erasure that a replica missed stays erased, and BatchPacker sends the
rows of many partitions as one request when every node holds every row.

The ring, its keyspace and the fixtures are tests/ops/test_ring.py's (this module boots its own ring on
127.0.0.11-13; the developer's node on 127.0.0.1 is not touched).
"""

from __future__ import annotations

import re
import shlex
import time
from datetime import timedelta
from typing import Any

import pytest
from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement

from analytics.cassandra import BatchPacker, cassandra_keyspace, cassandra_prepared, cassandra_session
from analytics.drain import watch_batches_store
from analytics.erasure import member_watch_data_erase
from analytics.rollups import rollups_refresh
from tests.analytics.rollup_oracle import day_start_ms, session_batches, today
from tests.config.test_cassandra_schema import erasure_tables
from tests.conftest import ROOT, wait_until
from tests.factories import MemberFactory, VideoFactory
from tests.ops.test_ring import (  # noqa: F401 (ring, on_ring: the fixtures)
    KEYSPACE,
    cassandra_script,
    nodetool,
    nodetool_each,
    on_ring,
    ring,
    ring_status,
)

pytestmark = [
    pytest.mark.ring,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(900),
    pytest.mark.usefixtures("on_ring"),
]

# Shortened for the test (production: 1 day on the TWCS tables, Cassandra's 10 days elsewhere): the
# age after which a tombstone may be purged, and the lifetime of a hint (Cassandra drops hints older
# than the table's gc_grace_seconds).
GC_GRACE_SECONDS = 5


def scheduled_repair_args() -> list[str]:
    """The nodetool arguments of deploy/cassandra-repair.service, for this ring's keyspace."""
    unit = (ROOT / "deploy" / "cassandra-repair.service").read_text()
    keyspace = re.search(r"^Environment=KEYSPACE=(\S+)$", unit, re.M)
    command = re.search(r"^ExecStart=(.+)$", unit, re.M)
    assert keyspace, unit
    assert command, unit
    args = shlex.split(command[1].replace("${KEYSPACE}", KEYSPACE))
    assert args[0].endswith("/nodetool"), args
    return args[1:]


def rows_of_member(user_id: int) -> dict[str, int]:
    """Rows whose user_id is the member's, per table of the keyspace, read at ALL (every replica of
    every partition answers; a replica still holding a row makes the read return it)."""
    session = cassandra_session()
    ks = cassandra_keyspace()
    tables = [
        row.table_name
        for row in session.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (ks,))
    ]
    found: dict[str, int] = {}
    for table in tables:
        statement = SimpleStatement(f"SELECT * FROM {ks}.{table}", consistency_level=ConsistencyLevel.ALL)
        count = sum(1 for row in session.execute(statement, timeout=60) if getattr(row, "user_id", None) == user_id)
        if count:
            found[table] = count
    return found


def watch_history_store(*, user_id: int, video_ids: list[int]) -> None:
    """Two days of watching of each video, through the ingestion path's store, then the rollups."""
    start, yesterday = day_start_ms(today()) + 60_000, day_start_ms(today() - timedelta(days=1)) + 3_600_000
    for video_id in video_ids:
        watch_batches_store(batches=session_batches(user_id, video_id, list(range(40)), start_ms=yesterday))
        watch_batches_store(batches=session_batches(user_id, video_id, list(range(20, 60)), start_ms=start))
    rollups_refresh()  # video_day_members: written only by the rollup recomputation


def test_an_erasure_a_replica_missed_stays_erased_after_compaction_and_the_scheduled_repair():
    session = cassandra_session()
    tables = sorted(erasure_tables())
    for table in tables:
        session.execute(f"ALTER TABLE {KEYSPACE}.{table} WITH gc_grace_seconds = {GC_GRACE_SECONDS}", timeout=60)
    leaving: Any = MemberFactory()
    staying: Any = MemberFactory()
    videos = [VideoFactory(members_only=False, duration=600).pk for _ in range(3)]
    watch_history_store(user_id=leaving.pk, video_ids=videos)
    watch_history_store(user_id=staying.pk, video_ids=videos[:1])
    before = rows_of_member(leaving.pk)
    assert set(before) == set(tables), before  # the member has rows in every table erasure deletes from
    kept = rows_of_member(staying.pk)
    # On disk on every replica (a stopped node's memtables would be flushed by its drain anyway).
    nodetool_each([1, 2, 3], "flush", KEYSPACE)

    # Node 2 is down while the member is erased (LOCAL_QUORUM: two replicas of three take the deletes).
    cassandra_script("stop-node", "2")
    member_watch_data_erase(user_id=leaving.pk)
    # ...and stays down past the hint window: the coordinators' hints of the deletes for it are gone
    # (they would also expire: Cassandra drops hints older than the tables' gc_grace_seconds).
    nodetool_each([1, 3], "truncatehints")
    time.sleep(GC_GRACE_SECONDS + 2)
    # The live replicas compact everything: tombstones older than gc_grace_seconds are purgeable now,
    # unless the table keeps them until repaired.
    nodetool_each([1, 3], "flush", KEYSPACE)
    nodetool_each([1, 3], "compact", KEYSPACE)

    cassandra_script("start-node", "2")
    # A repair needs every replica alive in the others' eyes (gossip), not only answering CQL.
    wait_until(lambda: {row["state"] for row in ring_status().values()} == {"UN"}, timeout=120, interval=1)
    # The routine repair (deploy/cassandra-repair.service), on each node in turn as the timers run it.
    repair = scheduled_repair_args()
    assert "--full" not in repair  # incremental: the kind that marks sstables repaired
    for node in (1, 2, 3):
        out = nodetool(node, *repair)
        assert "error" not in out.lower(), out

    assert rows_of_member(leaving.pk) == {}
    assert rows_of_member(staying.pk) == kept

    # Once repaired, the tombstones are no longer pinned: each table's data is fully repaired on every
    # node, so compaction purges them after gc_grace_seconds like any other.
    for out in nodetool_each([1, 2, 3], "tablestats", *(f"{KEYSPACE}.{table}" for table in tables)):
        percents = re.findall(r"Percent repaired: ([\d.]+)", out)
        assert len(percents) == len(tables), out
        assert {float(p) for p in percents} == {100.0}, out


def test_batch_packer_sends_rows_of_many_partitions_as_one_request_on_a_three_node_rf3_ring():
    statement = cassandra_prepared("INSERT INTO {ks}.member_watch_days (user_id, day, video_id) VALUES (?, ?, ?)")
    token_map = cassandra_session().cluster.metadata.token_map
    users = range(1, 101)
    # The partitions' primary replicas differ (each node is primary for a third of the ring), but every
    # node holds every row (RF 3 on 3 nodes): one replica set.
    keys = [statement.bind((user_id, today(), 7)).routing_key for user_id in users]
    replicas = [token_map.get_replicas(KEYSPACE, token_map.token_class.from_key(key)) for key in keys]
    assert len({r[0] for r in replicas}) == 3
    assert len({frozenset(r) for r in replicas}) == 1

    packer = BatchPacker(max_rows=100, max_elements=100_000)
    for user_id in users:
        packer.rows([(statement, (user_id, today(), 7), 0)])
    assert len(packer.requests()) == 1
    packer.execute()
    stored = cassandra_session().execute(
        SimpleStatement(f"SELECT user_id FROM {KEYSPACE}.member_watch_days", consistency_level=ConsistencyLevel.ALL)
    )
    assert sorted(row.user_id for row in stored) == list(users)
