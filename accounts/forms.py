from __future__ import annotations

from typing import Any

from allauth.account import forms as allauth_forms
from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest, HttpResponse

from accounts.models import User


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
    """allauth's sign-up form, costing the same for a taken address as for a new one.

    With ACCOUNT_PREVENT_ENUMERATION, a taken address gets the same page and redirect as a new one,
    but allauth then skips creating the user, i.e. the password hash, which is nearly all of a
    sign-up's time: the answer came back in a fraction of the time and told which addresses are
    members. So that path hashes the password with the configured hasher too, and discards it.
    Both paths send their one email through the adapter (queued when ACCOUNT_EMAIL_ASYNC).
    """

    def try_save(self, request: HttpRequest) -> tuple[AbstractBaseUser | None, HttpResponse | None]:
        if self.account_already_exists:
            make_password(self.cleaned_data.get("password1"))
        return super().try_save(request)
