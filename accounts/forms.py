from __future__ import annotations

import logging
from typing import Any

from allauth.account import forms as allauth_forms
from allauth.core import ratelimit
from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest, HttpResponse

from accounts.models import User
from accounts.selectors import email_address_holders, member_email_is_owned
from accounts.services import member_unconfirmed_replace

logger = logging.getLogger(__name__)


class AccountDeleteForm(forms.Form):
    """Deleting an account cannot be undone, so it asks for the password even in a live session."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.", code="password_incorrect")
        return password


class SignupForm(allauth_forms.SignupForm):
    """allauth's sign-up form: an address is taken only once confirmed, and a taken address costs the
    same as a new one.

    allauth counts any account holding the address as "taken", confirmed or not, so an address
    someone else only asked for (a pending email change, a sign-up never confirmed) locked its owner
    out. Here only a confirmed address (or a staff account's own) is taken. A pending change is
    ignored (it can never be confirmed once the owner has). An account that never confirmed its
    sign-up address is replaced by the new sign-up: it proved nothing, and its owner, if it was the
    same person, gets the same confirmation mail.

    With ACCOUNT_PREVENT_ENUMERATION, a taken address gets the same page and redirect as a new one,
    but allauth then skips creating the user, i.e. the password hash, which is nearly all of a
    sign-up's time: the answer came back in a fraction of the time and told which addresses are
    members. So that path hashes the password with the configured hasher too, and discards it.
    Both paths send their one email through the adapter (queued when ACCOUNT_EMAIL_ASYNC).
    """

    account_already_exists: bool
    unconfirmed_holders: list[User]
    unconfirmed_claims = False

    def validate_unique_email(self, value: str) -> str:
        email: str = super().validate_unique_email(value)
        self.unconfirmed_holders = []
        if self.account_already_exists:
            holders = email_address_holders(email=email)
            if not holders.owned:
                self.account_already_exists = False
                self.unconfirmed_holders = holders.unconfirmed
                self.unconfirmed_claims = True
        return email

    def try_save(self, request: HttpRequest) -> tuple[AbstractBaseUser | None, HttpResponse | None]:
        if self.unconfirmed_claims and not self.account_already_exists:
            try:
                member_unconfirmed_replace(users=self.unconfirmed_holders)
            except Exception:
                # A store its data lives in is down: the old account stays, and this sign-up gets
                # the "you already have an account" answer and mail (the owner can try again).
                logger.exception("replacing an unconfirmed account failed")
                self.account_already_exists = True
            else:
                self._confirmation_mail_allow(request)
        if self.account_already_exists:
            make_password(self.cleaned_data.get("password1"))
        return super().try_save(request)

    def _confirmation_mail_allow(self, request: HttpRequest) -> None:
        # allauth sends one confirmation mail per address every few minutes ("confirm_email"),
        # whoever asks: the claim's own mail would silence the owner's. The owner's sign-up gets its
        # mail anyway, itself at most once per that window ("confirm_email_over_claim").
        email = self.cleaned_data["email"]
        if ratelimit.consume(request, action="confirm_email_over_claim", key=email.lower()):
            ratelimit.clear(request, action="confirm_email", key=email.lower())


class ResetPasswordForm(allauth_forms.ResetPasswordForm):
    """Reset links go only to an account's confirmed address.

    allauth mails a reset link to any account holding the address, so an address a member only asked
    to change to received a link into that member's account. With no owner, the address gets
    allauth's "no account here" mail instead (the same answer as any unknown address).
    """

    users: list[User]

    def clean_email(self) -> str:
        email: str = super().clean_email()
        self.users = [user for user in self.users if member_email_is_owned(user=user, email=email)]
        return email
