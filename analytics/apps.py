from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import AppConfig

if TYPE_CHECKING:
    from accounts.models import User


def _export(user: User) -> dict[str, Any]:
    from analytics.services import member_watch_data_export

    return member_watch_data_export(user_id=user.pk)


def _erase(user: User) -> None:
    from analytics.services import member_watch_data_erase

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
        # /healthz and /metrics reach Cassandra, the workers and the pipeline only through these
        # (config/ imports no app module).
        probe_register(name="cassandra", probe=cassandra_probe)
        probe_register(name="celery", probe=celery_probe)
        probe_register(name="pipeline", probe=pipeline_probe, critical=False)
        metrics_collector_register(name="pipeline", collect=pipeline_gauges)
