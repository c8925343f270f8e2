from __future__ import annotations

from typing import Any, ClassVar

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
    AbstractUser expect it, and is set to the email."""

    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[MemberManager] = MemberManager()

    def save(self, *args: Any, **kwargs: Any) -> None:
        # allauth creates users without a username (ACCOUNT_USER_MODEL_USERNAME_FIELD = None), and
        # an email change must move the (unique) username along, or the old address could never be
        # used to sign up again.
        if self.email or not self.username:
            self.username = self.email
        # allauth saves a confirmed email change with update_fields=["email"].
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields and "username" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "username"]
        super().save(*args, **kwargs)
