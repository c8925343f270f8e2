"""Reads of the analytics app (Cassandra), for views and other apps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cassandra.concurrent import execute_concurrent

from analytics.cassandra import READ_PROFILE, cassandra_prepared, cassandra_session

# Coverage at or above this share of a video's seconds completes it (dragging to the end does not).
COMPLETION_SHARE = 0.9

SELECT_RESUME = "SELECT position FROM {ks}.member_videos WHERE user_id = ? AND video_id = ?"
SELECT_MEMBER_VIDEOS = (
    "SELECT video_id, position, last_watched, watched, hidden, marked_watched FROM {ks}.member_videos WHERE user_id = ?"
)


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
        return bool(self.duration) and self.watched_seconds >= COMPLETION_SHARE * self.duration  # type: ignore[operator]

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
        cassandra_prepared(SELECT_MEMBER_VIDEOS), (user_id,), execution_profile=READ_PROFILE
    )
    progress = {}
    for row in rows:
        if row.video_id not in durations:
            continue
        progress[row.video_id] = VideoProgress(
            video_id=row.video_id,
            position=row.position,
            last_watched=row.last_watched,
            watched_seconds=row.watched or 0,
            hidden=bool(row.hidden),
            marked_watched=bool(row.marked_watched),
            duration=durations[row.video_id],
        )
    return progress


def continue_watching_list(*, user_id: int, durations: dict[int, int | None], limit: int = 12) -> list[VideoProgress]:
    """Videos started and not completed nor removed by the member, newest first."""
    return continue_watching_from(progress=video_progress_map(user_id=user_id, durations=durations), limit=limit)


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

    def share(self, count: int) -> float:
        return count / self.members if self.members else 0.0


@dataclass(frozen=True)
class VideoAnalytics:
    video_id: int
    total: RollupFigures
    as_of: datetime | None
    days: list[DayFigures]  # every day of the range, oldest first; days without traffic are zeros
    retention: RetentionCurve | None

    @property
    def range_total(self) -> RollupFigures:
        """The range's additive figures (members and completions here are member-days)."""
        return RollupFigures(
            sessions=sum(d.sessions for d in self.days),
            views=sum(d.views for d in self.days),
            members=sum(d.members for d in self.days),
            watch_seconds=sum(d.watch_seconds for d in self.days),
            completions=sum(d.completions for d in self.days),
            rewatch_seconds=sum(d.rewatch_seconds for d in self.days),
        )


def _utc_aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _latest(*stamps: datetime | None) -> datetime | None:
    present = [_utc_aware(s) for s in stamps if s is not None]
    return max((s for s in present if s is not None), default=None)


def _date(value: Any) -> date:
    return value if isinstance(value, date) else value.date()


def _concurrent(statements: list[tuple[Any, tuple[Any, ...]]]) -> list[Any]:
    results = execute_concurrent(
        cassandra_session(), statements, concurrency=32, raise_on_first_error=True, execution_profile=READ_PROFILE
    )
    return [list(result) for _, result in results]


def video_retention_get(*, video_id: int, period: str = "all") -> RetentionCurve | None:
    """A video's retention curve for `period` ("all" or an ISO date), or None before any rollup."""
    rows = _concurrent([(cassandra_prepared(SELECT_RETENTION), (video_id, period))])[0]
    return _curve(rows[0]) if rows else None


def _curve(row: Any) -> RetentionCurve:
    return RetentionCurve(
        duration=row.duration or 0,
        members=row.members or 0,
        viewers=list(row.viewers or ()),
        buckets=list(row.buckets or ()),
        as_of=_utc_aware(row.as_of),
    )


def video_analytics_get(*, video_id: int, since: date, until: date) -> VideoAnalytics:
    """A video's all-time figures and retention, and its daily figures from `since` to `until`.

    Four reads of rollup tables (never raw events): the video's rollup partition's static row, its
    day slice, its all-time retention partition, and the beat job's checkpoint. `as_of` is the later
    of the video's last recomputation and the beat job's last run: a run that found no change for the
    video confirms its figures as of then.
    """
    totals, days, retention, run = _concurrent(
        [
            (cassandra_prepared(SELECT_ROLLUP_TOTALS), (video_id,)),
            (cassandra_prepared(SELECT_ROLLUP_DAYS), (video_id, since, until)),
            (cassandra_prepared(SELECT_RETENTION), (video_id, "all")),
            (cassandra_prepared(SELECT_ROLLUP_RUN), (ROLLUP_JOB,)),
        ]
    )
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
        _date(r.day): DayFigures(
            r.sessions or 0,
            r.views or 0,
            r.members or 0,
            r.watch_seconds or 0,
            r.completions or 0,
            r.rewatch_seconds or 0,
            day=_date(r.day),
        )
        for r in days
        if r.day is not None
    }
    span = (until - since).days + 1
    every_day = [since + timedelta(days=i) for i in range(span)]
    return VideoAnalytics(
        video_id=video_id,
        total=total,
        as_of=_latest(row.total_as_of if row is not None else None, run[0].updated_at if run else None),
        days=[by_day.get(day, DayFigures(day=day)) for day in every_day],
        retention=_curve(retention[0]) if retention else None,
    )


@dataclass(frozen=True)
class TopVideoRow:
    rank: int
    video_id: int
    views: int
    watch_seconds: int


@dataclass(frozen=True)
class Dashboard:
    top: dict[tuple[int, str], list[TopVideoRow]]
    days: list[date]  # oldest first
    daily_views: list[int]
    daily_watch_seconds: list[int]
    video_daily_views: dict[int, list[int]]  # per video, aligned with `days`
    as_of: datetime | None


def analytics_dashboard_get(*, today: date, days: int = 30) -> Dashboard:
    """Site-wide top lists (last 7 and 30 days, by views and watch time), daily totals, sparklines."""
    windows = [(7, "views"), (7, "watch"), (30, "views"), (30, "watch")]
    day_list = [today - timedelta(days=i) for i in reversed(range(days))]
    statements: list[tuple[Any, tuple[Any, ...]]] = [(cassandra_prepared(SELECT_TOP), w) for w in windows]
    statements += [(cassandra_prepared(SELECT_DAY_VIDEOS), (d,)) for d in day_list]
    results = _concurrent(statements)
    top = {
        window: [TopVideoRow(r.rank, r.video_id, r.views or 0, r.watch_seconds or 0) for r in rows]
        for window, rows in zip(windows, results[: len(windows)], strict=True)
    }
    stamps = [_utc_aware(r.as_of) for rows in results[: len(windows)] for r in rows if r.as_of]
    as_of = max((s for s in stamps if s is not None), default=None)
    per_video: dict[int, list[int]] = {}
    daily_views, daily_watch = [], []
    for i, rows in enumerate(results[len(windows) :]):
        daily_views.append(sum(r.views or 0 for r in rows))
        daily_watch.append(sum(r.watch_seconds or 0 for r in rows))
        for r in rows:
            per_video.setdefault(r.video_id, [0] * days)[i] = r.views or 0
    return Dashboard(top, day_list, daily_views, daily_watch, per_video, as_of)
