"""The Cassandra schema is created from nothing by `sync_cassandra`, and a second sync changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django_cassandra_engine.models import DjangoCassandraModel

import analytics.models
from analytics.cassandra import cassandra_session
from tests.conftest import CASSANDRA_DBS, ROOT

# Every Cassandra model of the analytics app, and at least the pipeline's core tables.
TABLES = {
    model.__table_name__
    for model in vars(analytics.models).values()
    if isinstance(model, type) and issubclass(model, DjangoCassandraModel) and model is not DjangoCassandraModel
}
assert {"watch_events", "member_watch_days", "member_videos", "video_sessions", "video_changes"} <= TABLES


def schema_of(keyspace: str) -> list[tuple]:
    session = cassandra_session()
    tables = session.execute(
        "SELECT table_name, default_time_to_live, compaction, gc_grace_seconds FROM system_schema.tables "
        "WHERE keyspace_name = %s",
        (keyspace,),
    )
    columns = session.execute(
        "SELECT table_name, column_name, kind, position, type FROM system_schema.columns WHERE keyspace_name = %s",
        (keyspace,),
    )
    return sorted(tuple(r) for r in tables) + sorted(tuple(r) for r in columns)


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_sync_creates_every_table_in_an_empty_keyspace_and_a_second_sync_is_a_no_op():
    keyspace = f"schema_{uuid.uuid4().hex[:12]}"
    original = settings.DATABASES["cassandra"]["NAME"]
    connection = connections["cassandra"]
    session = cassandra_session()
    assert session.execute("SELECT * FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)).one() is None
    connection.settings_dict["NAME"] = keyspace
    try:
        call_command("sync_cassandra", database="cassandra", verbosity=0)
        first = schema_of(keyspace)
        call_command("sync_cassandra", database="cassandra", verbosity=0)
        second = schema_of(keyspace)
    finally:
        connection.settings_dict["NAME"] = original
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")

    assert {row[0] for row in first if len(row) == 4} == TABLES
    events = next(row for row in first if row[0] == "watch_events" and len(row) == 4)
    assert events[1] == settings.WATCH_EVENT_TTL_SECONDS
    assert events[2]["class"].endswith("TimeWindowCompactionStrategy")
    assert second == first


def erasure_tables() -> set[str]:
    """The tables whose rows a member's erasure (or "mark unwatched") deletes: every DELETE of
    analytics/services.py and analytics/erasure.py."""
    import re

    import analytics.erasure
    import analytics.services

    modules = (analytics.services, analytics.erasure)
    statements = [value for module in modules for value in vars(module).values() if isinstance(value, str)]
    return {m[1] for text in statements if (m := re.match(r"DELETE FROM \{ks\}\.(\w+)", text))}


def purging(keyspace: str) -> dict[str, str | None]:
    """Each table's only_purge_repaired_tombstones compaction option (None: not set)."""
    rows = cassandra_session().execute(
        "SELECT table_name, compaction FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
    )
    return {row.table_name: row.compaction.get("only_purge_repaired_tombstones") for row in rows}


def sync_in_a_process(*, keyspace: str, replication: str) -> None:
    """`manage.py sync_cassandra` as a deployment with that keyspace and replication runs it."""
    subprocess.run(
        [sys.executable, "manage.py", "sync_cassandra"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "CASSANDRA_KEYSPACE": keyspace,
            "CASSANDRA_REPLICATION": replication,
        },
        check=True,
        timeout=180,
        capture_output=True,
    )


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_on_a_replicated_keyspace_every_table_erasure_deletes_from_purges_tombstones_only_once_repaired():
    # A tombstone purged before every replica has it lets a replica that missed the erasure bring the
    # member's rows back at the next repair (docs/decisions/0010-erasure-tombstones-purge-after-repair.md;
    # the ring test tests/ops/test_ring_erasure.py shows it).
    tables = erasure_tables()
    assert {"watch_events", "member_videos", "member_video_coverage", "member_watch_days"} <= tables
    assert {"video_sessions", "video_members", "video_day_members"} <= tables
    keyspace = f"schema_{uuid.uuid4().hex[:12]}"
    session = cassandra_session()
    try:
        sync_in_a_process(keyspace=keyspace, replication="SimpleStrategy:3")
        created = purging(keyspace)
        # A keyspace created before the option existed gets it from the next sync (ALTER TABLE).
        session.execute(
            f"ALTER TABLE {keyspace}.member_videos WITH compaction = "
            "{'class': 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy'}"
        )
        session.execute(
            f"ALTER TABLE {keyspace}.watch_events WITH compaction = "
            "{'class': 'org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy', "
            "'compaction_window_unit': 'DAYS', 'compaction_window_size': '1'}"
        )
        assert purging(keyspace)["member_videos"] is None
        sync_in_a_process(keyspace=keyspace, replication="SimpleStrategy:3")
        upgraded = purging(keyspace)
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
    assert {table: created[table] for table in tables} == dict.fromkeys(tables, "true")
    assert {table: upgraded[table] for table in tables} == dict.fromkeys(tables, "true")


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_a_single_copy_keyspace_purges_tombstones_as_usual():
    # RF 1: no replica can miss a delete, and a repair has no other replica to compare with (it aborts,
    # marking nothing repaired), so waiting for repaired tombstones would keep them, and every
    # expired row, for ever. Explicitly off, so a sync after lowering the replication to 1 turns it off.
    assert settings.CASSANDRA_REPLICATION == {"class": "SimpleStrategy", "replication_factor": 1}
    options = purging(settings.DATABASES["cassandra"]["NAME"])
    assert {table: options[table] for table in erasure_tables()} == dict.fromkeys(erasure_tables(), "false")
