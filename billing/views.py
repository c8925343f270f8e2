"""The member's billing pages and Stripe's webhook. Thin: parse, authorise, call a service or selector."""

from __future__ import annotations

import logging
from collections.abc import Callable

import stripe
from allauth.core import ratelimit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from accounts.selectors import member_is_confirmed_cached
from billing.selectors import member_billing_get, member_plan_ids_entitled, plan_for_checkout_get, plan_pricing_list
from billing.services import (
    BillingError,
    WebhookRefused,
    checkout_session_create,
    portal_session_create,
    webhook_event_process,
)
from billing.stripe_api import BillingUnavailable

logger = logging.getLogger(__name__)

# A Stripe event is a few KB; anything far larger is not one.
WEBHOOK_MAX_BYTES = 512 * 1024


def _member_id(request: HttpRequest) -> int:
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied
    return int(user.pk)


def _redirect_to_stripe(request: HttpRequest, *, what: str, session_url: Callable[[], str]) -> HttpResponseBase:
    """Rate-limit, create the Stripe session (Checkout or Portal) and send the member to it; what
    cannot start is explained on our own page: 429 too many tries, 409 the member's state (already
    subscribed, no customer yet), 503 Stripe unreachable."""
    if ratelimit.consume_or_429(request, action="billing_session", user=request.user) is not None:
        return render(request, "billing/error.html", {"message": "Too many attempts; wait a minute."}, status=429)
    try:
        url = session_url()
    except BillingError as exc:
        return render(request, "billing/error.html", {"message": str(exc)}, status=409)
    except (BillingUnavailable, stripe.StripeError) as exc:
        logger.warning("%s could not start (%s)", what, type(exc).__name__)
        return render(request, "billing/error.html", {"message": "Payments are unavailable; try later."}, status=503)
    return redirect(url, permanent=False)


@require_safe
def pricing(request: HttpRequest) -> HttpResponse:
    held = member_plan_ids_entitled(user_id=_member_id(request)) if request.user.is_authenticated else frozenset()
    return render(
        request,
        "billing/pricing.html",
        {"plans": list(plan_pricing_list()), "held": held, "enabled": settings.BILLING_ENABLED},
    )


@login_required
@require_POST
def checkout_start(request: HttpRequest) -> HttpResponseBase:
    """Send the member to Stripe's hosted Checkout for the plan they chose (by slug: the price is ours)."""
    if not member_is_confirmed_cached(user=request.user):
        messages.error(request, "Confirm your email address before you subscribe.")
        return redirect("account_email")
    plan = plan_for_checkout_get(slug=request.POST.get("plan", "")[:100])
    if plan is None:
        return render(request, "billing/error.html", {"message": "No such plan."}, status=400)
    done = request.build_absolute_uri(reverse("billing:checkout-done"))
    return _redirect_to_stripe(
        request,
        what="checkout",
        session_url=lambda: checkout_session_create(
            user=request.user,  # type: ignore[arg-type]
            plan=plan,
            success_url=f"{done}?plan={plan.slug}&session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=request.build_absolute_uri(reverse("billing:pricing")),
        ),
    )


@login_required
@require_safe
def checkout_done(request: HttpRequest) -> HttpResponse:
    """Where Checkout sends the member back. It grants nothing: the page waits (polling
    checkout_status) until Stripe's webhook has made the subscription ours."""
    plan = plan_for_checkout_get(slug=request.GET.get("plan", "")[:100])
    return render(request, "billing/checkout_done.html", {"plan": plan})


@login_required
@require_safe
def checkout_status(request: HttpRequest) -> JsonResponse:
    plan = plan_for_checkout_get(slug=request.GET.get("plan", "")[:100])
    if plan is None:
        return JsonResponse({"error": "no such plan"}, status=400)
    active = plan.pk in member_plan_ids_entitled(user_id=_member_id(request))
    return JsonResponse({"active": active}, headers={"Cache-Control": "no-store"})


@login_required
@require_POST
def portal(request: HttpRequest) -> HttpResponseBase:
    """Send the member to Stripe's Customer Portal (card, plan switch, cancellation)."""
    return _redirect_to_stripe(
        request,
        what="portal",
        session_url=lambda: portal_session_create(
            user=request.user,  # type: ignore[arg-type]
            return_url=request.build_absolute_uri(reverse("billing:account")),
        ),
    )


@login_required
@require_safe
def account(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "billing/account.html",
        {"billing": member_billing_get(user_id=_member_id(request)), "enabled": settings.BILLING_ENABLED},
    )


@csrf_exempt  # Stripe cannot send a CSRF token: the signature is the only credential.
@require_POST
def webhook(request: HttpRequest) -> JsonResponse:
    """Stripe's events. 200 once applied (or known already), 400 for anything not signed by Stripe
    within the tolerance, 503 (Stripe retries) when our database cannot take it now."""
    if not settings.BILLING_ENABLED:
        return JsonResponse({"error": "billing is not configured"}, status=404)
    if ratelimit.consume_or_429(request, action="billing_webhook") is not None:
        return JsonResponse({"error": "too many requests"}, status=429)
    if int(request.headers.get("Content-Length") or 0) > WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "payload too large"}, status=413)
    signature = request.headers.get("Stripe-Signature", "")
    if not signature:
        return JsonResponse({"error": "missing Stripe-Signature"}, status=400)
    try:
        result = webhook_event_process(payload=request.body, signature=signature)
    except WebhookRefused:
        return JsonResponse({"error": "invalid signature or payload"}, status=400)
    except (DatabaseError, BillingUnavailable, stripe.StripeError) as exc:
        logger.warning("webhook not applied, Stripe will retry (%s)", type(exc).__name__)
        return JsonResponse({"error": "try again"}, status=503)
    return JsonResponse({"id": result.event_id, "outcome": result.outcome})
