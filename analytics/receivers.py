"""Signal receivers: what ends a member's watch tokens. Connected in AnalyticsConfig.ready()."""

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
