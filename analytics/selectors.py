"""Reads of the analytics app (Cassandra), for views and other apps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

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
    candidates = [
        p
        for p in video_progress_map(user_id=user_id, durations=durations).values()
        if p.started and not p.completed and not p.hidden and p.last_watched is not None
    ]
    candidates.sort(key=lambda p: p.last_watched.timestamp() if p.last_watched else 0.0, reverse=True)
    return candidates[:limit]


def completed_count(*, progress: dict[int, VideoProgress], video_ids: Iterable[int]) -> int:
    return sum(1 for video_id in video_ids if video_id in progress and progress[video_id].completed)
