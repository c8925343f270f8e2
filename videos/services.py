"""Writes to the catalogue: adding videos from URLs, publishing, and what players report."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from videos.models import Video
from videos.providers import VideoSource

# A player reporting more than this is wrong (or lying); no catalogue entry is 24 hours long.
MAX_REPORTED_DURATION_SECONDS = 24 * 3600


class DuplicateVideo(ValueError):
    def __init__(self, existing: Video) -> None:
        super().__init__(f"This video is already in the catalogue as {existing.title!r}.")
        self.existing = existing


def video_duplicate_get(*, source: VideoSource, exclude_pk: int | None = None) -> Video | None:
    """The entry that already holds this source, if any.

    A Vimeo unlisted link ("<id>:<hash>") and the public link ("<id>") are the same video.
    """
    if source.provider == "vimeo":
        numeric = source.external_id.split(":", 1)[0]
        match = Q(external_id=numeric) | Q(external_id__startswith=f"{numeric}:")
    else:
        match = Q(external_id=source.external_id)
    qs = Video.objects.filter(match, provider=source.provider)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.first()


def video_slug_make(*, title: str, exclude_pk: int | None = None) -> str:
    base = slugify(title)[:200] or "video"
    others = Video.objects.exclude(pk=exclude_pk) if exclude_pk is not None else Video.objects.all()
    slug, n = base, 1
    while others.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def video_create_from_source(
    *,
    source: VideoSource,
    title: str,
    source_url: str = "",
    description: str = "",
    duration: int | None = None,
    members_only: bool = True,
    is_published: bool = False,
) -> Video:
    """Add a catalogue entry for a parsed URL; `DuplicateVideo` when it is already there."""
    existing = video_duplicate_get(source=source)
    if existing is not None:
        raise DuplicateVideo(existing)
    return Video.objects.create(
        title=title,
        slug=video_slug_make(title=title),
        description=description,
        provider=source.provider,
        external_id=source.external_id,
        source_url=source_url,
        duration=duration,
        members_only=members_only,
        is_published=is_published,
        published_at=timezone.now() if is_published else None,
    )


def video_publish_set(*, videos: Iterable[Video], published: bool) -> int:
    """Publish or unpublish; a first publication stamps `published_at`, later ones keep it."""
    pks = [v.pk for v in videos]
    if published:
        Video.objects.filter(pk__in=pks, published_at__isnull=True).update(published_at=timezone.now())
    return Video.objects.filter(pk__in=pks).update(is_published=published)


def video_duration_fill(*, video_id: int, seconds: float) -> bool:
    """Record a player-reported duration if none is known yet; True if this report set it.

    Once set (by staff or an earlier report) it is never overwritten by clients: the conditional
    UPDATE makes concurrent first reports race safely, exactly one wins.
    """
    whole = round(seconds)
    if not 0 < whole <= MAX_REPORTED_DURATION_SECONDS:
        raise ValueError(f"duration must be between 1 and {MAX_REPORTED_DURATION_SECONDS} seconds")
    return bool(Video.objects.filter(pk=video_id, duration__isnull=True).update(duration=whole))


def video_unavailable_record(*, video_id: int, code: str) -> bool:
    """Flag the video unavailable the first time a player says so; True if this report did."""
    return bool(
        Video.objects.filter(pk=video_id, is_unavailable=False).update(
            is_unavailable=True, unavailable_at=timezone.now(), unavailable_code=code[:32]
        )
    )


def video_available_set(*, videos: Iterable[Video]) -> int:
    """Staff checked the flagged videos and they play again."""
    return Video.objects.filter(pk__in=[v.pk for v in videos]).update(
        is_unavailable=False, unavailable_at=None, unavailable_code=""
    )
