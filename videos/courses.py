"""A member's progress through a course, from their per-video progress (docs/architecture.md, "Courses").

Pure: the course page's view passes the outline (videos.selectors.course_outline_get) and the
progress map analytics put in its context (one `member_videos` partition read, videos.registry);
nothing here reads a store. The completion rule is the videos' own (`progress.completed`: coverage
of COMPLETION_SHARE of the seconds, or "Mark as watched").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from videos.cards import Progress
from videos.models import Video
from videos.selectors import CourseItem


class ItemProgress(Progress, Protocol):
    """What is read of a member's progress on one course item: a card's, plus where they stopped
    and when (analytics.selectors.VideoProgress)."""

    @property
    def position(self) -> int | None: ...
    @property
    def last_watched(self) -> datetime | None: ...


@dataclass(frozen=True)
class CourseProgress:
    total: int
    completed: int
    started: bool  # any item started
    # The button: "start" (nothing started), "continue", "again" (all completed) or "wait" (every
    # unfinished item is still locked); its item and the second it starts at (None: the beginning).
    action: str
    next_item: CourseItem | None
    next_position: int | None
    # When the last item was completed: the newest `last_watched` of the course's items, once all
    # are completed (None until then).
    completed_on: datetime | None

    @property
    def percent(self) -> int:
        """Completed items over items, rounded down (100 only when every item is completed)."""
        return 100 * self.completed // self.total if self.total else 0


def course_progress_from(*, items: Sequence[CourseItem], progress: Mapping[int, ItemProgress]) -> CourseProgress:
    """The member's progress through `items` (in course order) from their per-video progress."""
    done = [item for item in items if _completed(progress.get(item.video.pk))]
    started = any(p is not None and p.started for p in (progress.get(item.video.pk) for item in items))
    unfinished = [item for item in items if item not in done]
    completed_on = None
    if items and not unfinished:
        stamps = [p.last_watched for p in (progress.get(i.video.pk) for i in items) if p and p.last_watched]
        completed_on = max(stamps, default=None)
    next_item, position, action = None, None, "start" if not started else "continue"
    if not unfinished:
        next_item, action = (items[0] if items else None), "again"
    else:
        opened = [item for item in unfinished if not item.locked]
        if not opened:
            next_item, action = unfinished[0], "wait"
        else:
            next_item = opened[0]
            mine = progress.get(next_item.video.pk)
            position = mine.position if mine is not None and mine.position else None
    return CourseProgress(
        total=len(items),
        completed=len(done),
        started=started,
        action=action,
        next_item=next_item,
        next_position=position,
        completed_on=completed_on,
    )


def playlist_percent(*, videos: Sequence[Video], progress: Mapping[int, ItemProgress]) -> int:
    """A catalogue card's completion: completed videos over videos, rounded down."""
    if not videos:
        return 0
    return 100 * sum(1 for v in videos if _completed(progress.get(v.pk))) // len(videos)


def _completed(progress: ItemProgress | None) -> bool:
    return progress is not None and progress.completed
