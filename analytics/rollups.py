"""Exact staff-analytics rollups, recomputed from idempotent rows by Celery (never incremented).

Why recomputation: Cassandra counters are not idempotent, and the pipeline delivers at least once
(retries, redelivered stream entries, a worker killed mid-write). Every input row here is itself
idempotent (video_sessions and video_members grow by set union), so recomputing a (video, day) from
them gives the same figures however often a batch arrived; recomputing twice is harmless.

What gets recomputed: the ingestion path writes (minute, video_id, day) to video_changes for every
batch, so the beat job (`rollups_refresh`, every 15 s, CELERY_BEAT_SCHEDULE) reads the minutes since its
durable checkpoint and recomputes exactly the (video, day) pairs that changed (a late batch for
yesterday recomputes yesterday), then each such video's all-time figures, then the site-wide top
lists. `rollups_rebuild` (the management command) runs the same `video_rollups_recompute`.

Freshness: a batch stored at time t is in the rollups after the next beat run that starts after t
(the 15-s beat interval + the run's duration: under 60 s while the workers keep up with the stream).
Each rollup row carries `as_of`, the time its inputs were read, and the pages show it.

Why a minute is read for SAFETY_MINUTES after it ends: a worker stamps its change row with the
minute its write *started*; the write's other rows may land a little later. The checkpoint only
passes a minute once every write stamped with it has surely finished; until then the minute is
re-read, and a pair already recomputed after that point (its `as_of`) is skipped.

Definitions (per day: that day's seconds; all time: every day within raw-event retention):
- view: a viewing session that watched ≥ VIEW_SECONDS distinct seconds, or at least half of the
  video's seconds (which only matters for videos shorter than twice VIEW_SECONDS). A
  session straddling midnight UTC is judged per day, so views (like sessions and watch time) add up
  over days and a date range's total is the sum of its days;
- members: exact distinct members (for a date range: the union of video_day_members over its
  days, not a sum of days); completions: members whose coverage (distinct seconds watched)
  reaches COMPLETION_SHARE of the video (the tracking definition); completion rate = completions /
  members;
- retention: viewers[s] = members who watched second s (share = viewers[s] / members); buckets[b] =
  members who watched any second of the b-th 1 % of the video;
- re-watches: plays[s] - viewers[s] for second s (a member's further sessions over it); the total is
  watch seconds minus the sum of members' coverage.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cassandra.query import BatchStatement, BatchType
from django.conf import settings

from analytics.cassandra import (
    READ_PROFILE,
    ROWS_PER_BATCH,
    cassandra_date,
    cassandra_execute_all,
    cassandra_prepared,
    cassandra_session,
)
from analytics.models import VIDEO_MEMBER_SHARDS
from analytics.selectors import BUCKETS, ROLLUP_JOB, RollupFigures, coverage_bitmap, is_complete
from videos.selectors import video_durations_in_bulk, video_titles_in_bulk

logger = logging.getLogger(__name__)

VIEW_SECONDS = 10
TOP_VIDEOS = 20
TOP_WINDOWS = (7, 30)
TOP_METRICS = ("views", "watch")
CHECKPOINT = ROLLUP_JOB
SAFETY_MINUTES = 2
# video_changes keeps 7 days; a job down longer resumes at the oldest minute kept.
CHANGES_KEPT_MINUTES = 7 * 24 * 60
# (video, day) partitions read at once: bounds a rebuild's memory to a few days of one video.
CHUNK = 16
ALL = "all"


@dataclass(frozen=True)
class Curve:
    duration: int
    members: int
    viewers: list[int]
    plays: list[int]
    buckets: list[int]


@dataclass
class RecomputeResult:
    days: int = 0
    videos: int = 0
    raw_events: int = 0
    skipped: int = 0
    changed: set[tuple[int, date]] = field(default_factory=set)


# --- Pure computation -----------------------------------------------------------------------------


def is_view(*, seconds: int, duration: int | None) -> bool:
    return seconds >= VIEW_SECONDS or (bool(duration) and 2 * seconds >= duration)  # type: ignore[operator]


def _curve(*, coverage: Mapping[int, set[int]], duration: int | None, plays: Counter[int] | None) -> Curve:
    # Unknown duration: the curve spans the seconds anyone watched.
    length = duration or (max((max(s) for s in coverage.values() if s), default=-1) + 1)
    counts: Counter[int] = Counter(itertools.chain.from_iterable(coverage.values()))
    second_buckets: list[list[int]] = [[] for _ in range(length)]
    for b in range(BUCKETS if length else 0):
        lo = b * length // BUCKETS
        hi = max((b + 1) * length // BUCKETS, lo + 1)
        for s in range(lo, min(hi, length)):
            second_buckets[s].append(b)
    bucket_counts = [0] * (BUCKETS if length else 0)
    for seconds in coverage.values():
        hit: set[int] = set()
        for s in seconds:
            if s < length:
                hit.update(second_buckets[s])
        for b in hit:
            bucket_counts[b] += 1
    return Curve(
        duration=length,
        members=len(coverage),
        viewers=[counts[s] for s in range(length)],
        plays=[plays[s] for s in range(length)] if plays is not None else [],
        buckets=bucket_counts,
    )


def member_coverage(*, sessions: Iterable[tuple[int, set[int]]]) -> dict[int, set[int]]:
    """Each member's seconds watched over their viewing sessions (the union)."""
    coverage: dict[int, set[int]] = defaultdict(set)
    for user_id, seconds in sessions:
        coverage[user_id] |= seconds
    return coverage


def day_compute(*, sessions: Iterable[tuple[int, set[int]]], duration: int | None) -> tuple[RollupFigures, Curve]:
    """One (video, day) from its viewing sessions: (member id, seconds watched in that session)."""
    coverage: dict[int, set[int]] = defaultdict(set)
    plays: Counter[int] = Counter()
    n_sessions = views = watch = 0
    for user_id, seconds in sessions:
        if not seconds:
            continue
        n_sessions += 1
        watch += len(seconds)
        views += is_view(seconds=len(seconds), duration=duration)
        coverage[user_id] |= seconds
        plays.update(seconds)
    covered = sum(len(s) for s in coverage.values())
    figures = RollupFigures(
        sessions=n_sessions,
        views=views,
        members=len(coverage),
        watch_seconds=watch,
        completions=sum(is_complete(seconds=len(s), duration=duration) for s in coverage.values()),
        rewatch_seconds=watch - covered,
    )
    return figures, _curve(coverage=coverage, duration=duration, plays=plays)


def alltime_compute(
    *, coverage: Mapping[int, set[int]], days: Iterable[RollupFigures], duration: int | None
) -> tuple[RollupFigures, Curve]:
    """All-time figures: additive ones summed over the day rollups, the rest from member coverage."""
    days = list(days)
    watch = sum(d.watch_seconds for d in days)
    coverage = {u: s for u, s in coverage.items() if s}
    figures = RollupFigures(
        sessions=sum(d.sessions for d in days),
        views=sum(d.views for d in days),
        members=len(coverage),
        watch_seconds=watch,
        completions=sum(is_complete(seconds=len(s), duration=duration) for s in coverage.values()),
        rewatch_seconds=watch - sum(len(s) for s in coverage.values()),
    )
    return figures, _curve(coverage=coverage, duration=duration, plays=None)


# --- Cassandra ------------------------------------------------------------------------------------

SELECT_CHANGES = "SELECT video_id, day FROM {ks}.video_changes WHERE minute = ?"
SELECT_DAY_SESSIONS = "SELECT user_id, seconds FROM {ks}.video_sessions WHERE video_id = ? AND day = ?"
SELECT_VIDEO_MEMBERS = "SELECT user_id, seconds FROM {ks}.video_members WHERE video_id = ? AND shard = ?"
SELECT_DAY_AS_OF = "SELECT as_of FROM {ks}.video_rollups WHERE video_id = ? AND day = ?"
SELECT_TOTAL_AS_OF = "SELECT total_as_of FROM {ks}.video_rollups WHERE video_id = ? LIMIT 1"
SELECT_DAY_FIGURES = (
    "SELECT day, sessions, views, members, watch_seconds, completions, rewatch_seconds FROM {ks}.video_rollups "
    "WHERE video_id = ?"
)
UPSERT_DAY = (
    "UPDATE {ks}.video_rollups USING TTL ? AND TIMESTAMP ? SET sessions = ?, views = ?, members = ?, "
    "watch_seconds = ?, completions = ?, rewatch_seconds = ?, as_of = ? WHERE video_id = ? AND day = ?"
)
DELETE_DAY = "DELETE FROM {ks}.video_rollups USING TIMESTAMP ? WHERE video_id = ? AND day = ?"
UPSERT_TOTAL = (
    "UPDATE {ks}.video_rollups USING TIMESTAMP ? SET total_sessions = ?, total_views = ?, total_members = ?, "
    "total_watch_seconds = ?, total_completions = ?, total_rewatch_seconds = ?, duration = ?, total_as_of = ? "
    "WHERE video_id = ?"
)
UPSERT_RETENTION = (
    "UPDATE {ks}.video_retention USING TTL ? AND TIMESTAMP ? SET duration = ?, members = ?, viewers = ?, plays = ?, "
    "buckets = ?, as_of = ? WHERE video_id = ? AND period = ?"
)
UPSERT_TITLE = "UPDATE {ks}.video_rollups USING TIMESTAMP ? SET title = ? WHERE video_id = ?"
DELETE_RETENTION = "DELETE FROM {ks}.video_retention USING TIMESTAMP ? WHERE video_id = ? AND period = ?"
UPSERT_DAY_VIDEO = (
    "UPDATE {ks}.day_videos USING TTL ? AND TIMESTAMP ? SET views = ?, members = ?, watch_seconds = ? "
    "WHERE day = ? AND video_id = ?"
)
DELETE_DAY_VIDEO = "DELETE FROM {ks}.day_videos USING TIMESTAMP ? WHERE day = ? AND video_id = ?"
SELECT_DAY_VIDEOS = "SELECT video_id, views, watch_seconds FROM {ks}.day_videos WHERE day = ?"
DELETE_TOP = "DELETE FROM {ks}.top_videos USING TIMESTAMP ? WHERE window_days = ? AND metric = ?"
INSERT_TOP = (
    "INSERT INTO {ks}.top_videos (window_days, metric, rank, video_id, views, watch_seconds, as_of) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
BACKFILL_VIDEO_MEMBER = (
    "UPDATE {ks}.video_members USING TIMESTAMP ? SET seconds = seconds + ? WHERE video_id = ? AND shard = ? "
    "AND user_id = ?"
)
DELETE_DAY_MEMBERS = "DELETE FROM {ks}.video_day_members USING TIMESTAMP ? WHERE video_id = ? AND day = ?"
INSERT_DAY_MEMBER = (
    "INSERT INTO {ks}.video_day_members (video_id, day, user_id, coverage, seconds) VALUES (?, ?, ?, ?, ?) "
    "USING TTL ? AND TIMESTAMP ?"
)
SELECT_CHECKPOINT = "SELECT minute FROM {ks}.rollup_checkpoints WHERE name = ?"
UPSERT_CHECKPOINT = "UPDATE {ks}.rollup_checkpoints USING TIMESTAMP ? SET minute = ?, updated_at = ? WHERE name = ?"


def _micros(at: float) -> int:
    return int(at * 1_000_000)


def _day_members_statements(
    *, video_id: int, day: date, sessions: list[tuple[int, set[int]]], read_at: float
) -> list[tuple[Any, Sequence[Any]]]:
    """The day's member bitmaps, written whole: rows of members no longer there (erased) drop out."""
    coverage = member_coverage(sessions=sessions)
    ts = _micros(read_at)
    statements: list[tuple[Any, Sequence[Any]]] = [(cassandra_prepared(DELETE_DAY_MEMBERS), (ts - 1, video_id, day))]
    rows = [(u, s) for u, s in sorted(coverage.items()) if s]
    insert = cassandra_prepared(INSERT_DAY_MEMBER)
    ttl = settings.WATCH_EVENT_TTL_SECONDS
    # One partition: UNLOGGED batches of ROWS_PER_BATCH rows cost one round trip each.
    for start in range(0, len(rows), ROWS_PER_BATCH):
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for user_id, seconds in rows[start : start + ROWS_PER_BATCH]:
            batch.add(insert, (video_id, day, user_id, coverage_bitmap(seconds), len(seconds), ttl, ts))
        statements.append((batch, ()))
    return statements


def _day_statements(
    *, video_id: int, day: date, figures: RollupFigures, curve: Curve, read_at: float
) -> list[tuple[Any, Sequence[Any]]]:
    ts = _micros(read_at)
    if figures.sessions == 0:  # every member who watched that day was erased, or nothing was there
        return [
            (cassandra_prepared(DELETE_DAY), (ts, video_id, day)),
            (cassandra_prepared(DELETE_DAY_VIDEO), (ts, day, video_id)),
            (cassandra_prepared(DELETE_RETENTION), (ts, video_id, day.isoformat())),
            (cassandra_prepared(DELETE_DAY_MEMBERS), (ts, video_id, day)),
        ]
    ttl = settings.WATCH_EVENT_TTL_SECONDS
    as_of = datetime.fromtimestamp(read_at, tz=UTC)
    f = figures
    return [
        (
            cassandra_prepared(UPSERT_DAY),
            (
                ttl,
                ts,
                f.sessions,
                f.views,
                f.members,
                f.watch_seconds,
                f.completions,
                f.rewatch_seconds,
                as_of,
                video_id,
                day,
            ),
        ),
        (cassandra_prepared(UPSERT_DAY_VIDEO), (ttl, ts, f.views, f.members, f.watch_seconds, day, video_id)),
        (
            cassandra_prepared(UPSERT_RETENTION),
            (
                ttl,
                ts,
                curve.duration,
                curve.members,
                curve.viewers,
                curve.plays,
                curve.buckets,
                as_of,
                video_id,
                day.isoformat(),
            ),
        ),
    ]


def _backfill_statements(
    *, video_id: int, sessions: list[tuple[int, set[int]]], read_at: float
) -> list[tuple[Any, Sequence[Any]]]:
    coverage = member_coverage(sessions=sessions)
    statement = cassandra_prepared(BACKFILL_VIDEO_MEMBER)
    return [
        (statement, (_micros(read_at), seconds, video_id, user_id % VIDEO_MEMBER_SHARDS, user_id))
        for user_id, seconds in coverage.items()
        if seconds
    ]


def _video_totals_refresh(*, video_id: int, duration: int | None, title: str | None) -> int:
    """Recompute one video's all-time figures and curve; returns the coverage cells read."""
    read_at = time.time()
    select = cassandra_prepared(SELECT_VIDEO_MEMBERS)
    results = cassandra_execute_all(
        read=True, statements=[(select, (video_id, shard)) for shard in range(VIDEO_MEMBER_SHARDS)]
    )
    coverage: dict[int, set[int]] = {}
    for result in results:
        for row in result:
            coverage[row.user_id] = set(row.seconds or ())
    days = [
        RollupFigures(r.sessions or 0, r.views or 0, r.members or 0, r.watch_seconds or 0, r.completions or 0)
        for r in cassandra_session().execute(
            cassandra_prepared(SELECT_DAY_FIGURES), (video_id,), execution_profile=READ_PROFILE
        )
        if r.day is not None and r.sessions is not None
    ]
    figures, curve = alltime_compute(coverage=coverage, days=days, duration=duration)
    ts, as_of, f = _micros(read_at), datetime.fromtimestamp(read_at, tz=UTC), figures
    cassandra_execute_all(
        statements=[
            (
                cassandra_prepared(UPSERT_TOTAL),
                (
                    ts,
                    f.sessions,
                    f.views,
                    f.members,
                    f.watch_seconds,
                    f.completions,
                    f.rewatch_seconds,
                    duration,
                    as_of,
                    video_id,
                ),
            ),
            (
                cassandra_prepared(UPSERT_RETENTION),
                (0, ts, curve.duration, curve.members, curve.viewers, [], curve.buckets, as_of, video_id, ALL),
            ),
            # A deleted video (no title any more) keeps the one written last.
            *([(cassandra_prepared(UPSERT_TITLE), (ts, title, video_id))] if title else []),
        ]
    )
    return sum(len(s) for s in coverage.values())


def video_rollups_recompute(
    *,
    video_days: Mapping[int, Iterable[date]],
    progress: Callable[[int, int], None] | None = None,
    backfill_coverage: bool = False,
) -> RecomputeResult:
    """Recompute the given (video, day) rollups from video_sessions, then each video's all-time row.

    The beat job and `manage.py rollups_rebuild` both call this. Safe beside running workers and a
    concurrent run: every write carries the time its inputs were read, so the latest read wins.
    `progress(done, total)` is called after each chunk of days and each video's totals.

    `backfill_coverage` (the rebuild command) also unions each member's day coverage into
    video_members, for events stored before that table existed. Those writes carry the time of the
    read: a member erased after it has a later tombstone, so a rebuild cannot bring them back.
    """
    pairs = [(v, d) for v, days in video_days.items() for d in sorted(set(days))]
    durations = video_durations_in_bulk(video_ids=list(video_days))
    titles = video_titles_in_bulk(video_ids=list(video_days))
    total = len(pairs) + len(video_days)
    result = RecomputeResult()
    select = cassandra_prepared(SELECT_DAY_SESSIONS)
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start : start + CHUNK]
        read_at = time.time()
        reads = cassandra_execute_all(read=True, statements=[(select, pair) for pair in chunk])
        writes: list[tuple[Any, Sequence[Any]]] = []
        for (video_id, day), rows in zip(chunk, reads, strict=True):
            sessions = [(row.user_id, set(row.seconds or ())) for row in rows]
            result.raw_events += sum(len(s) for _, s in sessions)
            figures, curve = day_compute(sessions=sessions, duration=durations.get(video_id))
            writes += _day_statements(video_id=video_id, day=day, figures=figures, curve=curve, read_at=read_at)
            if figures.sessions:
                writes += _day_members_statements(video_id=video_id, day=day, sessions=sessions, read_at=read_at)
            if backfill_coverage:
                writes += _backfill_statements(video_id=video_id, sessions=sessions, read_at=read_at)
            result.changed.add((video_id, day))
        cassandra_execute_all(statements=writes)
        result.days += len(chunk)
        if progress:
            progress(result.days, total)
    for video_id in video_days:
        _video_totals_refresh(video_id=video_id, duration=durations.get(video_id), title=titles.get(video_id))
        result.videos += 1
        if progress:
            progress(result.days + result.videos, total)
    return result


def top_videos_refresh(*, today: date | None = None) -> None:
    """Rewrite the site-wide top lists (last 7 and 30 UTC days, by views and by watch time)."""
    read_at = time.time()
    today = today or datetime.fromtimestamp(read_at, tz=UTC).date()
    days = [today - timedelta(days=i) for i in range(max(TOP_WINDOWS))]
    reads = cassandra_execute_all(
        read=True, statements=[(cassandra_prepared(SELECT_DAY_VIDEOS), (day,)) for day in days]
    )
    per_day = [list(rows) for rows in reads]
    ts, as_of = _micros(read_at), datetime.fromtimestamp(read_at, tz=UTC)
    # The whole list is replaced: older ranks are deleted just before (1 µs) the new ones are written.
    writes: list[tuple[Any, Sequence[Any]]] = []
    for window in TOP_WINDOWS:
        sums: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for rows in per_day[:window]:
            for row in rows:
                sums[row.video_id][0] += row.views or 0
                sums[row.video_id][1] += row.watch_seconds or 0
        for metric in TOP_METRICS:
            index = 0 if metric == "views" else 1
            ranked = sorted(sums.items(), key=lambda item: (-item[1][index], -item[1][1 - index], item[0]))
            writes.append((cassandra_prepared(DELETE_TOP), (ts - 1, window, metric)))
            for rank, (video_id, (views, watch)) in enumerate(ranked[:TOP_VIDEOS], start=1):
                writes.append(
                    (cassandra_prepared(INSERT_TOP), (window, metric, rank, video_id, views, watch, as_of, ts))
                )
    cassandra_execute_all(statements=writes)


def _checkpoint_get() -> int | None:
    row = cassandra_session().execute(cassandra_prepared(SELECT_CHECKPOINT), (CHECKPOINT,)).one()
    return None if row is None or row.minute is None else int(row.minute)


def _checkpoint_set(*, minute: int, at: float) -> None:
    cassandra_execute_all(
        statements=[
            (
                cassandra_prepared(UPSERT_CHECKPOINT),
                (_micros(at), minute, datetime.fromtimestamp(at, tz=UTC), CHECKPOINT),
            )
        ]
    )


def rollups_refresh(*, now: float | None = None) -> RecomputeResult:
    """The beat job: recompute what changed since the checkpoint, then the top lists; move on.

    Pairs whose rollup was computed after every write stamped with their latest change minute had
    surely landed (as_of ≥ minute + SAFETY_MINUTES) are skipped: re-reading a minute is cheap.
    """
    started = time.time() if now is None else now
    now_minute = int(started // 60)
    checkpoint = _checkpoint_get()
    first = now_minute - CHANGES_KEPT_MINUTES
    if checkpoint is not None:
        first = max(first, checkpoint + 1)
    minutes = list(range(first, now_minute + 1))
    reads = cassandra_execute_all(read=True, statements=[(cassandra_prepared(SELECT_CHANGES), (m,)) for m in minutes])
    latest: dict[tuple[int, date], int] = {}
    for minute, rows in zip(minutes, reads, strict=True):
        for row in rows:
            key = (row.video_id, cassandra_date(row.day))
            latest[key] = max(latest.get(key, minute), minute)
    keys = list(latest)
    as_ofs = cassandra_execute_all(read=True, statements=[(cassandra_prepared(SELECT_DAY_AS_OF), key) for key in keys])
    video_days: dict[int, list[date]] = defaultdict(list)
    skipped = 0
    for key, rows in zip(keys, as_ofs, strict=True):
        row = rows.one()
        settled_at = (latest[key] + SAFETY_MINUTES) * 60
        if row is not None and row.as_of is not None and row.as_of.replace(tzinfo=UTC).timestamp() >= settled_at:
            skipped += 1
            continue
        video_days[key[0]].append(key[1])
    # A run that died between a video's day rows and its totals: the days are settled, the totals not.
    settled_videos = sorted({v for v, _ in keys} - set(video_days))
    totals = cassandra_execute_all(
        read=True, statements=[(cassandra_prepared(SELECT_TOTAL_AS_OF), (v,)) for v in settled_videos]
    )
    for video_id, rows in zip(settled_videos, totals, strict=True):
        row = rows.one()
        settled_at = (max(m for (v, _), m in latest.items() if v == video_id) + SAFETY_MINUTES) * 60
        if row is None or row.total_as_of is None or row.total_as_of.replace(tzinfo=UTC).timestamp() < settled_at:
            video_days[video_id] = []
    result = video_rollups_recompute(video_days=video_days)
    result.skipped = skipped
    top_videos_refresh()
    _checkpoint_set(minute=max(now_minute - SAFETY_MINUTES, checkpoint or first - 1), at=started)
    if result.days:
        logger.info("rollups: %d day(s) of %d video(s) recomputed, %d skipped", result.days, result.videos, skipped)
    return result


def rollup_days_all(*, today: date | None = None) -> list[date]:
    """Every UTC day that may still hold raw events (their TTL), newest first."""
    today = today or datetime.now(tz=UTC).date()
    keep_days = settings.WATCH_EVENT_TTL_SECONDS // 86400 + 1
    return [today - timedelta(days=i) for i in range(keep_days + 1)]
