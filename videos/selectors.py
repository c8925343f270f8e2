"""Reads of the catalogue, for this app's views and for other apps."""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError
from django.db.models import Count, Q, QuerySet

from accounts.models import User
from accounts.selectors import member_is_confirmed
from videos.models import Playlist, PlaylistItem, Video, VideoPlaybackProblem

logger = logging.getLogger(__name__)


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
# viewer (hundreds per second), so answers are kept per process for a while:
# - a video's publication (published or not): 5 s, so publishing or unpublishing it, or making it
#   members-only, takes up to 5 s to reach the endpoint;
# - a member's confirmation: 60 s, and only once confirmed, so confirming an address counts at once
#   and only losing the last confirmed address (a rare admin action) waits up to a minute.
# Bounded LRU-evicting caches (cachetools), locked because gunicorn's threads share them; the
# database is read outside the lock.
_WATCHABLE_TTL_SECONDS = 5.0
_CONFIRMED_TTL_SECONDS = 60.0
_MISSING = object()
_published: TTLCache[int, Video | None] = TTLCache(maxsize=10_000, ttl=_WATCHABLE_TTL_SECONDS, timer=time.monotonic)
_confirmed: TTLCache[int, bool] = TTLCache(maxsize=100_000, ttl=_CONFIRMED_TTL_SECONDS, timer=time.monotonic)
_cache_lock = threading.Lock()


def video_watchable_get(*, user: User | AnonymousUser, video_id: int) -> Video | None:
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
    if video.members_only and not _member_is_confirmed_cached(user=user):
        return None
    return video


def _member_is_confirmed_cached(*, user: User | AnonymousUser) -> bool:
    # Only "confirmed" is remembered: a member who confirms a minute after signing up must not wait.
    if user.is_authenticated:
        with _cache_lock:
            if _confirmed.get(user.pk, False):
                return True
    confirmed = member_is_confirmed(user=user)
    if confirmed and user.pk is not None:
        with _cache_lock:
            _confirmed[user.pk] = True
    return confirmed


def video_watchable_cache_clear() -> None:
    """Forget cached answers (tests that change a video and ask again at once)."""
    with _cache_lock:
        _published.clear()
        _confirmed.clear()


def video_reportable_get(*, user: User | AnonymousUser, video_id: int) -> Video | None:
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


def video_access_get(*, user: User | AnonymousUser, slug: str) -> WatchAccess | None:
    """What `user` may do with the video at `slug`; None when it does not exist for them.

    Unpublished videos exist only for staff (who preview them); staff may watch anything.
    """
    video = Video.objects.filter(slug=slug).first()
    if video is None:
        return None
    is_staff = bool(user.is_authenticated and user.is_staff)
    if not video.is_published and not is_staff:
        return None
    if is_staff or not video.members_only or member_is_confirmed(user=user):
        return WatchAccess(video, Access.WATCH)
    if not user.is_authenticated:
        return WatchAccess(video, Access.LOG_IN)
    return WatchAccess(video, Access.CONFIRM_EMAIL)


class CatalogueUnavailable(Exception):
    """The catalogue snapshot could not be loaded yet (database down at start-up)."""


class _PublishedSnapshot:
    """Published videos (id -> duration), reloaded at most every CATALOGUE_SNAPSHOT_SECONDS.

    One thread reloads while the others keep answering from the previous snapshot; only the very
    first load makes callers wait. A failed reload keeps the old snapshot (retried a second later).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.durations: dict[int, int | None] | None = None
        self.fresh_until = 0.0

    def get(self) -> dict[int, int | None]:
        if time.monotonic() >= self.fresh_until:
            self._reload(wait=self.durations is None)
        durations = self.durations
        if durations is None:
            raise CatalogueUnavailable
        return durations

    def _reload(self, *, wait: bool) -> None:
        if not self.lock.acquire(blocking=wait):
            return
        try:
            if time.monotonic() < self.fresh_until:  # another thread reloaded while we waited
                return
            try:
                self.durations = dict(video_published_list().values_list("pk", "duration"))
                self.fresh_until = time.monotonic() + settings.CATALOGUE_SNAPSHOT_SECONDS
            except DatabaseError:
                logger.warning("could not reload the published catalogue", exc_info=True)
                self.fresh_until = time.monotonic() + 1.0
        finally:
            self.lock.release()

    def clear(self) -> None:
        with self.lock:
            self.durations, self.fresh_until = None, 0.0


_published_snapshot = _PublishedSnapshot()


def video_published_durations() -> dict[int, int | None]:
    """Duration in seconds (None when unknown) of every published video, keyed by id: a per-process
    snapshot at most CATALOGUE_SNAPSHOT_SECONDS old (the watch endpoint and every page's progress
    read it on every request; publishing or unpublishing shows within that time). Read-only.
    Raises CatalogueUnavailable if it has never loaded (database down since start-up)."""
    return _published_snapshot.get()


def video_published_snapshot_clear() -> None:
    """Forget the snapshot (tests that publish or unpublish and ask again at once)."""
    _published_snapshot.clear()


def video_member_visible_in_bulk(*, video_ids: list[int]) -> dict[int, Video]:
    """The given videos that members browse (published and available): "Continue watching" and
    playlist progress skip the others."""
    return video_member_visible_list().in_bulk(video_ids)


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
