"""Cassandra tables of the analytics app, designed query-first.

`manage.py sync_cassandra` creates the keyspace and these tables (and is a no-op when they exist).
Hot paths do not go through cqlengine: services and selectors use prepared statements on the
process's session (analytics/cassandra.py). Each table states its partition key, clustering,
partition size bound, TTL and compaction.
"""

from __future__ import annotations

from typing import ClassVar

from cassandra.cqlengine import columns
from django.conf import settings
from django_cassandra_engine.models import DjangoCassandraModel


class WatchEvent(DjangoCassandraModel):
    """Raw per-second watch events: one row per second of video a member watched in a viewing session.

    Partition ((user_id, day)): one member's events of one UTC day, so a partition holds at most
    86,400 rows per concurrently playing session; bounded by time, and findable by member for export
    and deletion (via MemberWatchDay). Clustering (video_id, session_id, position): a replayed batch
    overwrites the same cells, which makes ingestion idempotent. TTL: WATCH_EVENT_TTL_DAYS (400 by
    default). TimeWindowCompactionStrategy with one-day windows: rows are written once, in time
    order, and expire together, so whole SSTables drop at expiry without compaction work.
    """

    __table_name__ = "watch_events"
    __options__: ClassVar[dict[str, object]] = {
        "default_time_to_live": settings.WATCH_EVENT_TTL_SECONDS,
        "compaction": {
            "class": "org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy",
            "compaction_window_unit": "DAYS",
            "compaction_window_size": "1",
        },
        "gc_grace_seconds": 86400,
    }

    user_id = columns.BigInt(partition_key=True)
    day = columns.Date(partition_key=True)
    video_id = columns.BigInt(primary_key=True)
    session_id = columns.UUID(primary_key=True)
    position = columns.Integer(primary_key=True)
    client_ts = columns.DateTime(required=True)
    rate = columns.Float(required=True)

    class Meta:
        get_pk_field = "user_id"


class MemberWatchDay(DjangoCassandraModel):
    """Which (video, day) a member has raw events for: the index export and deletion walk.

    Partition (user_id): one row per video per day watched (a member watching 20 videos a day for a
    year: ~7,300 rows). No TTL (a stale row points at an expired partition and costs one empty read).
    """

    __table_name__ = "member_watch_days"

    user_id = columns.BigInt(partition_key=True)
    day = columns.Date(primary_key=True)
    video_id = columns.BigInt(primary_key=True)

    class Meta:
        get_pk_field = "user_id"


class ResumePosition(DjangoCassandraModel):
    """Where a member stopped in each video: one row per (member, video).

    Partition (user_id): bounded by the catalogue size; one read serves the continue-watching row.
    Every write carries `USING TIMESTAMP <client event time>`, so the newest position by the
    member's own clock wins even when an older batch (another tab, another device, a retry) lands
    later. No TTL; SizeTieredCompactionStrategy (rows are overwritten often).
    """

    __table_name__ = "resume_positions"

    user_id = columns.BigInt(partition_key=True)
    video_id = columns.BigInt(primary_key=True)
    position = columns.Integer(required=True)
    client_ts = columns.DateTime(required=True)
    session_id = columns.UUID(required=True)

    class Meta:
        get_pk_field = "user_id"
