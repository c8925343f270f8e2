"""Reads of the catalogue, for this app's views and for other apps."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Q, QuerySet

from accounts.models import User
from videos.models import Playlist, PlaylistItem, Video


def video_published_list() -> QuerySet[Video]:
    return Video.objects.filter(is_published=True)


def video_catalogue_list(*, search: str = "") -> QuerySet[Video]:
    """Published videos in catalogue order, optionally matching `search` in title or description."""
    qs = video_published_list().order_by("position", "-published_at", "-id")
    for word in search.split()[:8]:
        qs = qs.filter(Q(title__icontains=word) | Q(description__icontains=word))
    return qs


def playlist_catalogue_list() -> QuerySet[Playlist]:
    """Published playlists, each annotated with `video_count` (its published videos)."""
    return Playlist.objects.filter(is_published=True).annotate(
        video_count=Count("items", filter=Q(items__video__is_published=True))
    )


def playlist_published_get(*, slug: str) -> Playlist | None:
    return Playlist.objects.filter(slug=slug, is_published=True).first()


def playlist_video_list(*, playlist: Playlist) -> list[Video]:
    """The playlist's published videos, in its order."""
    items = PlaylistItem.objects.filter(playlist=playlist, video__is_published=True).select_related("video")
    return [item.video for item in items.order_by("position", "id")]


def video_watchable_get(*, user: User | AnonymousUser, video_id: int) -> Video | None:
    """The video if `user` may watch (and so report watching) it, else None.

    Published videos only; members-only videos need a member with a confirmed email address.
    """
    video = Video.objects.filter(pk=video_id, is_published=True).first()
    if video is None:
        return None
    if video.members_only and not member_is_confirmed(user=user):
        return None
    return video


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


def member_is_confirmed(*, user: User | AnonymousUser) -> bool:
    from allauth.account.models import EmailAddress

    return bool(user.is_authenticated) and EmailAddress.objects.filter(user=user, verified=True).exists()


def video_durations_get() -> dict[int, int | None]:
    """Duration in seconds (None when unknown) of every published video, keyed by id."""
    return dict(video_published_list().values_list("pk", "duration"))


def video_published_in_bulk(*, video_ids: list[int]) -> dict[int, Video]:
    return video_published_list().in_bulk(video_ids)
