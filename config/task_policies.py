"""Retry policies that several Celery tasks share, typed so that `@shared_task(**policy)` is checked."""

from __future__ import annotations

import smtplib
from typing import TypedDict


class TaskRetry(TypedDict, total=False):
    acks_late: bool
    autoretry_for: tuple[type[BaseException], ...]
    retry_backoff: int
    retry_backoff_max: int
    retry_jitter: bool
    max_retries: int | None
    ignore_result: bool


# SMTP trouble is usually brief (greylisting, a restart): retry for about an hour, then give up
# loudly (task failure counter in /metrics). A crash mid-send may send twice; never zero times.
# Every task that sends an email takes this policy (accounts' emails, billing's past-due notice).
EMAIL_TASK_RETRY: TaskRetry = {
    "autoretry_for": (smtplib.SMTPException, OSError),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 10,
    "ignore_result": True,
}
