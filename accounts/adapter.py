from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from allauth.account import app_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.account.utils import get_next_redirect_url
from allauth.core import context as allauth_context
from django.conf import settings
from django.contrib import messages
from django.contrib.sites.shortcuts import get_current_site
from django.db import transaction
from django.http import HttpRequest

from accounts.models import User
from accounts.tasks import email_message_dump, email_send_task


class AccountAdapter(DefaultAccountAdapter):
    def get_login_stages(self) -> list[str]:
        return [
            "accounts.stages.SignupEmailVerificationStage"
            if stage == "allauth.account.stages.EmailVerificationStage"
            else stage
            for stage in super().get_login_stages()
        ]

    def populate_username(self, request: HttpRequest, user: Any) -> None:
        # Email is the identity (ACCOUNT_USER_MODEL_USERNAME_FIELD = None): the unique username
        # Django's AbstractUser requires mirrors the address.
        user.username = user.email

    def login(self, request: HttpRequest, user: Any) -> None:
        super().login(request, user)
        # A session outlives the browser only when the member ticks "Remember me": the login form
        # sets that expiry itself right after this call. Every other way in (the confirmation
        # link, with ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION) would otherwise get SESSION_COOKIE_AGE.
        request.session.set_expiry(0)

    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        # An older email-change link cannot take an address another account has since signed up
        # with: that sign-up is waiting for the owner's confirmation (and the address is its login).
        if User.objects.filter(email__iexact=email_address.email).exclude(pk=email_address.user_id).exists():
            self.add_message(
                request,
                messages.ERROR,
                "account/messages/email_confirmation_failed.txt",
                {"email": email_address.email},
            )
            return False
        confirmed: bool = super().confirm_email(request, email_address)
        return confirmed

    def get_email_confirmation_url(self, request: HttpRequest, emailconfirmation: Any) -> str:
        # The page the member wanted when they signed up (the gate's "Sign up" link carries it as
        # `next`) travels in the link: the confirmation page posts it back, so the member returns
        # there whichever browser opens the link (allauth resumes a pending login to it only in
        # the browser that signed up). Site paths only, as allauth validates every `next`.
        url: str = super().get_email_confirmation_url(request, emailconfirmation)
        wanted = get_next_redirect_url(request)
        if wanted and wanted.startswith("/") and not wanted.startswith("//"):
            url = f"{url}?{urlencode({'next': wanted})}"
        return url

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # Our emails tell members how long a confirmation link lasts; say what the setting says.
        context = {
            "expiration_days": app_settings.EMAIL_CONFIRMATION_EXPIRE_DAYS,
            **{key: _on_site(value) if key.endswith("_url") else value for key, value in context.items()},
            "site_url": settings.SITE_URL,
        }
        if not settings.ACCOUNT_EMAIL_ASYNC:
            super().send_mail(template_prefix, email, context)
            return
        # Rendered here (templates need the request and site), sent by a worker on the "email"
        # queue: a slow or failing SMTP server never slows or breaks the request. On commit, so a
        # sign-up that rolls back mails nobody.
        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request), **context}
        message = self.render_mail(template_prefix, email, ctx)
        data = email_message_dump(message)
        transaction.on_commit(lambda: email_send_task.delay(data))


def _on_site(url: object) -> object:
    """`url` on settings.SITE_URL. allauth builds its links (activate_url, password_reset_url,
    signup_url) from the request, i.e. the Host header, which Django accepts with any port or a
    trailing dot: every link we mail keeps only its path and query and gets the canonical origin."""
    if not isinstance(url, str):
        return url
    parts = urlsplit(url)
    if parts.scheme not in {"", "http", "https"}:
        return url
    return settings.SITE_URL + urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
