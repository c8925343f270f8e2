"""Celery application: settings come from Django's `CELERY_*` settings, tasks from each app."""

import os

from celery import Celery
from celery.signals import task_failure, task_retry, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("watchpoint")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _fresh_cassandra_session_after_fork(**_: object) -> None:
    # A driver Session owns sockets and threads; one inherited across fork() is broken in the
    # child. Each prefork child therefore opens its own, on first use.
    from analytics.cassandra import cassandra_reset

    cassandra_reset()


@task_retry.connect
def _count_retry(sender: object = None, **_: object) -> None:
    from config.metrics import counter_inc

    counter_inc("watchpoint_celery_task_retries", task=getattr(sender, "name", "unknown"))


@task_failure.connect
def _count_failure(sender: object = None, **_: object) -> None:
    from config.metrics import counter_inc

    counter_inc("watchpoint_celery_task_failures", task=getattr(sender, "name", "unknown"))


@worker_ready.connect
def _drain_what_a_previous_worker_left(**_: object) -> None:
    # Entries a killed worker took but never acknowledged are claimed by the next drain.
    from analytics.tasks import watch_stream_drain_task

    watch_stream_drain_task.delay()
