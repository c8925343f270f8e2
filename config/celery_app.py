"""Celery application: settings come from Django's `CELERY_*` settings, tasks from each app."""

import os

from celery import Celery
from celery.signals import task_failure, task_retry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("watchpoint")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Apps connect their own worker signals in their tasks modules (analytics/tasks.py: a fresh
# Cassandra session after fork, a drain at worker start): config imports no app internals.
app.autodiscover_tasks()


@task_retry.connect
def _count_retry(sender: object = None, **_: object) -> None:
    from config.metrics import counter_inc

    counter_inc("watchpoint_celery_task_retries", task=getattr(sender, "name", "unknown"))


@task_failure.connect
def _count_failure(sender: object = None, **_: object) -> None:
    from config.metrics import counter_inc

    counter_inc("watchpoint_celery_task_failures", task=getattr(sender, "name", "unknown"))
