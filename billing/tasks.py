"""Celery tasks of billing: clock-driven ends of entitlement, the past-due email."""

from __future__ import annotations

import smtplib

from celery import shared_task

from billing.services import entitlements_expire, past_due_email_send


@shared_task(name="billing.entitlements_expire", ignore_result=True)
def entitlements_expire_task() -> int:
    return entitlements_expire()


@shared_task(
    name="billing.past_due_email",
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=10,
    ignore_result=True,
)
def past_due_email_task(*, subscription_id: int) -> None:
    past_due_email_send(subscription_id=subscription_id)
