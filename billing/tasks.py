"""Celery tasks of billing: clock-driven ends of entitlement, the past-due email."""

from __future__ import annotations

from celery import shared_task

from billing.services import entitlements_expire, past_due_email_send
from config.task_policies import EMAIL_TASK_RETRY


@shared_task(name="billing.entitlements_expire", ignore_result=True)
def entitlements_expire_task() -> int:
    return entitlements_expire()


# Sent by the worker, not rendered at enqueue time: a payment recovered before it runs sends nothing.
@shared_task(name="billing.past_due_email", **EMAIL_TASK_RETRY)
def past_due_email_task(*, subscription_id: int) -> None:
    past_due_email_send(subscription_id=subscription_id)
