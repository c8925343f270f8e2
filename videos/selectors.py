"""Reads of the catalogue, for this app's views and for other apps."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar, cast

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError
from django.db.models import Count, Q, QuerySet

from accounts.selectors import Member, member_confirmed_cache_clear, member_is_confirmed_cached
from videos.media import ladder_url_sign
from videos.models import Playlist, PlaylistItem, Video, VideoCaption, VideoPlaybackProblem

logger = logging.getLogger(__name__)
T = TypeVar("T")


def video_published_list() -> QuerySet[Video]:
    return Video.objects.filter(is_published=True)


def video_member_visible_list() -> QuerySet[Video]:
    """What members browse: published videos the server's check found playable (an unavailable
    one keeps its watch page, with a notice, for old links)."""
    return video_published_list().filter(is_unavailable=False)


def video_catalogue_list(*, search: str = "") -> QuerySet[Video]:
    """Published, available videos in catalogue order, optionally matching `search` in title or description."""
    qs = video_member_visible_list().order_by("position", "-published_at", "-id")
    for word in search.split()[:8]:
        qs = qs.filter(Q(title__icontains=word) | Q(description__icontains=word))
    return qs


def playlist_catalogue_list() -> QuerySet[Playlist]:
    """Published playlists, each annotated with `video_count` (its published, available videos)."""
    return Playlist.objects.filter(is_published=True).annotate(
        video_count=Count("items", filter=Q(items__video__is_published=True, items__video__is_unavailable=False))
    )


def playlist_published_get(*, slug: str) -> Playlist | None:
    return Playlist.objects.filter(slug=slug, is_published=True).first()


def playlist_video_list(*, playlist: Playlist) -> list[Video]:
    """The playlist's published, available videos, in its order."""
    items = PlaylistItem.objects.filter(
        playlist=playlist, video__is_published=True, video__is_unavailable=False
    ).select_related("video")
    return [item.video for item in items.order_by("position", "id")]


# The watch-tracking endpoint asks "may this member report this video?" for every batch of every
# viewer (hundreds per second), so a video's publication (published or not) is kept per process
# for 5 s: publishing or unpublishing it, or making it members-only, takes up to 5 s to reach the
# endpoint (a member's confirmation: accounts.selectors.member_is_confirmed_cached). A bounded
# LRU-evicting cache (cachetools), locked because gunicorn's threads share it; the database is
# read outside the lock.
_WATCHABLE_TTL_SECONDS = 5.0
_MISSING = object()
_published: TTLCache[int, Video | None] = TTLCache(maxsize=10_000, ttl=_WATCHABLE_TTL_SECONDS, timer=time.monotonic)
_cache_lock = threading.Lock()


def video_watchable_get(*, user: Member | AnonymousUser, video_id: int) -> Video | None:
    """The video if `user` may watch (and so report watching) it, else None.

    Published videos only; members-only videos need a member with a confirmed email address.
    Cached per process (see _WATCHABLE_TTL_SECONDS); treat the result as read-only.
    """
    with _cache_lock:
        cached = _published.get(video_id, _MISSING)
    if cached is _MISSING:
        video = Video.objects.filter(pk=video_id, is_published=True).first()
        with _cache_lock:
            _published[video_id] = video
    else:
        video = cast("Video | None", cached)
    if video is None:
        return None
    if video.members_only and not member_is_confirmed_cached(user=user):
        return None
    return video


def video_watchable_cache_clear() -> None:
    """Forget cached answers (tests that change a video and ask again at once)."""
    with _cache_lock:
        _published.clear()
    member_confirmed_cache_clear()


def video_reportable_get(*, user: Member | AnonymousUser, video_id: int) -> Video | None:
    """The video if `user` may report what its player saw: anyone who may watch it, and staff
    previewing it (unpublished included)."""
    if user.is_authenticated and user.is_staff:
        return Video.objects.filter(pk=video_id).first()
    return video_watchable_get(user=user, video_id=video_id)


class Access(enum.Enum):
    WATCH = "watch"
    LOG_IN = "log_in"  # members-only, visitor is anonymous
    CONFIRM_EMAIL = "confirm_email"  # members-only, member has not confirmed an address


@dataclass(frozen=True)
class WatchAccess:
    video: Video
    access: Access


def video_access_get(*, user: Member | AnonymousUser, slug: str) -> WatchAccess | None:
    """What `user` may do with the video at `slug`; None when it does not exist for them.

    Unpublished videos exist only for staff (who preview them); staff may watch anything.
    """
    try:
        video: Video | None = catalogue_snapshot_get().by_slug.get(slug)
    except CatalogueUnavailable:
        video = None
    if video is None:  # unpublished (staff previews), or published since the snapshot was read
        video = Video.objects.filter(slug=slug).first()
    if video is None:
        return None
    is_staff = bool(user.is_authenticated and user.is_staff)
    if not video.is_published and not is_staff:
        return None
    if is_staff or not video.members_only or member_is_confirmed_cached(user=user):
        return WatchAccess(video, Access.WATCH)
    if not user.is_authenticated:
        return WatchAccess(video, Access.LOG_IN)
    return WatchAccess(video, Access.CONFIRM_EMAIL)


class CatalogueUnavailable(Exception):
    """The catalogue snapshot could not be loaded yet (database down at start-up)."""


class _Snapshot(Generic[T]):
    """A per-process value `load`ed from the database, reloaded at most every
    CATALOGUE_SNAPSHOT_SECONDS.

    One thread reloads while the others keep answering from the previous snapshot; only the very
    first load makes callers wait. A failed reload keeps the old snapshot (retried a second later).
    """

    def __init__(self, load: Callable[[], T]) -> None:
        self.load = load
        self.lock = threading.Lock()
        self.value: T | None = None
        self.fresh_until = 0.0

    def get(self) -> T:
        if time.monotonic() >= self.fresh_until:
            self._reload(wait=self.value is None)
        value = self.value
        if value is None:
            raise CatalogueUnavailable
        return value

    def _reload(self, *, wait: bool) -> None:
        if not self.lock.acquire(blocking=wait):
            return
        try:
            if time.monotonic() < self.fresh_until:  # another thread reloaded while we waited
                return
            try:
                self.value = self.load()
                self.fresh_until = time.monotonic() + settings.CATALOGUE_SNAPSHOT_SECONDS
            except DatabaseError:
                logger.warning("could not reload the published catalogue", exc_info=True)
                self.fresh_until = time.monotonic() + 1.0
        finally:
            self.lock.release()

    def clear(self) -> None:
        with self.lock:
            self.value, self.fresh_until = None, 0.0


_published_snapshot = _Snapshot(lambda: dict(video_published_list().values_list("pk", "duration")))


def video_published_durations() -> dict[int, int | None]:
    """Duration in seconds (None when unknown) of every published video, keyed by id: a per-process
    snapshot at most CATALOGUE_SNAPSHOT_SECONDS old (the watch endpoint and every page's progress
    read it on every request; publishing or unpublishing shows within that time). Read-only.
    Raises CatalogueUnavailable if it has never loaded (database down since start-up)."""
    return _published_snapshot.get()


class PublishedAccess(NamedTuple):
    """What the watch endpoint checks of a published video on every batch."""

    duration: int | None
    members_only: bool
    available: bool


_access_snapshot = _Snapshot(
    lambda: {
        pk: PublishedAccess(duration, members_only, not unavailable)
        for pk, duration, members_only, unavailable in video_published_list().values_list(
            "pk", "duration", "members_only", "is_unavailable"
        )
    }
)


def video_published_access() -> dict[int, PublishedAccess]:
    """Duration, members-only flag and availability of every published video, keyed by id: a
    per-process snapshot at most CATALOGUE_SNAPSHOT_SECONDS old, so staff tightening a video's
    access reaches the watch endpoint within that time. Read-only. Raises CatalogueUnavailable if
    it has never loaded."""
    return _access_snapshot.get()


@dataclass(frozen=True)
class Catalogue:
    """What members' pages show of the published catalogue, read at once (read-only: shared by
    every thread of the process)."""

    listed: list[Video]  # published and available, in catalogue order (the home page)
    visible: dict[int, Video]  # the same, by id
    by_slug: dict[str, Video]  # every published video, unavailable ones included (their watch page)
    playlists: list[Playlist]  # published, each with `video_count` (its published, available videos)
    playlist_videos: dict[str, list[Video]]  # playlist slug -> its published, available videos, in order


def _catalogue_load() -> Catalogue:
    published = list(video_published_list().order_by("position", "-published_at", "-id"))
    listed = [video for video in published if not video.is_unavailable]
    visible = {video.pk: video for video in listed}
    playlists = list(Playlist.objects.filter(is_published=True))
    items: dict[int, list[Video]] = {playlist.pk: [] for playlist in playlists}
    for playlist_id, video_id in (
        PlaylistItem.objects.filter(playlist_id__in=list(items), video_id__in=list(visible))
        .order_by("position", "id")
        .values_list("playlist_id", "video_id")
    ):
        items[playlist_id].append(visible[video_id])
    for playlist in playlists:
        playlist.video_count = len(items[playlist.pk])  # type: ignore[attr-defined]
    return Catalogue(
        listed=listed,
        visible=visible,
        by_slug={video.slug: video for video in published},
        playlists=playlists,
        playlist_videos={playlist.slug: items[playlist.pk] for playlist in playlists},
    )


_catalogue_snapshot = _Snapshot(_catalogue_load)


def catalogue_snapshot_get() -> Catalogue:
    """The published catalogue as members' pages show it: a per-process snapshot at most
    CATALOGUE_SNAPSHOT_SECONDS old, cleared in this process by every change made through the
    models or videos.services (apps.py, video_published_snapshot_clear), like the durations.
    Raises CatalogueUnavailable if it has never loaded."""
    return _catalogue_snapshot.get()


def video_published_snapshot_clear() -> None:
    """Forget the snapshots (a change to the catalogue; tests that publish and ask again at once)."""
    _published_snapshot.clear()
    _access_snapshot.clear()
    _catalogue_snapshot.clear()


def video_member_visible_in_bulk(*, video_ids: list[int]) -> dict[int, Video]:
    """The given videos that members browse (published and available): "Continue watching" and
    playlist progress skip the others. From the catalogue snapshot (read-only videos)."""
    visible = catalogue_snapshot_get().visible
    return {video_id: visible[video_id] for video_id in video_ids if video_id in visible}


def video_unavailable_published_list() -> QuerySet[Video]:
    """Published videos the server (or staff) found unavailable, newest first (admin warning)."""
    return video_published_list().filter(is_unavailable=True).order_by("-unavailable_at", "-id")


def video_durations_in_bulk(*, video_ids: list[int]) -> dict[int, int | None]:
    """Duration in seconds (None when unknown) of the given videos, published or not (staff, rollups)."""
    return dict(Video.objects.filter(pk__in=video_ids).values_list("pk", "duration"))


def video_staff_get(*, video_id: int) -> Video | None:
    """Any video, published or not, for staff pages."""
    return Video.objects.filter(pk=video_id).first()


def video_titles_in_bulk(*, video_ids: list[int]) -> dict[int, str]:
    """Titles of the given videos, published or not (staff dashboards)."""
    return dict(Video.objects.filter(pk__in=video_ids).values_list("pk", "title"))


def video_links_in_bulk(*, video_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Title and page path of the given videos, published or not (a member's data export)."""
    videos = Video.objects.filter(pk__in=video_ids).only("pk", "title", "slug")
    return {video.pk: (video.title, video.get_absolute_url()) for video in videos}


def video_ids_all() -> list[int]:
    """Every video id, published or not (rollup rebuilds)."""
    return list(Video.objects.order_by("pk").values_list("pk", flat=True))


def video_playback_problem_count(*, video_id: int, since: datetime) -> int:
    """How many members' players could not play the video since `since` (each member once)."""
    return (
        VideoPlaybackProblem.objects.filter(video_id=video_id, created_at__gte=since)
        .values("user_id")
        .distinct()
        .count()
    )


def video_playback_problem_count_annotate(*, queryset: QuerySet[Video], since: datetime) -> QuerySet[Video]:
    """`queryset` with `recent_problem_count` (as `video_playback_problem_count`), for list pages."""
    return queryset.annotate(
        recent_problem_count=Count(
            "playback_problems__user", filter=Q(playback_problems__created_at__gte=since), distinct=True
        )
    )


def video_caption_get(*, video: Video, caption_id: int) -> VideoCaption | None:
    """One of the video's captions (the caller checked the reader may watch the video)."""
    return VideoCaption.objects.filter(video=video, pk=caption_id).first()


def video_player_tracks(*, video: Video) -> dict[str, list[dict[str, object]]]:
    """What the watch page's player shows beside the video: its chapters and, for a file the
    site plays itself, its captions (the URLs of `caption_file`)."""
    captions: list[dict[str, object]] = []
    if video.provider == Video.Provider.FILE:
        captions = [
            {"src": c.get_absolute_url(), "lang": c.language, "label": c.label, "default": c.is_default}
            for c in VideoCaption.objects.filter(video=video)
        ]
    chapters: list[dict[str, object]] = [{"start": c.start, "title": c.title} for c in video.chapter_list]
    return {"captions": captions, "chapters": chapters}


def video_ladder_url_get(*, video: Video, session_cookie: str) -> str:
    """The signed URL of an uploaded video's master playlist for the browser session whose cookie
    is `session_cookie` (nginx checks it: videos/media.py); "" while it has no ladder.

    It works for the video's length plus MEDIA_URL_TTL_SECONDS, so a member who starts it at once
    plays it to the end; a copy stops working then, and at once for any other session."""
    if not video.ladder_path:
        return ""
    expires = int(time.time()) + (video.duration or 0) + settings.MEDIA_URL_TTL_SECONDS
    return ladder_url_sign(ladder_path=video.ladder_path, session_key=session_cookie, expires=expires)
