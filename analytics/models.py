"""Cassandra tables of the analytics app, designed query-first.

`manage.py sync_cassandra` creates the keyspace and these tables (a no-op when they exist). Hot paths
do not go through cqlengine: services and selectors use prepared statements on the process's session
(analytics/cassandra.py). Each table states its partition key, clustering, partition size bound, TTL
and compaction. Every write is idempotent (a replayed batch rewrites the same cells or adds the same
set elements), which is what makes at-least-once delivery give exactly-once results. Every table
that holds a member's id keeps its tombstones, on a replicated keyspace, until a repair has marked
them repaired (`_PURGE_REPAIRED_ONLY`), so an erasure cannot be undone by a replica that missed it.
"""

from __future__ import annotations

from typing import ClassVar

from cassandra.cqlengine import columns
from django.conf import settings
from django_cassandra_engine.models import DjangoCassandraModel


def _replicated() -> bool:
    return any(isinstance(factor, int) and factor > 1 for factor in settings.CASSANDRA_REPLICATION.values())


# On a replicated keyspace, tables that hold a member's id (the ones erasure deletes from) purge a
# tombstone only once an incremental repair has marked it repaired, i.e. every replica holds it, not
# merely once it is gc_grace_seconds old: a replica that missed an erasure (down past the hint window)
# gets the tombstone from the next repair instead of bringing the erased rows back. The scheduled
# repair (deploy/cassandra-repair.timer) is what lets these tombstones go at all; docs/decisions/0010.
# With one copy of each row (a single node) no replica can miss a delete, and Cassandra never repairs
# an RF 1 keyspace, so the option would keep every tombstone and expired row for ever: off, explicitly,
# so that `sync_cassandra` also turns it off after a keyspace's replication is lowered to 1.
_PURGE_REPAIRED_ONLY = {"only_purge_repaired_tombstones": "true" if _replicated() else "false"}
_DAILY_TWCS = {
    "class": "org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy",
    "compaction_window_unit": "DAYS",
    "compaction_window_size": "1",
    **_PURGE_REPAIRED_ONLY,
}
_STCS = {"class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy", **_PURGE_REPAIRED_ONLY}


class WatchEvent(DjangoCassandraModel):
    """Raw per-second watch events: one row per second of video a member watched in a viewing session.

    Partition ((user_id, day)): one member's events of one UTC day, so a partition holds at most
    86,400 rows per concurrently playing session; bounded by time, and findable by member for export
    and deletion (via MemberWatchDay). Clustering (video_id, session_id, position): a replayed batch
    overwrites the same cells. TTL: WATCH_EVENT_TTL_DAYS (400 by default). TimeWindowCompactionStrategy
    with one-day windows: rows are written once, in time order, and expire together, so whole SSTables
    drop at expiry without compaction work (once repaired: tombstones purge only then, see above).
    """

    __table_name__ = "watch_events"
    __options__: ClassVar[dict[str, object]] = {
        "default_time_to_live": settings.WATCH_EVENT_TTL_SECONDS,
        "compaction": _DAILY_TWCS,
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
    """Which (day, video) a member has raw events for: the index that export and deletion walk.

    Partition (user_id): one row per video per day watched (20 videos a day for a year: ~7,300 rows).
    Same TTL as the raw events it points at. SizeTieredCompactionStrategy, tombstones purged once repaired.
    """

    __table_name__ = "member_watch_days"
    __options__: ClassVar[dict[str, object]] = {
        "default_time_to_live": settings.WATCH_EVENT_TTL_SECONDS,
        "compaction": _STCS,
    }

    user_id = columns.BigInt(partition_key=True)
    day = columns.Date(primary_key=True)
    video_id = columns.BigInt(primary_key=True)

    class Meta:
        get_pk_field = "user_id"


# Seconds per MemberVideoCoverage row (and per MemberVideo.watched_buckets entry): a 10-second batch
# touches one row, or two; a two-hour film has 113 entries.
COVERAGE_BUCKET_SECONDS = 64


class MemberVideo(DjangoCassandraModel):
    """A member's state for one video: resume position, coverage, continue-watching flags.

    Partition (user_id), clustering (video_id): bounded by the catalogue size; one partition read
    serves the continue-watching row and every progress bar on a page. Cells carry different write
    timestamps on purpose (Cassandra resolves each cell by its own timestamp):
    - `position`, `last_watched`, `session_id`, and `hidden = false` are written `USING TIMESTAMP
      <client event time>`: the newest position by the member's own clock wins even when an older
      batch (another tab, another device, a retry) lands later, and watching again after "remove
      from continue watching" shows the video again, while an old batch arriving late does not;
    - `watched_buckets`: how many distinct seconds the member watched in each COVERAGE_BUCKET_SECONDS
      stretch of the video (bucket -> count; the seconds themselves are in MemberVideoCoverage).
      Seconds watched = the sum of its values, taken by the reader; completion is coverage, so
      dragging to the end does not complete a video. Each entry is written `USING TIMESTAMP <time
      of the read that counted it>`, so the newest count of a bucket (which saw every earlier union
      of that bucket) wins over a concurrent worker's older one;
    - `seconds` and `watched`: the coverage set and its size as stored before the buckets (read only
      by `manage.py member_coverage_migrate`, which moves them into the buckets);
    - `hidden` and `marked_watched` are set by the member (server time).
    No TTL (members expect to resume months later). SizeTieredCompactionStrategy (cells overwritten),
    tombstones purged once repaired.
    """

    __table_name__ = "member_videos"
    __options__: ClassVar[dict[str, object]] = {"compaction": _STCS}

    user_id = columns.BigInt(partition_key=True)
    video_id = columns.BigInt(primary_key=True)
    position = columns.Integer()
    last_watched = columns.DateTime()
    session_id = columns.UUID()
    seconds = columns.Set(columns.Integer)
    watched = columns.Integer()
    watched_buckets = columns.Map(columns.Integer, columns.Integer)
    hidden = columns.Boolean()
    marked_watched = columns.Boolean()

    class Meta:
        get_pk_field = "user_id"


class MemberVideoCoverage(DjangoCassandraModel):
    """Which seconds of a video a member ever watched, in rows of COVERAGE_BUCKET_SECONDS seconds.

    Why rows, not one set per video: the drain recounts the coverage it just grew, and counting a
    set reads all of it (Cassandra reads a collection cell by cell, a slice of it too), so one set
    per video made every batch cost more the longer the member had watched (0.4 us per second
    already watched, per batch: a two-hour film's last batches cost ~3 ms of reads each). Counting
    the one or two 64-second rows a batch touched costs the same at any point of the video.

    Partition (user_id), clustering (video_id, bucket): erasure deletes the partition, "mark
    unwatched" the (video_id) slice. Rows grow by set union (idempotent). No TTL and compaction like
    MemberVideo.
    """

    __table_name__ = "member_video_coverage"
    __options__: ClassVar[dict[str, object]] = {"compaction": _STCS}

    user_id = columns.BigInt(partition_key=True)
    video_id = columns.BigInt(primary_key=True)
    bucket = columns.Integer(primary_key=True)
    seconds = columns.Set(columns.Integer)

    class Meta:
        get_pk_field = "user_id"


class VideoSession(DjangoCassandraModel):
    """Per video and UTC day, the seconds each viewing session watched: the rollups' input.

    Partition ((video_id, day)): one row per viewing session of that video that day (a session is one
    page load), so its size is the video's sessions per day; at ~600 seconds a session, 10,000
    sessions a day is ~25 MB, the bound to watch (the next step past that is a shard in the key).
    Clustering (user_id, session_id): a member's rows are one slice, deletable by prefix (erasure
    moves it to the member's anonymous id and fresh session ids first). `seconds` grows by set union
    (idempotent). TTL and one-day TWCS (tombstones purged once repaired) as the raw events.
    """

    __table_name__ = "video_sessions"
    __options__: ClassVar[dict[str, object]] = {
        "default_time_to_live": settings.WATCH_EVENT_TTL_SECONDS,
        "compaction": _DAILY_TWCS,
        "gc_grace_seconds": 86400,
    }

    video_id = columns.BigInt(partition_key=True)
    day = columns.Date(partition_key=True)
    user_id = columns.BigInt(primary_key=True)
    session_id = columns.UUID(primary_key=True)
    seconds = columns.Set(columns.Integer)

    class Meta:
        get_pk_field = "video_id"


class VideoChange(DjangoCassandraModel):
    """Which (video, day) received events in each minute: what rollups must recompute.

    Partition (minute): minutes since the Unix epoch of the write, so a rollup job reads exactly the
    minutes since its last run, never raw events. Bounded by the videos watched in one minute. A late
    batch for yesterday lands here under today's minute with yesterday's `day`, so yesterday is
    recomputed. TTL 7 days (a rollup job down for longer rebuilds from raw events instead).
    """

    __table_name__ = "video_changes"
    __options__: ClassVar[dict[str, object]] = {"default_time_to_live": 7 * 86400}

    minute = columns.Integer(partition_key=True)
    video_id = columns.BigInt(primary_key=True)
    day = columns.Date(primary_key=True)

    class Meta:
        get_pk_field = "minute"


# --- Staff analytics: rollups (analytics/rollups.py computes them; pages read only these) ---------

# Shards of a video's member coverage: keeps one partition at most 1/8 of the video's members.
VIDEO_MEMBER_SHARDS = 8


class VideoMember(DjangoCassandraModel):
    """Per video, each member's coverage (the seconds they ever watched): all-time rollups' input.

    Partition ((video_id, shard)), shard = user_id % VIDEO_MEMBER_SHARDS; clustering (user_id). A
    partition holds 1/8 of the video's members, each row at most the video's duration in set cells
    (10,000 members x 300 covered seconds: ~375,000 cells, ~5 MB per shard). Written by the ingestion
    path in the same execution as video_sessions; `seconds` grows by set union (idempotent). An
    erased member's row is re-keyed to their anonymous id (same shard, same partition, one batch) by
    member_watch_data_erase, so all-time figures stay. Same TTL as raw events, so all-time means "within raw-event
    retention", which is what a rebuild from raw events can reproduce. STCS, tombstones purged once
    repaired.
    """

    __table_name__ = "video_members"
    __options__: ClassVar[dict[str, object]] = {
        "default_time_to_live": settings.WATCH_EVENT_TTL_SECONDS,
        "compaction": _STCS,
    }

    video_id = columns.BigInt(partition_key=True)
    shard = columns.SmallInt(partition_key=True)
    user_id = columns.BigInt(primary_key=True)
    seconds = columns.Set(columns.Integer)

    class Meta:
        get_pk_field = "video_id"


class VideoDayMember(DjangoCassandraModel):
    """Per video and UTC day, each member's coverage that day as a bitmap: exact figures for a range.

    Partition ((video_id, day)), clustering (user_id): one row per member who watched the video that
    day (≤ the day's sessions), each `coverage` a bitmap of at most duration bits (bit s set: second
    s watched that day; a 3-hour video: 1.4 KB, a 10-minute one: 75 B). The staff page ORs a
    member's bitmaps over the days of any selected range: exact distinct members, completions and
    the retention curve for that range, reading one partition per day of the range (≤ 400 days,
    concurrently) and never raw events. `seconds` is the popcount. Written whole by the rollup day
    recomputation (partition deleted at read time - 1 µs, rows written at read time, like
    top_videos), so members erased since drop out; an erasure re-keys the member's row to their
    anonymous id itself (analytics.erasure.member_watch_data_erase). Raw-event TTL; one-day TWCS,
    tombstones purged once repaired.
    """

    __table_name__ = "video_day_members"
    __options__: ClassVar[dict[str, object]] = {
        "default_time_to_live": settings.WATCH_EVENT_TTL_SECONDS,
        "compaction": _DAILY_TWCS,
        "gc_grace_seconds": 86400,
    }

    video_id = columns.BigInt(partition_key=True)
    day = columns.Date(partition_key=True)
    user_id = columns.BigInt(primary_key=True)
    coverage = columns.Blob()
    seconds = columns.Integer()

    class Meta:
        get_pk_field = "video_id"


class VideoRollup(DjangoCassandraModel):
    """A video's figures per UTC day (clustering rows) and all time (static columns).

    Partition (video_id), clustering (day DESC): one row per day with traffic within raw-event
    retention (≤ ~400 rows of ~80 bytes), so the analytics page reads one partition slice for any date
    range plus the all-time figures. Every write is `USING TIMESTAMP <time its inputs were read>`: of
    two computations racing (beat job, rebuild command), the one that read later wins, so stale
    results never overwrite fresh ones. Day rows carry the raw-event TTL; static columns have none.
    """

    __table_name__ = "video_rollups"

    video_id = columns.BigInt(partition_key=True)
    day = columns.Date(primary_key=True, clustering_order="DESC")
    sessions = columns.Integer()
    views = columns.Integer()
    members = columns.Integer()
    watch_seconds = columns.BigInt()
    completions = columns.Integer()
    rewatch_seconds = columns.BigInt()
    as_of = columns.DateTime()
    total_sessions = columns.Integer(static=True)
    total_views = columns.Integer(static=True)
    total_members = columns.Integer(static=True)
    total_watch_seconds = columns.BigInt(static=True)
    total_completions = columns.Integer(static=True)
    total_rewatch_seconds = columns.BigInt(static=True)
    duration = columns.Integer(static=True)
    total_as_of = columns.DateTime(static=True)
    # The video's title when its totals were last computed, and when it was deleted: the pages
    # still name a deleted video by it (analytics.services.video_last_title_keep).
    title = columns.Text(static=True)

    class Meta:
        get_pk_field = "video_id"


class VideoRetention(DjangoCassandraModel):
    """A video's retention curve for one period: `all` or one UTC day (`2026-11-25`).

    Partition ((video_id, period)): one row, lists of at most duration (+100) ints (a 3-hour video:
    ~11,000 ints, ~50 KB). `viewers[s]`: members who watched second s; `plays[s]`: viewing sessions
    that did (day periods only; plays - viewers = re-watches of s); `buckets[b]`: members who watched
    any second of the b-th 1 % of the video. Written like video_rollups (USING TIMESTAMP read time);
    day periods carry the raw-event TTL.
    """

    __table_name__ = "video_retention"

    video_id = columns.BigInt(partition_key=True)
    period = columns.Text(partition_key=True)
    duration = columns.Integer()
    members = columns.Integer()
    viewers = columns.List(columns.Integer)
    plays = columns.List(columns.Integer)
    buckets = columns.List(columns.Integer)
    as_of = columns.DateTime()

    class Meta:
        get_pk_field = "video_id"


class DayVideo(DjangoCassandraModel):
    """Per UTC day, each watched video's figures: the input of site-wide top lists and sparklines.

    Partition (day): one row per video watched that day (bounded by the catalogue). Written with
    video_rollups' day rows (same timestamps, same TTL).
    """

    __table_name__ = "day_videos"

    day = columns.Date(partition_key=True)
    video_id = columns.BigInt(primary_key=True)
    views = columns.Integer()
    members = columns.Integer()
    watch_seconds = columns.BigInt()

    class Meta:
        get_pk_field = "day"


class TopVideo(DjangoCassandraModel):
    """Site-wide top videos over the last `window_days` days (7 or 30) by `metric` (views, watch).

    Partition ((window_days, metric)), clustering (rank): at most TOP_VIDEOS rows, rewritten whole
    by each beat run (USING TIMESTAMP of its read), from day_videos.
    """

    __table_name__ = "top_videos"

    window_days = columns.Integer(partition_key=True)
    metric = columns.Text(partition_key=True)
    rank = columns.Integer(primary_key=True)
    video_id = columns.BigInt()
    views = columns.Integer()
    watch_seconds = columns.BigInt()
    as_of = columns.DateTime()

    class Meta:
        get_pk_field = "window_days"


class RollupCheckpoint(DjangoCassandraModel):
    """Durable progress of the rollup beat job: the last video_changes minute fully processed.

    Partition (name): one row per job. Lost or older than video_changes' TTL, the job starts at
    the oldest minute still kept (and `manage.py rollups_rebuild` covers anything older).
    """

    __table_name__ = "rollup_checkpoints"

    name = columns.Text(partition_key=True)
    minute = columns.Integer()
    updated_at = columns.DateTime()

    class Meta:
        get_pk_field = "name"


# --- Staff course report (analytics/students.py keeps these; docs/architecture.md) ---------------


class CourseMember(DjangoCassandraModel):
    """Per course (a playlist), each member who started it: the students report's exact figures.

    Partition (playlist_id), clustering (user_id): one row of ~60 bytes per member who started any of
    the course's videos (100,000 members: ~6 MB). Derived, never incremented: each row is recomputed
    from the member's member_videos rows of the course's videos (one partition read) whenever the
    drain's watched-count recount, "mark (un)watched" or a change of the playlist's items touches
    them, and written `USING TIMESTAMP <time of that read>` (the later read wins); a recomputation
    that finds the same figures writes nothing, so replays change nothing. `items_total` is the
    course's item count at that read. No TTL (progress is kept like member_videos); STCS,
    tombstones purged once repaired.
    """

    __table_name__ = "course_members"
    __options__: ClassVar[dict[str, object]] = {"compaction": _STCS}

    playlist_id = columns.BigInt(partition_key=True)
    user_id = columns.BigInt(primary_key=True)
    items_completed = columns.Integer()
    items_total = columns.Integer()
    watch_seconds = columns.BigInt()
    last_watched = columns.DateTime()
    as_of = columns.DateTime()

    class Meta:
        get_pk_field = "playlist_id"


class CourseMemberOrder(DjangoCassandraModel):
    """The students report's orderings: course_members sorted by one figure within one status.

    Partition ((playlist_id, status, sort)): status `started` (everyone), `in_progress` or
    `completed`; sort `last` (last watched, ms), `percent` (% of items completed) or `watch` (distinct
    seconds watched). Clustering (value, user_id): a page of the report is one slice read from a
    cursor, forwards or backwards, whatever the course's size ("inactive 14 days" is the `in_progress`
    / `last` partition read oldest first up to the cut-off). Each member has 6 rows (2 statuses x 3
    sorts), rewritten with their course_members row (old entries deleted 1 us before the new ones).
    Two racing recomputations can leave an entry whose value is no longer the member's: the reader
    checks each entry against course_members and skips stale ones, so the report
    shows only course_members' figures. No TTL; STCS, tombstones purged once repaired.
    """

    __table_name__ = "course_member_order"
    __options__: ClassVar[dict[str, object]] = {"compaction": _STCS}

    playlist_id = columns.BigInt(partition_key=True)
    status = columns.Text(partition_key=True)
    sort = columns.Text(partition_key=True)
    value = columns.BigInt(primary_key=True)
    user_id = columns.BigInt(primary_key=True)

    class Meta:
        get_pk_field = "playlist_id"
