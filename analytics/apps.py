from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.apps import AppConfig

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from accounts.models import User


def _export(user: User) -> dict[str, Any]:
    from analytics.selectors import member_watch_data_export

    return member_watch_data_export(user_id=user.pk)


def _erase(user: User) -> None:
    from analytics.erasure import member_watch_data_erase

    member_watch_data_erase(user_id=user.pk)


def _revoke_on_logout(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    from analytics.viewing import member_ingest_revoke

    if user is not None:
        _revoke_quietly(member_ingest_revoke, user.pk)


def _revoke_on_credentials_change(sender: Any, instance: User, update_fields: Any = None, **kwargs: Any) -> None:
    # A new password or a deactivation ends every watch page's token the member holds (another
    # device included). One query per save of an existing user, which is rare; last_login updates
    # (update_fields) do not pay it.
    if instance.pk is None or (update_fields is not None and not {"password", "is_active"} & set(update_fields)):
        return
    before = type(instance).objects.filter(pk=instance.pk).values_list("password", "is_active").first()
    if before is not None and (before[0] != instance.password or (before[1] and not instance.is_active)):
        from analytics.viewing import member_ingest_revoke

        _revoke_quietly(member_ingest_revoke, instance.pk)


def _revoke_quietly(revoke: Any, user_id: int) -> None:
    # A Redis outage must not fail a logout or a password change; the tokens then expire on their own.
    from redis.exceptions import RedisError

    try:
        revoke(user_id=user_id)
    except RedisError:
        logger.warning("could not revoke the ingest tokens of member %s", user_id, exc_info=True)


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Watch analytics"

    def ready(self) -> None:
        from accounts.registry import member_data_register
        from analytics.health import cassandra_probe, celery_probe, pipeline_probe
        from analytics.pipeline import pipeline_gauges
        from config.metrics import metrics_collector_register
        from config.probes import probe_register

        # Export and account deletion reach the member's Cassandra rows only through these.
        member_data_register(name="watching", exporter=_export, eraser=_erase)

        from django.contrib.auth import get_user_model, user_logged_out
        from django.db.models.signals import pre_save

        user_logged_out.connect(_revoke_on_logout, dispatch_uid="analytics.revoke_on_logout")
        pre_save.connect(
            _revoke_on_credentials_change, sender=get_user_model(), dispatch_uid="analytics.revoke_on_credentials"
        )

        # /healthz and /metrics reach Cassandra, the workers and the pipeline only through these
        # (config/ imports no app module).
        probe_register(name="cassandra", probe=cassandra_probe)
        probe_register(name="celery", probe=celery_probe)
        probe_register(name="pipeline", probe=pipeline_probe, critical=False)
        metrics_collector_register(name="pipeline", collect=pipeline_gauges)

        # The catalogue's pages show progress, "Continue watching" and the tracker through this
        # (videos imports no analytics module); each videos view calls it once.
        from analytics.pages import page_context
        from videos.registry import page_context_register

        page_context_register(name="analytics", provider=page_context)
