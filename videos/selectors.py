"""Reads of the catalogue, for this app's views and for other apps."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from videos.models import Video


def video_published_list() -> QuerySet[Video]:
    return Video.objects.filter(is_published=True)


def video_watchable_get(*, user: User, video_id: int) -> Video | None:
    """The video if `user` may watch (and so report watching) it, else None.

    Published videos only; members-only videos need a member with a confirmed email address.
    """
    video = Video.objects.filter(pk=video_id, is_published=True).first()
    if video is None:
        return None
    if video.members_only and not member_is_confirmed(user=user):
        return None
    return video


def member_is_confirmed(*, user: User) -> bool:
    from allauth.account.models import EmailAddress

    return bool(user.is_authenticated) and EmailAddress.objects.filter(user=user, verified=True).exists()
