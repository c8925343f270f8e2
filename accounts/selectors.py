"""Reads about members, for this app's views and for other apps."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth.models import AnonymousUser

from accounts.models import User


def member_is_confirmed(*, user: User | AnonymousUser) -> bool:
    """True once the member has confirmed at least one email address (members-only videos need it)."""
    return bool(user.is_authenticated) and EmailAddress.objects.filter(user=user, verified=True).exists()


def member_email_address_pending(*, user: User) -> EmailAddress | None:
    """The address waiting for confirmation (a new member's, or the one they are changing to)."""
    return EmailAddress.objects.filter(user=user, verified=False).order_by("pk").last()


def member_account_export(user: User) -> dict[str, Any]:
    """The accounts section of "download my data": what we hold in the member table itself."""
    return {
        "email": user.email,
        "date_joined": user.date_joined.isoformat(),
        "last_login": user.last_login.isoformat() if user.last_login else None,
        "email_addresses": [
            {"email": address.email, "primary": address.primary, "verified": address.verified}
            for address in EmailAddress.objects.filter(user=user).order_by("pk")
        ],
    }
