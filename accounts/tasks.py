"""Celery tasks of the accounts app: allauth's emails, sent off the request path; expired pending
email changes deleted."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.core.mail import EmailMessage, EmailMultiAlternatives

from accounts.services import email_addresses_pending_expire
from config.task_policies import EMAIL_TASK_RETRY


def email_message_dump(message: EmailMessage) -> dict[str, Any]:
    """A rendered message as JSON-safe data (the Celery serializer is JSON)."""
    return {
        "subject": message.subject,
        "body": message.body,
        "from_email": message.from_email,
        "to": list(message.to),
        "cc": list(message.cc),
        "bcc": list(message.bcc),
        "reply_to": list(message.reply_to),
        "headers": dict(message.extra_headers),
        "alternatives": [[content, mimetype] for content, mimetype in getattr(message, "alternatives", [])],
        "content_subtype": message.content_subtype,
    }


def email_message_load(data: dict[str, Any]) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=data["subject"],
        body=data["body"],
        from_email=data["from_email"],
        to=data["to"],
        cc=data["cc"],
        bcc=data["bcc"],
        reply_to=data["reply_to"],
        headers=data["headers"],
    )
    for content, mimetype in data["alternatives"]:
        message.attach_alternative(content, mimetype)
    message.content_subtype = data["content_subtype"]
    return message


@shared_task(name="accounts.email_send", **EMAIL_TASK_RETRY)
def email_send_task(message: dict[str, Any]) -> None:
    email_message_load(message).send()


@shared_task(name="accounts.email_addresses_pending_expire", ignore_result=True)
def email_addresses_pending_expire_task() -> None:
    email_addresses_pending_expire()
