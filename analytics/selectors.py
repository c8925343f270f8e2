"""Reads of the analytics app (Cassandra), for views and other apps."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from analytics.cassandra import (
    READ_PROFILE,
    READ_TUPLES_PROFILE,
    cassandra_date,
    cassandra_execute_all,
    cassandra_prepared,
    cassandra_session,
)

# Coverage at or above this share of a video's seconds completes it (dragging to the end does not).
COMPLETION_SHARE = 0.9
# Retention buckets: the b-th 1 % of the video (analytics.rollups uses the same).
BUCKETS = 100
# The most points a retention curve is drawn or exported with: one a second up to this many seconds,
# then spans of equal seconds (the stored curve is one count a second, however long: a client's
# 86,400 s position on a video of unknown duration made a 4 MiB page and a 5.4 MiB CSV).
RETENTION_POINTS = 500

SELECT_RESUME = "SELECT position FROM {ks}.member_videos WHERE user_id = ? AND video_id = ?"
SELECT_MEMBER_VIDEOS = (
    "SELECT video_id, position, last_watched, watched_buckets, hidden, marked_watched "
    "FROM {ks}.member_videos WHERE user_id = ?"
)


def watched_seconds_sum(*, buckets: Mapping[int, int] | None) -> int:
    """Distinct seconds watched, from MemberVideo.watched_buckets (each bucket's count is exact on
    its own; the sum is taken here, by the reader, so no stored total can lag behind a bucket)."""
    return sum(buckets.values()) if buckets else 0


def is_complete(*, seconds: int, duration: int | None) -> bool:
    """The completion rule, everywhere: the member watched COMPLETION_SHARE of the video's seconds
    (coverage, so dragging to the end does not complete). Unknown duration: never complete."""
    return bool(duration) and seconds >= COMPLETION_SHARE * duration  # type: ignore[operator]


@dataclass(frozen=True)
class VideoProgress:
    video_id: int
    position: int | None
    last_watched: datetime | None
    watched_seconds: int
    hidden: bool
    marked_watched: bool
    duration: int | None = None

    @property
    def completed(self) -> bool:
        if self.marked_watched:
            return True
        return is_complete(seconds=self.watched_seconds, duration=self.duration)

    @property
    def percent(self) -> int:
        """How far into the video the member stopped, for progress bars (100 once completed)."""
        if self.completed:
            return 100
        if not self.duration or self.position is None:
            return 0
        return max(1, min(99, round(100 * self.position / self.duration)))

    @property
    def started(self) -> bool:
        return self.position is not None or self.watched_seconds > 0


def resume_position_get(*, user_id: int, video_id: int) -> int | None:
    """The second where the member last stopped in the video (newest by their clock), or None."""
    row = (
        cassandra_session()
        .execute(cassandra_prepared(SELECT_RESUME), (user_id, video_id), execution_profile=READ_PROFILE)
        .one()
    )
    return None if row is None or row.position is None else int(row.position)


def video_progress_map(*, user_id: int, durations: dict[int, int | None]) -> dict[int, VideoProgress]:
    """The member's progress on every video they touched (one partition read), keyed by video id.

    `durations` (video id → seconds) comes from the catalogue; videos missing from it are skipped.
    """
    rows = cassandra_session().execute(
        cassandra_prepared(SELECT_MEMBER_VIDEOS), (user_id,), execution_profile=READ_TUPLES_PROFILE
    )
    progress = {}
    # Tuples in SELECT_MEMBER_VIDEOS's column order.
    for video_id, position, last_watched, watched_buckets, hidden, marked_watched in rows:
        if video_id not in durations:
            continue
        progress[video_id] = VideoProgress(
            video_id=video_id,
            position=position,
            last_watched=last_watched,
            watched_seconds=watched_seconds_sum(buckets=watched_buckets),
            hidden=bool(hidden),
            marked_watched=bool(marked_watched),
            duration=durations[video_id],
        )
    return progress


def continue_watching_from(*, progress: dict[int, VideoProgress], limit: int = 12) -> list[VideoProgress]:
    """The continue-watching rule applied to an already-read progress map (pages read it once)."""
    candidates = [
        p for p in progress.values() if p.started and not p.completed and not p.hidden and p.last_watched is not None
    ]
    candidates.sort(key=lambda p: p.last_watched.timestamp() if p.last_watched else 0.0, reverse=True)
    return candidates[:limit]


def completed_count(*, progress: dict[int, VideoProgress], video_ids: Iterable[int]) -> int:
    return sum(1 for video_id in video_ids if video_id in progress and progress[video_id].completed)


# --- Staff analytics: reads of the rollup tables only (analytics/rollups.py writes them) -----------

SELECT_ROLLUP_TOTALS = (
    "SELECT total_sessions, total_views, total_members, total_watch_seconds, total_completions, "
    "total_rewatch_seconds, duration, total_as_of FROM {ks}.video_rollups WHERE video_id = ? LIMIT 1"
)
SELECT_ROLLUP_DAYS = (
    "SELECT day, sessions, views, members, watch_seconds, completions, rewatch_seconds, as_of "
    "FROM {ks}.video_rollups WHERE video_id = ? AND day >= ? AND day <= ?"
)
SELECT_RETENTION = (
    "SELECT duration, members, viewers, buckets, as_of FROM {ks}.video_retention WHERE video_id = ? AND period = ?"
)
SELECT_TOP = (
    "SELECT rank, video_id, views, watch_seconds, as_of FROM {ks}.top_videos WHERE window_days = ? AND metric = ?"
)
SELECT_DAY_VIDEOS = "SELECT video_id, views, members, watch_seconds FROM {ks}.day_videos WHERE day = ?"
SELECT_ROLLUP_RUN = "SELECT updated_at FROM {ks}.rollup_checkpoints WHERE name = ?"
SELECT_DAY_MEMBERS = "SELECT user_id, coverage FROM {ks}.video_day_members WHERE video_id = ? AND day = ?"


# The rollup beat job's name in rollup_checkpoints (analytics.rollups.CHECKPOINT).
ROLLUP_JOB = "rollups"


@dataclass(frozen=True)
class RollupFigures:
    sessions: int = 0
    views: int = 0
    members: int = 0
    watch_seconds: int = 0
    completions: int = 0
    rewatch_seconds: int = 0

    @property
    def completion_rate(self) -> float | None:
        return self.completions / self.members if self.members else None

    @property
    def average_watch_per_session(self) -> float | None:
        return self.watch_seconds / self.sessions if self.sessions else None

    @property
    def average_watch_per_member(self) -> float | None:
        return self.watch_seconds / self.members if self.members else None


@dataclass(frozen=True)
class DayFigures(RollupFigures):
    day: date = date.min


@dataclass(frozen=True)
class RetentionCurve:
    duration: int
    members: int
    viewers: list[int]
    buckets: list[int]
    as_of: datetime | None
    completions: int = 0  # range curves only: members whose range coverage completes the video
    covered: int = 0  # range curves only: the sum of members' distinct seconds

    def share(self, count: float) -> float:
        return count / self.members if self.members else 0.0

    def spans(self, *, limit: int = RETENTION_POINTS) -> tuple[int, list[float]]:
        """`viewers` in at most `limit` spans of equal seconds (the last may be shorter), what
        charts and exports show: (seconds a span, each span's mean viewers); one span a second
        while the curve has at most `limit` seconds."""
        viewers = self.viewers
        step = max(1, -(-len(viewers) // limit))
        if step == 1:
            return 1, [float(v) for v in viewers]
        return step, [sum(viewers[i : i + step]) / len(viewers[i : i + step]) for i in range(0, len(viewers), step)]


@dataclass(frozen=True)
class VideoAnalytics:
    video_id: int
    total: RollupFigures
    as_of: datetime | None
    days: list[DayFigures]  # every day of the range, oldest first; days without traffic are zeros
    retention: RetentionCurve | None
    # The range's exact distinct members, their completions and retention curve (video_day_members).
    range_retention: RetentionCurve | None = None
    duration: int | None = None

    @property
    def range_total(self) -> RollupFigures:
        """The range's figures: additive ones summed over its days; members, completions and
        re-watches from the members' coverage over the whole range (exact, not member-days)."""
        curve = self.range_retention
        watch = sum(d.watch_seconds for d in self.days)
        return RollupFigures(
            sessions=sum(d.sessions for d in self.days),
            views=sum(d.views for d in self.days),
            members=curve.members if curve else 0,
            watch_seconds=watch,
            completions=curve.completions if curve else 0,
            rewatch_seconds=watch - (curve.covered if curve else 0),
        )


def _utc_aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _latest(*stamps: datetime | None) -> datetime | None:
    present = [_utc_aware(s) for s in stamps if s is not None]
    return max((s for s in present if s is not None), default=None)


def _concurrent(statements: list[tuple[Any, tuple[Any, ...]]]) -> list[list[Any]]:
    return [list(result) for result in cassandra_execute_all(statements, read=True)]


# --- Coverage bitmaps (video_day_members.coverage): bit s set = second s watched -------------------


def coverage_bitmap(seconds: Iterable[int]) -> bytes:
    """A set of seconds as a little-endian bitmap (what video_day_members stores)."""
    value = 0
    for s in seconds:
        if s >= 0:
            value |= 1 << s
    return value.to_bytes((value.bit_length() + 7) // 8, "little")


def _bit_counts(bitmaps: Iterable[int], length: int) -> list[int]:
    """counts[s] = how many bitmaps have bit s, for s < length, by bit-sliced addition.

    The counters are kept as bit planes (plane k holds bit k of every second's count), so adding a
    member costs ~log2(members) big-int operations instead of one per covered second.
    """
    planes: list[int] = []
    for carry in bitmaps:
        k = 0
        while carry:
            if k == len(planes):
                planes.append(0)
            plane = planes[k]
            planes[k] = plane ^ carry
            carry &= plane
            k += 1
    counts = [0] * length
    for k, plane in enumerate(planes):
        bits = format(plane, "b")[::-1][:length]
        for s, bit in enumerate(bits):
            if bit == "1":
                counts[s] += 1 << k
    return counts


def range_curve_compute(*, coverage: dict[int, int], duration: int | None) -> RetentionCurve:
    """Exact range figures from each member's coverage over the range (OR of their day bitmaps):
    the same definitions as the all-time curve (analytics.rollups._curve and is_complete)."""
    coverage = {u: c for u, c in coverage.items() if c}
    length = duration or max((c.bit_length() for c in coverage.values()), default=0)
    within = (1 << length) - 1
    popcounts = [(c & within).bit_count() for c in coverage.values()]
    buckets = [0] * (BUCKETS if length else 0)
    masks = []
    for b in range(len(buckets)):
        lo = b * length // BUCKETS
        hi = min(max((b + 1) * length // BUCKETS, lo + 1), length)
        masks.append(((1 << hi) - 1) ^ ((1 << lo) - 1))
    for c in coverage.values():
        for b, mask in enumerate(masks):
            if c & mask:
                buckets[b] += 1
    return RetentionCurve(
        duration=length,
        members=len(coverage),
        viewers=_bit_counts(coverage.values(), length),
        buckets=buckets,
        as_of=None,
        completions=sum(is_complete(seconds=n, duration=duration) for n in popcounts),
        covered=sum(c.bit_count() for c in coverage.values()),
    )


def _curve(row: Any) -> RetentionCurve:
    return RetentionCurve(
        duration=row.duration or 0,
        members=row.members or 0,
        viewers=list(row.viewers or ()),
        buckets=list(row.buckets or ()),
        as_of=_utc_aware(row.as_of),
    )


def video_analytics_get(*, video_id: int, since: date, until: date) -> VideoAnalytics:
    """A video's all-time figures and retention, and its figures from `since` to `until`.

    Reads of rollup tables only (never raw events), all at once: the video's rollup partition's
    static row, its day slice, its all-time retention partition, the beat job's checkpoint, and one
    video_day_members partition per day of the range (the range's exact distinct members,
    completions and retention). Cost bound: (range days + 4) partition reads, the largest part being
    one bitmap of ≤ duration/8 bytes per member per day with traffic in the range (the admin caps a
    range at 400 days); the CPU is one OR per member-day, ~log2(members) big-int additions per
    member for the curve and 100 ANDs per member for the 1 % buckets. `as_of` is the later of the
    video's last recomputation and the beat job's last run: a run that found no change for the
    video confirms its figures as of then.
    """
    span = (until - since).days + 1
    every_day = [since + timedelta(days=i) for i in range(span)]
    results = _concurrent(
        [
            (cassandra_prepared(SELECT_ROLLUP_TOTALS), (video_id,)),
            (cassandra_prepared(SELECT_ROLLUP_DAYS), (video_id, since, until)),
            (cassandra_prepared(SELECT_RETENTION), (video_id, "all")),
            (cassandra_prepared(SELECT_ROLLUP_RUN), (ROLLUP_JOB,)),
            *[(cassandra_prepared(SELECT_DAY_MEMBERS), (video_id, day)) for day in every_day],
        ]
    )
    totals, days, retention, run = results[:4]
    coverage: dict[int, int] = {}
    for rows in results[4:]:
        for r in rows:
            coverage[r.user_id] = coverage.get(r.user_id, 0) | int.from_bytes(r.coverage or b"", "little")
    row = totals[0] if totals else None
    total = RollupFigures()
    if row is not None and row.total_sessions is not None:
        total = RollupFigures(
            row.total_sessions,
            row.total_views or 0,
            row.total_members or 0,
            row.total_watch_seconds or 0,
            row.total_completions or 0,
            row.total_rewatch_seconds or 0,
        )
    by_day = {
        cassandra_date(r.day): DayFigures(
            r.sessions or 0,
            r.views or 0,
            r.members or 0,
            r.watch_seconds or 0,
            r.completions or 0,
            r.rewatch_seconds or 0,
            day=cassandra_date(r.day),
        )
        for r in days
        if r.day is not None
    }
    duration = row.duration if row is not None and row.duration else None
    return VideoAnalytics(
        video_id=video_id,
        total=total,
        as_of=_latest(row.total_as_of if row is not None else None, run[0].updated_at if run else None),
        days=[by_day.get(day, DayFigures(day=day)) for day in every_day],
        retention=_curve(retention[0]) if retention else None,
        range_retention=range_curve_compute(coverage=coverage, duration=duration) if coverage else None,
        duration=duration,
    )


@dataclass(frozen=True)
class TopVideoRow:
    rank: int
    video_id: int
    views: int
    watch_seconds: int


@dataclass(frozen=True)
class SiteFigures:
    """Site-wide figures over a period: the sums of every video's (deleted ones included)."""

    views: int = 0
    watch_seconds: int = 0
    videos: int = 0  # videos with at least one view or one second watched


@dataclass(frozen=True)
class Dashboard:
    top: dict[tuple[int, str], list[TopVideoRow]]
    days: list[date]  # every day of the range, oldest first
    daily_views: list[int]
    daily_watch_seconds: list[int]
    video_daily_views: dict[int, list[int]]  # per video, aligned with `days`
    as_of: datetime | None
    range_total: SiteFigures = SiteFigures()
    total: SiteFigures = SiteFigures()  # all time: every video's all-time totals, summed


SELECT_ALL_TIME_TOTALS = "SELECT DISTINCT video_id, total_views, total_watch_seconds FROM {ks}.video_rollups"


def analytics_dashboard_get(*, since: date, until: date) -> Dashboard:
    """Site-wide figures from `since` to `until` (daily totals, sparklines, sums) beside all time,
    and the top lists (last 7 and 30 days, by views and watch time).

    Reads of rollup tables only: the four top lists, one day_videos partition per day of the range
    (a row per video watched that day; the admin caps a range at 400 days) and the static all-time
    columns of every video_rollups partition (one row per video ever watched, read in pages), like
    the video page's range days and all-time totals."""
    windows = [(7, "views"), (7, "watch"), (30, "views"), (30, "watch")]
    day_list = [since + timedelta(days=i) for i in range((until - since).days + 1)]
    statements: list[tuple[Any, tuple[Any, ...]]] = [(cassandra_prepared(SELECT_TOP), w) for w in windows]
    statements += [(cassandra_prepared(SELECT_DAY_VIDEOS), (d,)) for d in day_list]
    statements.append((cassandra_prepared(SELECT_ALL_TIME_TOTALS), ()))
    results = _concurrent(statements)
    top = {
        window: [TopVideoRow(r.rank, r.video_id, r.views or 0, r.watch_seconds or 0) for r in rows]
        for window, rows in zip(windows, results[: len(windows)], strict=True)
    }
    stamps = [_utc_aware(r.as_of) for rows in results[: len(windows)] for r in rows if r.as_of]
    as_of = max((s for s in stamps if s is not None), default=None)
    per_video: dict[int, list[int]] = {}
    watched: set[int] = set()
    daily_views, daily_watch = [], []
    for i, rows in enumerate(results[len(windows) : -1]):
        daily_views.append(sum(r.views or 0 for r in rows))
        daily_watch.append(sum(r.watch_seconds or 0 for r in rows))
        for r in rows:
            per_video.setdefault(r.video_id, [0] * len(day_list))[i] = r.views or 0
            if r.views or r.watch_seconds:
                watched.add(r.video_id)
    totals = [(r.total_views or 0, r.total_watch_seconds or 0) for r in results[-1]]
    return Dashboard(
        top,
        day_list,
        daily_views,
        daily_watch,
        per_video,
        as_of,
        range_total=SiteFigures(sum(daily_views), sum(daily_watch), len(watched)),
        total=SiteFigures(
            sum(views for views, _ in totals),
            sum(seconds for _, seconds in totals),
            sum(1 for views, seconds in totals if views or seconds),
        ),
    )


@dataclass(frozen=True)
class Glance:
    """The admin index's analytics card: the last 7 UTC days, site-wide."""

    top: list[TopVideoRow]
    views: int
    watch_seconds: int
    as_of: datetime | None


def analytics_glance_get(*, today: date, top: int = 5) -> Glance:
    """Top videos by views and total views and watch time over the last 7 days: 8 partition reads."""
    day_list = [today - timedelta(days=i) for i in range(7)]
    results = _concurrent(
        [
            (cassandra_prepared(SELECT_TOP), (7, "views")),
            *[(cassandra_prepared(SELECT_DAY_VIDEOS), (d,)) for d in day_list],
        ]
    )
    top_rows = results[0]
    days = results[1:]
    return Glance(
        top=[TopVideoRow(r.rank, r.video_id, r.views or 0, r.watch_seconds or 0) for r in top_rows[:top]],
        views=sum(r.views or 0 for rows in days for r in rows),
        watch_seconds=sum(r.watch_seconds or 0 for rows in days for r in rows),
        as_of=max((s for s in (_utc_aware(r.as_of) for r in top_rows) if s is not None), default=None),
    )


# A funnel reads each item's member rows for each day of its range; these bound one page's reads
# (FUNNEL_MAX_ITEMS * FUNNEL_MAX_DAYS partitions at most).
FUNNEL_MAX_ITEMS = 50
FUNNEL_MAX_DAYS = 90
SELECT_DAY_MEMBER_COVERAGE = "SELECT user_id, coverage FROM {ks}.video_day_members WHERE video_id = ? AND day = ?"


@dataclass(frozen=True)
class FunnelStep:
    video_id: int
    started: int  # members who played at least one second of this video in the range
    completed: int  # ... whose coverage over the range reaches COMPLETION_SHARE of its duration


@dataclass(frozen=True)
class PlaylistFunnel:
    entrants: int  # members who started any of the playlist's videos in the range
    steps: list[FunnelStep]  # in the order asked for; each counted by video id alone
    completed_all: int | None  # entrants who completed every item (None when truncated)
    truncated: bool  # the playlist has more than FUNNEL_MAX_ITEMS items; only the first are shown
    unknown_durations: int = 0  # items whose duration is unknown: nobody can complete them


def playlist_funnel_get(
    *, video_ids: list[int], durations: dict[int, int | None], since: date, until: date
) -> PlaylistFunnel:
    """For a playlist's videos over a date range: the members who started any of them, and per
    video how many started and completed it.

    Each step is keyed by its video id: its figures depend only on that video's watching, so
    reordering the playlist moves rows but never changes them. From video_day_members (the rollups'
    exact per-member, per-day coverage; an erased member stays as their anonymous id). Cost bound:
    one partition read per item per day, at most FUNNEL_MAX_ITEMS * FUNNEL_MAX_DAYS, all concurrent;
    completion ORs each member's day bitmaps, as the video page's range figures do.
    """
    if (until - since).days + 1 > FUNNEL_MAX_DAYS:
        raise ValueError(f"a funnel spans at most {FUNNEL_MAX_DAYS} days")
    items = video_ids[:FUNNEL_MAX_ITEMS]
    days = [since + timedelta(days=i) for i in range((until - since).days + 1)]
    statement = cassandra_prepared(SELECT_DAY_MEMBER_COVERAGE)
    results = _concurrent([(statement, (v, day)) for v in items for day in days])
    entrants: set[int] = set()
    finished: set[int] | None = None
    steps = []
    for i, video_id in enumerate(items):
        coverage: dict[int, int] = {}
        for rows in results[i * len(days) : (i + 1) * len(days)]:
            for r in rows:
                coverage[r.user_id] = coverage.get(r.user_id, 0) | int.from_bytes(r.coverage or b"", "little")
        started = {u for u, c in coverage.items() if c}
        duration = durations.get(video_id)
        done = {u for u in started if is_complete(seconds=coverage[u].bit_count(), duration=duration)}
        entrants |= started
        finished = done if finished is None else finished & done
        steps.append(FunnelStep(video_id=video_id, started=len(started), completed=len(done)))
    truncated = len(video_ids) > len(items)
    return PlaylistFunnel(
        entrants=len(entrants),
        steps=steps,
        completed_all=None if truncated else len(finished or set()),
        truncated=truncated,
        unknown_durations=sum(1 for v in items if not durations.get(v)),
    )


SELECT_LAST_TITLE = "SELECT title FROM {ks}.video_rollups WHERE video_id = ? LIMIT 1"


def video_last_titles_get(*, video_ids: list[int]) -> dict[int, str]:
    """The titles the rollups kept for these videos (deleted ones: their last title); one
    partition row each, read at once."""
    results = _concurrent([(cassandra_prepared(SELECT_LAST_TITLE), (v,)) for v in video_ids])
    return {v: rows[0].title for v, rows in zip(video_ids, results, strict=True) if rows and rows[0].title}


# --- Member data: the export (registered with accounts' member-data registry) and the erasure's index

SELECT_DAYS = "SELECT day, video_id FROM {ks}.member_watch_days WHERE user_id = ?"
SELECT_DAY_EVENTS = (
    "SELECT video_id, session_id, position, client_ts, rate FROM {ks}.watch_events WHERE user_id = ? AND day = ?"
)
SELECT_STATE = (
    "SELECT video_id, position, last_watched, watched_buckets, hidden, marked_watched "
    "FROM {ks}.member_videos WHERE user_id = ?"
)


def member_watch_days_get(*, user_id: int) -> list[Any]:
    """The member's day index: a row (day, video_id) for each video watched on each day."""
    return list(cassandra_session().execute(cassandra_prepared(SELECT_DAYS), (user_id,)))


def member_watch_data_export(*, user_id: int) -> dict[str, Any]:
    """Everything Watchpoint stores about a member's watching: positions and per-session history,
    each video named by its title and its page's path on the site (a deleted video: the title it
    last had, no path). Times are UTC with their offset; a session's seconds are listed as the
    ranges of consecutive seconds it covered (a two-hour film is a line, not 7,200 numbers)."""
    from videos.selectors import video_links_in_bulk

    session = cassandra_session()
    state = list(session.execute(cassandra_prepared(SELECT_STATE), (user_id,)))
    days = sorted({row.day for row in member_watch_days_get(user_id=user_id)})
    history: dict[tuple[str, int, str], set[int]] = defaultdict(set)
    for day in days:
        for row in session.execute(cassandra_prepared(SELECT_DAY_EVENTS), (user_id, day)):
            history[(str(day), row.video_id, str(row.session_id))].add(row.position)
    video_ids = sorted({r.video_id for r in state} | {v for _, v, _ in history})
    links: dict[int, tuple[str | None, str | None]] = dict(video_links_in_bulk(video_ids=video_ids))
    deleted = [v for v in video_ids if v not in links]
    if deleted:
        # Gone from the catalogue: the title the rollups kept (video_rollups.title), no page.
        links |= {v: (title, None) for v, title in video_last_titles_get(video_ids=deleted).items()}

    def named(video_id: int) -> dict[str, Any]:
        title, url = links.get(video_id, (None, None))
        return {"video_id": video_id, "title": title, "url": url}

    return {
        "videos": [
            named(row.video_id)
            | {
                "resume_position_seconds": row.position,
                # Naive from the driver, in UTC: said so, with the offset.
                "last_watched": row.last_watched.replace(tzinfo=UTC).isoformat() if row.last_watched else None,
                "seconds_watched": watched_seconds_sum(buckets=row.watched_buckets),
                "removed_from_continue_watching": bool(row.hidden),
                "marked_watched": bool(row.marked_watched),
            }
            for row in state
        ],
        "history": [
            {"day": day}
            | named(video_id)
            | {
                "viewing_session": sid,
                "seconds_watched": len(positions),
                "ranges": [{"from": first, "to": last} for first, last in seconds_ranges(positions)],
            }
            for (day, video_id, sid), positions in sorted(history.items())
        ],
    }


def seconds_ranges(seconds: set[int] | list[int]) -> list[tuple[int, int]]:
    """Consecutive seconds as inclusive (first, last) ranges: {0, 1, 2, 5} -> [(0, 2), (5, 5)]."""
    ranges: list[tuple[int, int]] = []
    for second in sorted(seconds):
        if ranges and second == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], second)
        else:
            ranges.append((second, second))
    return ranges


# --- The recount's read (analytics.recount) -----------------------------------------------------

# Only the rows the round touched are counted (Cassandra 5.0's collection_count, by the node): the
# cost per batch does not grow with how much of the video the member had watched (MemberVideoCoverage).
SELECT_BUCKET_COUNTS = (
    "SELECT video_id, bucket, collection_count(seconds) AS watched FROM {ks}.member_video_coverage "
    "WHERE user_id = ? AND (video_id, bucket) IN ?"
)


def coverage_bucket_counts_get(*, rows_of: dict[int, list[tuple[int, int]]]) -> dict[int, dict[int, dict[int, int]]]:
    """For each member, the seconds watched in each of the given (video, bucket) coverage rows:
    {user_id: {video_id: {bucket: seconds}}}. One read per member, all members at once."""
    members = list(rows_of)
    select = cassandra_prepared(SELECT_BUCKET_COUNTS)
    reads = cassandra_execute_all([(select, (u, rows_of[u])) for u in members])
    counts: dict[int, dict[int, dict[int, int]]] = {}
    for user_id, result in zip(members, reads, strict=True):
        by_video: dict[int, dict[int, int]] = defaultdict(dict)
        for row in result:
            by_video[row.video_id][row.bucket] = row.watched or 0
        counts[user_id] = by_video
    return counts
