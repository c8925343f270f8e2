"""Reads about members, for this app's views and for other apps."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from allauth.account import app_settings as allauth_settings
from allauth.account.models import EmailAddress
from cachetools import TTLCache
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from accounts.models import EmailAddressRequest, User

# The member's type, for other apps' annotations: they import accounts' public modules only
# (selectors, services, registry), never its models (tests/config/test_layering.py).
Member = User


def session_end_reason(*, user_id: object) -> str:
    """Why a session that named this account no longer logs it in (accounts/middleware.py)."""
    pk = str(user_id)
    user = User.objects.filter(pk=pk).only("is_active").first() if pk.isdigit() else None
    if user is None:
        return "You were logged out: this account no longer exists."
    if not user.is_active:
        return "You were logged out: this account has been deactivated."
    return (
        "You were logged out on this device because the account's password was changed. "
        "Log in with the new password; if you did not change it, reset it now."
    )


def member_is_confirmed(*, user: User | AnonymousUser) -> bool:
    """True once the member has confirmed at least one email address (members-only videos need it)."""
    return bool(user.is_authenticated) and EmailAddress.objects.filter(user=user, verified=True).exists()


# Asked on every members-only page and every watch batch: "confirmed" is kept per process for 60 s,
# and only "confirmed", so confirming an address counts at once and only losing the last confirmed
# address (a rare admin action) waits up to a minute. Bounded, LRU-evicting, locked (gunicorn's
# threads share it); the database is read outside the lock.
_CONFIRMED_TTL_SECONDS = 60.0
_confirmed: TTLCache[int, bool] = TTLCache(maxsize=100_000, ttl=_CONFIRMED_TTL_SECONDS, timer=time.monotonic)
_confirmed_lock = threading.Lock()


def member_is_confirmed_cached(*, user: User | AnonymousUser) -> bool:
    """`member_is_confirmed`, with "confirmed" remembered per process (see _CONFIRMED_TTL_SECONDS)."""
    if not user.is_authenticated:
        return False
    with _confirmed_lock:
        if _confirmed.get(user.pk, False):
            return True
    confirmed = member_is_confirmed(user=user)
    if confirmed:
        with _confirmed_lock:
            _confirmed[user.pk] = True
    return confirmed


def member_confirmed_cache_clear() -> None:
    """Forget remembered confirmations (tests that take an address's confirmation away)."""
    with _confirmed_lock:
        _confirmed.clear()


def email_address_pending_cutoff(*, now: datetime | None = None) -> datetime:
    """Requests older than this have expired: a pending address lives as long as its newest link."""
    return (now or timezone.now()) - timedelta(days=allauth_settings.EMAIL_CONFIRMATION_EXPIRE_DAYS)


def member_email_address_pending(*, user: User) -> EmailAddress | None:
    """The address waiting for confirmation (a new member's, or the one they are changing to, until
    its link expires)."""
    addresses = EmailAddress.objects.filter(user=user, verified=False)
    if EmailAddress.objects.filter(user=user, verified=True).exists():
        fresh = EmailAddressRequest.objects.filter(requested_at__gte=email_address_pending_cutoff())
        addresses = addresses.filter(pk__in=fresh.values("email_address_id"))
    return addresses.order_by("pk").last()


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


@dataclass(frozen=True)
class AddressHolders:
    """Who holds an email address (`email_address_holders`)."""

    # An account holds it for good: it confirmed it, or it is a staff account's own (staff addresses
    # are typed in by operators, `createsuperuser`, not claimed by a sign-up).
    owned: bool = False
    # Accounts whose own sign-up address it is, never confirmed: a sign-up by the address's owner
    # replaces them (accounts.forms.SignupForm).
    unconfirmed: list[User] = field(default_factory=list)


def email_address_holders(*, email: str) -> AddressHolders:
    """Who holds `email`. An address another member merely asked to change to (unconfirmed, not
    their account's own address) is held by nobody: it blocks no sign-up and gets no reset."""
    rows = list(EmailAddress.objects.filter(email__iexact=email).only("user_id", "verified"))
    if any(row.verified for row in rows):
        return AddressHolders(owned=True)
    unconfirmed = []
    for user in User.objects.filter(email__iexact=email):
        has_row = any(row.user_id == user.pk for row in rows)
        if (
            user.is_staff
            or user.is_superuser
            # Made outside sign-up (an import, the shell): its address was never up for a claim.
            or not has_row
            or EmailAddress.objects.filter(user=user, verified=True).exists()
        ):
            return AddressHolders(owned=True)
        unconfirmed.append(user)
    return AddressHolders(unconfirmed=unconfirmed)


def member_email_is_owned(*, user: User, email: str) -> bool:
    """True if `email` is `user`'s confirmed address (or a staff account's own): where a password
    reset for `user` may go."""
    if (user.is_staff or user.is_superuser) and user.email.lower() == email.lower():
        return True
    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


def member_email_is_login(*, user: User, email: str) -> bool:
    """True if `email` logs in to `user`: their account's address (confirmed or not yet, as after
    sign-up) or one they confirmed; never an address they only asked to change to."""
    if user.email.lower() == email.lower():
        return True
    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


def member_credentials_changing(*, user: User) -> bool:
    """Whether saving `user` (before the save) gives an existing member a new password or
    deactivates them: one query, against the row as stored."""
    before = User.objects.filter(pk=user.pk).values_list("password", "is_active").first()
    return before is not None and (before[0] != user.password or (before[1] and not user.is_active))


def member_emails_in_bulk(*, user_ids: list[int]) -> dict[int, str]:
    """Member id → email address, for staff reports (missing ids: deleted members)."""
    return dict(User.objects.filter(pk__in=user_ids).values_list("pk", "email"))


def member_confirmed_page(*, after_id: int, limit: int) -> list[tuple[int, str]]:
    """Active members with a confirmed address, by id after `after_id`: (id, email), at most `limit`.
    The members a course could have (the students report's "not started")."""
    confirmed = EmailAddress.objects.filter(verified=True).values("user_id")
    rows = User.objects.filter(is_active=True, pk__gt=after_id, pk__in=confirmed).order_by("pk")
    return list(rows.values_list("pk", "email")[:limit])
