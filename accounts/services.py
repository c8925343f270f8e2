"""Writes about members: export of their data and deletion of their account."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from allauth.account.models import EmailAddress
from django.db import transaction
from django.utils import timezone

from accounts.models import EmailAddressRequest, User
from accounts.registry import member_data_handlers
from accounts.selectors import email_address_pending_cutoff

logger = logging.getLogger(__name__)

# 2: watching history as ranges of seconds, times with their offset, the players' reports.
EXPORT_FORMAT = "watchpoint-member-data/2"


def member_username_sync(*, user: User) -> None:
    """Make the (unique) username follow the email address after a change of address, so the old
    address can be used to sign up again. allauth saves the new address with update_fields=["email"];
    this runs on its `email_changed` signal (accounts/apps.py)."""
    if user.username != user.email:
        user.username = user.email
        User.objects.filter(pk=user.pk).update(username=user.email)


def member_unconfirmed_replace(*, users: list[User]) -> None:
    """Delete accounts that never confirmed their sign-up address, because the address's owner is
    signing up with it: an address nobody proved is nobody's (see accounts.forms.SignupForm)."""
    for user in users:
        logger.info("unconfirmed account replaced by a new sign-up", extra={"user_id": user.pk})
        member_account_delete(user=user)


def email_address_unconfirmed_drop(*, email_address: EmailAddress) -> None:
    """Once an address is confirmed, other accounts' unconfirmed copies of it (email changes they
    asked for) go: they could never be confirmed again, and would only linger as "pending"."""
    EmailAddress.objects.filter(email__iexact=email_address.email, verified=False).exclude(
        user_id=email_address.user_id
    ).delete()


def email_address_requested(*, email_address: EmailAddress) -> None:
    """Date an unconfirmed address's newest request (added, or its link sent): it lives that long."""
    if email_address.pk and not email_address.verified:
        EmailAddressRequest.objects.update_or_create(
            email_address=email_address, defaults={"requested_at": timezone.now()}
        )


def email_addresses_pending_expire(*, now: datetime | None = None) -> int:
    """Delete pending email changes whose newest link has expired; returns how many.

    Only changes (an unconfirmed address of a member who has a confirmed one): an unconfirmed
    member's own sign-up address is their login, and stays until a sign-up by the owner replaces it.
    """
    confirmed_members = EmailAddress.objects.filter(verified=True).values("user_id")
    fresh = EmailAddressRequest.objects.filter(requested_at__gte=email_address_pending_cutoff(now=now))
    deleted, _ = (
        EmailAddress.objects.filter(verified=False, user_id__in=confirmed_members)
        .exclude(pk__in=fresh.values("email_address_id"))
        .delete()
    )
    if deleted:
        logger.info("expired pending email addresses deleted", extra={"count": deleted})
    return deleted


def member_data_export(*, user: User) -> dict[str, Any]:
    """Everything we hold about `user`: one section per registered exporter, keyed by its name."""
    return {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "sections": {handler.name: handler.exporter(user) for handler in member_data_handlers()},
    }


def member_account_delete(*, user: User) -> None:
    """Erase the member's data in every store, then delete the member.

    Erasers run first and the user row goes last, inside one transaction: if any eraser raises, the
    relational changes roll back and the member still exists (and can retry), so we never end up
    with a deleted account whose data lingers in some other store without an owner to find it.
    Non-relational erasers (Cassandra) cannot roll back, which is why erasers must be idempotent.
    """
    user_id = user.pk
    with transaction.atomic():
        for handler in member_data_handlers():
            handler.eraser(user)
        user.delete()
    # The id only: the email address is exactly what the member asked us to forget.
    logger.info("member account deleted", extra={"user_id": user_id})


def member_account_erase(user: User) -> None:
    """The accounts app's own eraser: its email addresses (and their pending confirmations)."""
    EmailAddress.objects.filter(user=user).delete()


def member_demo_ensure(*, index: int) -> User:
    """The confirmed synthetic member number `index` (demo traffic, benchmarks), created if missing."""
    email = f"demo{index}@members.watchpoint.invalid"
    user, created = User.objects.get_or_create(email=email, defaults={"username": email})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user
