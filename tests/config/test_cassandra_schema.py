"""The Cassandra schema is created from nothing by `sync_cassandra`, and a second sync changes nothing."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django_cassandra_engine.models import DjangoCassandraModel

import analytics.models
from analytics.cassandra import cassandra_session
from tests.conftest import CASSANDRA_DBS

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
