"""Signal receivers: what ends a member's watch tokens, and a deleted video's last title. Connected in
AnalyticsConfig.ready()."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def revoke_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        _revoke_quietly(user.pk)


def revoke_on_credentials_change(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    # A new password or a deactivation ends every watch page's token the member holds (another
    # device included). One query per save of an existing user, which is rare; last_login updates
    # (update_fields) do not pay it.
    if instance.pk is None or (update_fields is not None and not {"password", "is_active"} & set(update_fields)):
        return
    from accounts.selectors import member_credentials_changing

    if member_credentials_changing(user=instance):
        _revoke_quietly(instance.pk)


def revoke_on_entitlement_end(sender: Any, user_id: int, **kwargs: Any) -> None:
    # A paid plan's access ended (billing): open watch pages of paid videos stop at their next batch.
    _revoke_quietly(user_id)


def _revoke_quietly(user_id: int) -> None:
    # Imported here: the receivers are connected while the apps load, before services can be.
    from analytics.viewing import member_ingest_revoke

    # A Redis outage must not fail a logout or a password change; the tokens then expire on their own.
    try:
        member_ingest_revoke(user_id=user_id)
    except RedisError:
        logger.warning("could not revoke the ingest tokens of member %s", user_id, exc_info=True)


def keep_title_on_video_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A video about to be deleted: its title stays readable by the staff analytics."""
    from cassandra import DriverException

    from analytics.services import video_last_title_keep

    # Cassandra down must not block the deletion: the title from the video's last rollup stays.
    try:
        video_last_title_keep(video_id=instance.pk, title=instance.title)
    except (DriverException, OSError):
        logger.warning("could not keep the title of deleted video %s", instance.pk, exc_info=True)


def recount_course_on_items_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    # An item added to or removed from a playlist changes every member's total and % in the students
    # report: the whole course is recounted by a worker, after the commit (the task reads the items).
    from django.db import transaction

    from analytics.tasks import course_members_recount_task

    playlist_id = instance.playlist_id
    transaction.on_commit(lambda: course_members_recount_task.delay(playlist_id))
