"""Catalogue cards: each rendered once per version of its video (config/fragments.py), the
member's progress filled in per page.

A card is the same HTML for every member except its `{% slot "progress" %}` (the member's
progress bar and "✓ Watched", or the drip lock of a course item not open to them yet), so it is a
fragment keyed by the video row (its pk and version): a changed title, thumbnail, duration or any
other field is a new key at once, nothing to invalidate and no key list to keep. Rendering 24 cards
with their includes, filters, conditions and URL reversals was most of the home page's time (issue
#12). Other per-video cards (analytics' Continue watching) use `config.fragments.fragment_get` the
same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from config.fragments import fragment_get
from videos.models import Video
from videos.selectors import DripLock


class Progress(Protocol):
    """What a card shows of a member's progress (analytics.selectors.VideoProgress)."""

    @property
    def completed(self) -> bool: ...
    @property
    def started(self) -> bool: ...
    @property
    def percent(self) -> int: ...


def progress_html(progress: Progress | None) -> SafeString:
    """The member's "✓ Watched" and bar on a catalogue card (empty when they never started it)."""
    if progress is None:
        return mark_safe("")
    done = progress.completed
    html = '<span class="video-card__done">✓ Watched</span>' if done else ""
    if progress.started or done:
        percent = int(progress.percent)
        html += (
            f'<progress class="progress" max="100" value="{percent}" aria-label="Watched {percent}%">'
            f"{percent}%</progress>"
        )
    return mark_safe(html)  # noqa: S308 (constant markup around an int)


def lock_html(lock: DripLock) -> SafeString:
    """A card's "🔒 Opens 5 Dec" (in the site's time zone; the year too when not this year), or,
    before the member starts the course, "🔒 Opens 3 days after you start <course>"."""
    if lock.opens_at is not None:
        opens = timezone.localtime(lock.opens_at)
        shown = date_format(opens, "j M" if opens.year == timezone.localdate().year else "j M Y")
        return format_html(
            '<span class="video-card__lock" data-card-lock>🔒 Opens <time datetime="{}">{}</time></span>',
            opens.isoformat(),
            shown,
        )
    course = lock.course or "the course"
    return format_html(
        '<span class="video-card__lock" data-card-lock>🔒 Opens {} day{} after you start {}</span>',
        lock.days,
        pluralize(lock.days),
        course,
    )


def video_cards_html(
    *, videos: Sequence[Video], progress: Mapping[int, Any], locks: Mapping[int, DripLock] | None = None
) -> SafeString:
    """The catalogue cards of `videos`, in order, each with the member's progress (`progress`:
    video id → analytics.selectors.VideoProgress) or, for a course item still dripped shut for
    them, its lock instead (`locks`: videos.selectors.video_drip_locks_in_bulk)."""
    out = []
    locks = locks or {}
    for video in videos:
        fragment = fragment_get(template_name="videos/_video_card.html", shared={"video": video})
        lock = locks.get(video.pk)
        slot = lock_html(lock) if lock is not None else progress_html(progress.get(video.pk))
        out.append(fragment.fill({"progress": slot}))
    return mark_safe("".join(out))  # noqa: S308 (our own autoescaped template; progress built from ints)
