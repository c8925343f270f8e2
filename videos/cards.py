"""Catalogue cards rendered once per version of a video, not once per member per page view.

A card is the same HTML for every member except its progress (the member's bar and "✓ Watched"),
so its two halves around that slot are kept per process, keyed by every field the card shows:
the key comes from the row the page just read, so a changed title, thumbnail, duration or slug is a
new key at once (nothing to invalidate, nothing stale), and the page fills in the member's
progress between the halves (templates/videos/catalogue.html). Rendering 24 cards with their
includes, filters and URL reversals was most of the home page's time (issue #12).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cachetools import LRUCache
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from videos.models import Video

# Where templates/videos/_video_card.html puts the member's progress; never in a video's data
# (the template escapes titles, so "<" cannot come from one).
PROGRESS_SLOT = "<!--wp:progress-->"

_cards: LRUCache[tuple[object, ...], tuple[SafeString, SafeString]] = LRUCache(maxsize=10_000)
_lock = threading.Lock()


@dataclass(frozen=True)
class Card:
    video: Video
    head: SafeString  # up to the progress slot
    tail: SafeString  # after it


def _key(video: Video) -> tuple[object, ...]:
    return (
        video.pk,
        video.slug,
        video.title,
        video.provider,
        video.thumbnail.name if video.thumbnail else "",
        video.card_image,
        video.duration,
        video.members_only,
    )


def video_cards_get(*, videos: list[Video]) -> list[Card]:
    """The catalogue cards of `videos`, in order, each split at its progress slot."""
    cards = []
    for video in videos:
        key = _key(video)
        with _lock:
            halves = _cards.get(key)
        if halves is None:
            html = render_to_string("videos/_video_card.html", {"video": video, "progress_slot": PROGRESS_SLOT})
            head, _, tail = html.partition(PROGRESS_SLOT)
            halves = (mark_safe(head), mark_safe(tail))  # noqa: S308 (our own autoescaped template)
            with _lock:
                _cards[key] = halves
        cards.append(Card(video, *halves))
    return cards


def video_cards_clear() -> None:
    """Forget rendered cards (tests that change a template's output)."""
    with _lock:
        _cards.clear()
