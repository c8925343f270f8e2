from __future__ import annotations

import json
import logging
from typing import Any, cast

from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.account.views import ConfirmEmailView
from allauth.core import ratelimit
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods

from accounts.forms import AccountDeleteForm
from accounts.models import User
from accounts.selectors import member_email_address_pending, member_is_confirmed
from accounts.services import member_account_delete, member_data_export

logger = logging.getLogger(__name__)


def _member(request: HttpRequest) -> User:
    # Only called behind login_required, so the user is a member, never AnonymousUser.
    return cast(User, request.user)


@require_GET
@login_required
def overview(request: HttpRequest) -> HttpResponse:
    user = _member(request)
    return render(
        request,
        "account/overview.html",
        {"confirmed": member_is_confirmed(user=user), "pending": member_email_address_pending(user=user)},
    )


@require_GET
@login_required
def confirm_needed(request: HttpRequest) -> HttpResponse:
    """Explains why a members-only page is closed and offers a new confirmation link.

    Other apps redirect here (or render `account/snippets/confirm_needed.html` themselves) when a
    member has not confirmed their address yet.
    """
    user = _member(request)
    if member_is_confirmed(user=user):
        next_url = request.GET.get("next", "")
        if url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
            return redirect(next_url)
        return redirect("accounts:overview")
    return render(request, "account/confirm_needed.html", {"pending": member_email_address_pending(user=user)})


@require_GET
@login_required
def data_export(request: HttpRequest) -> HttpResponse:
    user = _member(request)
    # allauth's limits (ACCOUNT_RATE_LIMITS "member_data_export"), which skip GETs unless asked.
    if ratelimit.consume_or_429(request, action="member_data_export", user=user, limit_get=True) is not None:
        response = render(
            request,
            "429.html",
            {"limit_message": "You can download your data three times an hour. Please try again in an hour."},
            status=429,
        )
        # The limit's window: the longest anyone waits for the oldest download to age out.
        response["Retry-After"] = "3600"
        return response
    data = member_data_export(user=user)
    filename = f"watchpoint-my-data-{timezone.now():%Y-%m-%d}.json"
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@login_required
def account_delete(request: HttpRequest) -> HttpResponse:
    user = _member(request)
    form = AccountDeleteForm(request.POST or None, user=user)
    if request.method == "POST":
        # Same budget as allauth's re-authentication: a stolen session must not guess the password.
        limited = ratelimit.consume_or_429(request, action="reauthenticate", user=user)
        if limited is not None:
            return limited
        if form.is_valid():
            # Read before the rows go: a confirmed address only (an unconfirmed one may be anybody's).
            address = EmailAddress.objects.filter(user=user, verified=True, primary=True).first()
            try:
                member_account_delete(user=user)
            except Exception:
                # An eraser's store is down: nothing of the account is gone (see the service), so
                # the member can simply retry; they get an explanation, not a server error.
                logger.exception("member account deletion failed", extra={"user_id": user.pk})
                messages.error(
                    request,
                    "Sorry, we couldn't delete your account just now. Nothing has been removed; "
                    "please try again in a few minutes.",
                )
                return redirect("accounts:delete")
            logout(request)
            if address is not None:
                # The member's receipt (and an alarm if it was not them), sent after the commit by
                # the email queue like every account email; the address is then forgotten.
                get_adapter(request).send_mail(
                    "account/email/account_deleted", address.email, {"timestamp": timezone.now()}
                )
            messages.success(request, "Your account and everything we kept about it have been deleted.")
            return redirect("/")
    return render(request, "account/delete.html", {"form": form})


class EmailConfirmView(ConfirmEmailView):
    """allauth's confirmation page, which also knows a link its own member has already used.

    allauth finds no pending confirmation for a used link and the page would say it has expired;
    when the link is for an address the signed-in member has since confirmed, it says so instead.
    """

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["already_confirmed"] = context["confirmation"] is None and self._link_already_used_by_member()
        return context

    def _link_already_used_by_member(self) -> bool:
        user = self.request.user
        if not user.is_authenticated:
            # Only the owner is told: a visitor holding the link learns nothing about the account.
            return False
        try:
            # HMAC keys (allauth's default) are the signed address id; no max_age, as a link used
            # within its lifetime is still "already confirmed" after it would have expired.
            address_id = signing.loads(self.kwargs["key"], salt=allauth_settings.SALT)
        except signing.BadSignature:
            return False
        return EmailAddress.objects.filter(pk=address_id, user_id=user.pk, verified=True).exists()


email_confirm = EmailConfirmView.as_view()
