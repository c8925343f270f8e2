from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import AppConfig

if TYPE_CHECKING:
    # Django's type, not accounts.models: an app reaches another only through its public modules.
    from django.contrib.auth.base_user import AbstractBaseUser


def _export(user: AbstractBaseUser) -> dict[str, Any]:
    from analytics.selectors import member_watch_data_export

    return member_watch_data_export(user_id=user.pk)


def _erase(user: AbstractBaseUser) -> None:
    from analytics.erasure import member_watch_data_erase

    member_watch_data_erase(user_id=user.pk)


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
        from django.db.models.signals import pre_delete, pre_save

        from analytics.receivers import (
            keep_title_on_video_delete,
            revoke_on_credentials_change,
            revoke_on_entitlement_end,
            revoke_on_logout,
        )
        from billing.signals import entitlement_ended

        user_logged_out.connect(revoke_on_logout, dispatch_uid="analytics.revoke_on_logout")
        pre_save.connect(
            revoke_on_credentials_change, sender=get_user_model(), dispatch_uid="analytics.revoke_on_credentials"
        )
        # By label: analytics imports no videos model.
        pre_delete.connect(keep_title_on_video_delete, sender="videos.Video", dispatch_uid="analytics.keep_title")

        # The students report recounts a course whose items change (a lazy sender: analytics does
        # not import videos' models).
        from django.db.models.signals import post_delete, post_save

        from analytics.receivers import recount_course_on_items_change

        for signal in (post_save, post_delete):
            signal.connect(
                recount_course_on_items_change, sender="videos.PlaylistItem", dispatch_uid=f"analytics.course_{signal}"
            )

        entitlement_ended.connect(revoke_on_entitlement_end, dispatch_uid="analytics.revoke_on_entitlement_end")

        # /healthz and /metrics reach Cassandra, the workers and the pipeline only through these
        # (config/ imports no app module).
        probe_register(name="cassandra", probe=cassandra_probe)
        probe_register(name="celery", probe=celery_probe)
        probe_register(name="pipeline", probe=pipeline_probe, critical=False)
        metrics_collector_register(name="pipeline", collect=pipeline_gauges)

        # The admin index's "Watch analytics" card (config/admin_cards.py).
        from analytics.admin import analytics_glance_card
        from config.admin_cards import admin_card_register

        admin_card_register(name="watch-analytics", card=analytics_glance_card)

        # A member's admin page shows their courses and videos with progress (the students report's rules).
        from accounts.registry import member_admin_panel_register
        from analytics.admin_students import member_progress_panel

        member_admin_panel_register(name="watch-progress", panel=member_progress_panel)

        # The watch-batch paths ahead of Django's stack (settings.ROUTES_AHEAD_OF_DJANGO names this handler).
        from analytics.ingest import watch_ingest_app
        from config.dispatch import route_handler_register

        route_handler_register(name="watch-ingest", app=watch_ingest_app)

        # The catalogue's pages show progress, "Continue watching" and the tracker through this
        # (videos imports no analytics module); each videos view calls it once.
        from analytics.pages import page_context
        from videos.registry import page_context_register

        page_context_register(name="analytics", provider=page_context)
