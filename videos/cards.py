"""Catalogue cards: each rendered once per version of its video (config/fragments.py), the
member's progress filled in per page.

A card is the same HTML for every member except its `{% slot "progress" %}` (the member's
progress bar and "✓ Watched"), so it is a fragment keyed by the video row (its pk and version):
a changed title, thumbnail, duration or any other field is a new key at once, nothing to
invalidate and no key list to keep. Rendering 24 cards with their includes, filters, conditions
and URL reversals was most of the home page's time (issue #12). Other per-video cards (analytics'
Continue watching) use `config.fragments.fragment_get` the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from django.utils.safestring import SafeString, mark_safe

from config.fragments import fragment_get
from videos.models import Video


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


def video_cards_html(*, videos: Sequence[Video], progress: Mapping[int, Any]) -> SafeString:
    """The catalogue cards of `videos`, in order, each with the member's progress (`progress`:
    video id → analytics.selectors.VideoProgress)."""
    out = []
    for video in videos:
        fragment = fragment_get(template_name="videos/_video_card.html", shared={"video": video})
        out.append(fragment.fill({"progress": progress_html(progress.get(video.pk))}))
    return mark_safe("".join(out))  # noqa: S308 (our own autoescaped template; progress built from ints)
