"""Cards rendered once per version of a video, not once per member per page view.

A card is the same HTML for every member except a few slots (the member's progress bar, "✓
Watched", a CSRF token), so it is rendered once per process with a marker in each slot and kept
as the text between them, keyed by every field the card shows: the key comes from the row the page
just read, so a changed title, thumbnail, duration or slug is a new key at once (nothing to
invalidate, nothing stale), and each page fills in the member's slots by joining strings. Rendering
24 cards with their includes, filters, conditions and URL reversals was most of the home page's
time (issue #12).

- catalogue cards (templates/videos/_video_card.html): `video_cards_html`, the member's progress
  in each;
- any other per-video card (e.g. analytics' Continue watching): `video_fragment_get`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from videos.models import Video

# A slot's marker: never in a video's data (templates escape titles and descriptions, so "<"
# cannot come from one).
_SLOT = re.compile(r"<!--wp:([a-z_]+)-->")


def slot(name: str) -> SafeString:
    """The marker a fragment's template puts where slot `name` is filled per page."""
    return mark_safe(f"<!--wp:{name}-->")  # noqa: S308 (a constant marker)


@dataclass(frozen=True)
class Fragment:
    """A rendered template cut at its slots: text, slot name, text, ..., text."""

    parts: tuple[str, ...]

    def fill(self, values: Mapping[str, str]) -> str:
        """The HTML with each slot replaced by `values[name]` (already escaped by the caller)."""
        parts = self.parts
        return "".join(part if n % 2 == 0 else values[part] for n, part in enumerate(parts))


# A plain dict (a lookup is atomic, no lock, no recency bookkeeping: a page looks up ~30 cards),
# emptied when full: versions of cards only accumulate when staff edit videos.
_fragments: dict[tuple[object, ...], Fragment] = {}
_MAX_FRAGMENTS = 20_000


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


def video_fragment_get(
    *, template: str, video: Video, slots: Sequence[str], variant: Mapping[str, bool] | None = None
) -> Fragment:
    """`template` rendered for `video` (context: `video`, each slot's marker as `<name>_slot` and
    the `variant`'s names, e.g. which state of the member's progress), once per version of the
    video and variant in this process; read-only."""
    variant = variant or {}
    key = (template, *_key(video), *sorted(variant.items()))
    found = _fragments.get(key)
    if found is None:
        context = {"video": video, **variant, **{f"{name}_slot": slot(name) for name in slots}}
        html = render_to_string(template, context)
        found = Fragment(tuple(_SLOT.split(html)))
        if len(_fragments) >= _MAX_FRAGMENTS:
            _fragments.clear()
        _fragments[key] = found
    return found


class Progress(Protocol):
    """What a card shows of a member's progress (analytics.selectors.VideoProgress)."""

    @property
    def completed(self) -> bool: ...
    @property
    def started(self) -> bool: ...
    @property
    def percent(self) -> int: ...


def progress_html(progress: Progress | None) -> str:
    """The member's "✓ Watched" and bar on a catalogue card (empty when they never started it)."""
    if progress is None:
        return ""
    done = progress.completed
    html = '<span class="video-card__done">✓ Watched</span>' if done else ""
    if progress.started or done:
        percent = int(progress.percent)
        html += (
            f'<progress class="progress" max="100" value="{percent}" aria-label="Watched {percent}%">'
            f"{percent}%</progress>"
        )
    return html


def video_cards_html(*, videos: Sequence[Video], progress: Mapping[int, Any]) -> SafeString:
    """The catalogue cards of `videos`, in order, each with the member's progress (`progress`:
    video id → analytics.selectors.VideoProgress)."""
    out = []
    for video in videos:
        fragment = video_fragment_get(template="videos/_video_card.html", video=video, slots=("progress",))
        out.append(fragment.fill({"progress": progress_html(progress.get(video.pk))}))
    return mark_safe("".join(out))  # noqa: S308 (our own autoescaped template; progress built from ints)


def video_cards_clear() -> None:
    """Forget rendered cards (tests that change a template's output)."""
    _fragments.clear()
