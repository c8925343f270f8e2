from __future__ import annotations

from typing import Any, ClassVar

from allauth.account.models import EmailAddress
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models


class MemberManager(UserManager["User"]):
    """Email is the identity: `createsuperuser` and factories need no username."""

    def create_user(
        self, username: str | None = None, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        return super().create_user(username=username or email or "", email=email, password=password, **extra)

    def create_superuser(
        self, username: str | None = None, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        return super().create_superuser(username=username or email or "", email=email, password=password, **extra)


class User(AbstractUser):
    """A member (or staff). Signs in by email; `username` is kept only because Django's admin and
    AbstractUser expect it, and mirrors the email: set where a user is created or changes address
    (accounts.services.member_username_sync, the allauth adapter, the admin), never behind save()."""

    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[MemberManager] = MemberManager()


class EmailAddressRequest(models.Model):
    """When an unconfirmed address was last asked for (added, or its confirmation link sent).

    allauth's EmailAddress has no date, and its confirmation links (HMAC) are stored nowhere. A
    pending email change lives as long as its newest link, ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS:
    after that it is ignored and deleted (accounts.services.email_addresses_pending_expire).
    """

    email_address = models.OneToOneField(EmailAddress, on_delete=models.CASCADE, primary_key=True, related_name="+")
    requested_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.email_address_id} requested at {self.requested_at:%Y-%m-%d %H:%M}"
