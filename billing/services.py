"""Writes of billing: plans synced to Stripe, Checkout and Portal sessions, webhook events applied.

Access follows only what Stripe's signed webhooks say (and our own API calls' answers); a browser's
redirect back from Checkout never grants anything.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.selectors import Member
from billing.models import Customer, Invoice, Plan, PlanPrice, Subscription, WebhookEvent
from billing.selectors import (
    billing_now,
    customer_for_stripe_get,
    member_customer_get,
    member_plan_ids_entitled,
    plan_for_price_get,
    subscription_grants_access,
)
from billing.signals import entitlement_ended
from billing.stripe_api import BillingUnavailable, stripe_client
from videos.selectors import video_published_snapshot_clear

logger = logging.getLogger(__name__)


class BillingError(Exception):
    """A member's billing request that cannot be done (shown to them as it is: no secrets inside)."""


# --- Plans -----------------------------------------------------------------------------------------


def plan_sync(*, plan: Plan) -> Plan:
    """Create or update the plan's Stripe Product and make sure its current Price matches.

    Stripe prices are immutable: a new amount, currency or interval creates a new Price (kept in
    PlanPrice, since subscriptions on the old one still map to this plan), which becomes the
    product's default, and the old Price is archived (no new Checkout can use it).
    """
    client = stripe_client()
    product_params: dict[str, Any] = {
        "name": plan.name,
        "active": plan.is_active,
        "metadata": {"plan_id": str(plan.pk)},
    }
    if plan.description:
        product_params["description"] = plan.description[:1000]
    if plan.stripe_product_id:
        client.v1.products.update(plan.stripe_product_id, params=product_params)  # type: ignore[arg-type]
    else:
        plan.stripe_product_id = client.v1.products.create(params=product_params).id  # type: ignore[arg-type]
    current = plan.prices.filter(stripe_price_id=plan.stripe_price_id).first() if plan.stripe_price_id else None
    terms = (plan.amount, plan.currency, plan.interval)
    if current is None or (current.amount, current.currency, current.interval) != terms:
        price = client.v1.prices.create(
            params={
                "product": plan.stripe_product_id,
                "unit_amount": plan.amount,
                "currency": plan.currency,
                "recurring": {"interval": plan.interval},
                "metadata": {"plan_id": str(plan.pk)},
            }
        )
        client.v1.products.update(plan.stripe_product_id, params={"default_price": price.id})
        if current is not None:
            client.v1.prices.update(current.stripe_price_id, params={"active": False})
        PlanPrice.objects.create(
            plan=plan, stripe_price_id=price.id, amount=plan.amount, currency=plan.currency, interval=plan.interval
        )
        plan.stripe_price_id = price.id
    plan.save(update_fields=["stripe_product_id", "stripe_price_id", "updated_at"])
    return plan


def plan_content_changed() -> None:
    """What a plan opens changed (admin): the catalogue's access snapshot reloads in this process
    at once, in the others within CATALOGUE_SNAPSHOT_SECONDS."""
    video_published_snapshot_clear()


# --- Customers, Checkout, Portal -----------------------------------------------------------------------


def customer_get_or_create(*, user: Member) -> Customer:
    """The member's Stripe Customer, created on their first Checkout (email and our id as metadata)."""
    existing = member_customer_get(user_id=user.pk)
    if existing is not None:
        return existing
    created = stripe_client().v1.customers.create(params={"email": user.email, "metadata": {"user_id": str(user.pk)}})
    try:
        with transaction.atomic():
            return Customer.objects.create(user_id=user.pk, stripe_customer_id=created.id)
    except IntegrityError:
        # Two tabs raced: keep the first, delete the spare at Stripe.
        stripe_client().v1.customers.delete(created.id)
        found = member_customer_get(user_id=user.pk)
        if found is None:
            raise
        return found


def checkout_session_create(*, user: Member, plan: Plan, success_url: str, cancel_url: str) -> str:
    """A hosted Checkout session (mode=subscription) for `plan`'s current price; returns its URL.

    The price comes from our plan row, never from the request. Coupons and promotion codes are
    Stripe's (allow_promotion_codes). A trial only for a member who never had one.
    """
    if plan.pk in member_plan_ids_entitled(user_id=user.pk):
        raise BillingError("You already have this plan. Manage it from your billing page.")
    customer = customer_get_or_create(user=user)
    subscription_data: dict[str, Any] = {"metadata": {"plan_id": str(plan.pk), "user_id": str(user.pk)}}
    if plan.trial_days and not Subscription.objects.filter(user_id=user.pk, had_trial=True).exists():
        subscription_data["trial_period_days"] = plan.trial_days
    params: Any = {
        "mode": "subscription",
        "customer": customer.stripe_customer_id,
        "client_reference_id": str(user.pk),
        "line_items": [{"price": plan.stripe_price_id, "quantity": 1}],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "allow_promotion_codes": True,
        "subscription_data": subscription_data,
        "metadata": {"plan_id": str(plan.pk), "user_id": str(user.pk)},
    }
    session = stripe_client().v1.checkout.sessions.create(params=params)
    if not session.url:
        raise BillingError("Stripe did not return a Checkout page; try again.")
    return session.url


def portal_session_create(*, user: Member, return_url: str) -> str:
    """A Customer Portal session (change card, switch plan, cancel); returns its URL."""
    customer = member_customer_get(user_id=user.pk)
    if customer is None:
        raise BillingError("You have no billing account yet: choose a plan first.")
    return (
        stripe_client()
        .v1.billing_portal.sessions.create(params={"customer": customer.stripe_customer_id, "return_url": return_url})
        .url
    )


# --- Webhooks ------------------------------------------------------------------------------------


class WebhookRefused(Exception):
    """The request is not a genuine, fresh Stripe event (bad or missing signature, old, malformed)."""


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    outcome: str


def webhook_event_process(*, payload: bytes, signature: str) -> WebhookResult:
    """Verify a Stripe webhook and apply it once.

    The signature is checked by the SDK (`construct_event`) within STRIPE_WEBHOOK_TOLERANCE_SECONDS
    of its signed timestamp. The event id is recorded in the same transaction as its effect, so a
    replay (or Stripe's redelivery) changes nothing. Subscription events carry their `created`
    time: one older than what the row already reflects is recorded and ignored (out of order).
    """
    try:
        stripe.Webhook.construct_event(
            payload,
            signature,
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
        # The verified bytes as plain data (the SDK's objects are not dicts).
        event = json.loads(payload)
        event_id, event_type, created = str(event["id"]), str(event["type"]), int(event["created"])
        obj = event["data"]["object"]
        if not isinstance(obj, dict):
            raise TypeError("data.object is not an object")
    except (stripe.SignatureVerificationError, ValueError, KeyError, TypeError) as exc:
        raise WebhookRefused(type(exc).__name__) from None

    ended: set[int] = set()
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(
                    stripe_event_id=event_id, type=event_type[:100], stripe_created=created, outcome="processing"
                )
        except IntegrityError:
            return WebhookResult(event_id, "duplicate")
        handler = _HANDLERS.get(event_type)
        try:
            outcome = handler(obj=obj, created=created, ended=ended) if handler is not None else "ignored"
        except (ValueError, TypeError, AttributeError, KeyError):
            # Signed but not shaped as we read it: nothing of it is kept (the transaction rolls back).
            logger.warning("webhook %s (%s) could not be read", event_id, event_type, exc_info=True)
            raise WebhookRefused("unreadable event") from None
        record.outcome = outcome
        record.save(update_fields=["outcome"])
    for user_id in ended:
        entitlement_ended.send(sender=Subscription, user_id=user_id)
    return WebhookResult(event_id, outcome)


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if isinstance(value, int) and value > 0 else None


def _id(value: Any) -> str:
    """An expandable field's id (Stripe sends an id, or the object when expanded)."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _subscription_apply(*, obj: dict[str, Any], created: int, ended: set[int]) -> str:
    customer = customer_for_stripe_get(stripe_customer_id=_id(obj.get("customer")))
    if customer is None:
        logger.warning("subscription event for a customer we do not know (%s)", _id(obj.get("id")))
        return "unknown_customer"
    stripe_id = _id(obj.get("id"))
    status = str(obj.get("status", ""))
    if not stripe_id or status not in Subscription.Status.values:
        return "malformed"
    now = timezone.now()
    sub = Subscription.objects.select_for_update().filter(stripe_subscription_id=stripe_id).first()
    if sub is not None and created < sub.event_created:
        return "stale"
    if sub is None:
        sub = Subscription(user_id=customer.user_id, stripe_subscription_id=stripe_id, status=status)
    before = member_plan_ids_entitled(user_id=customer.user_id)
    items = (obj.get("items") or {}).get("data") or []
    item = items[0] if items else {}
    price_id = _id(item.get("price"))
    sub.plan = plan_for_price_get(stripe_price_id=price_id) if price_id else sub.plan
    # Since API 2025-03-31 the period lives on the subscription's items; older versions kept it on top.
    sub.current_period_end = _ts(item.get("current_period_end")) or _ts(obj.get("current_period_end"))
    sub.cancel_at_period_end = bool(obj.get("cancel_at_period_end")) or obj.get("cancel_at") is not None
    sub.trial_end = _ts(obj.get("trial_end"))
    sub.ended_at = _ts(obj.get("ended_at"))
    was = sub.status if sub.pk else ""
    if status == Subscription.Status.TRIALING or sub.trial_end is not None:
        sub.had_trial = True
    if sub.had_trial and status == Subscription.Status.ACTIVE and sub.converted_at is None:
        sub.converted_at = now
    if status == Subscription.Status.PAST_DUE:
        sub.past_due_since = sub.past_due_since if was == Subscription.Status.PAST_DUE else now
    else:
        sub.past_due_since = None
    sub.status = status
    sub.event_created = created
    if subscription_grants_access(subscription=sub, now=billing_now()):
        sub.access_ended_handled = False
    sub.save()
    _ended_collect(user_id=customer.user_id, before=before, ended=ended)
    if status == Subscription.Status.PAST_DUE and was != Subscription.Status.PAST_DUE:
        from billing.tasks import past_due_email_task

        subscription_id = sub.pk
        transaction.on_commit(lambda: past_due_email_task.delay(subscription_id=subscription_id))
    return "applied"


def _ended_collect(*, user_id: int, before: frozenset[int], ended: set[int]) -> None:
    # Entitlement lost now: the member's open watch pages stop at their next batch (generation bump).
    if before - member_plan_ids_entitled(user_id=user_id):
        ended.add(user_id)
        now = billing_now()
        done = [
            sub.pk
            for sub in Subscription.objects.filter(user_id=user_id, access_ended_handled=False)
            if not subscription_grants_access(subscription=sub, now=now)
        ]
        Subscription.objects.filter(pk__in=done).update(access_ended_handled=True)


def _invoice_apply(*, obj: dict[str, Any], created: int, ended: set[int]) -> str:
    customer = customer_for_stripe_get(stripe_customer_id=_id(obj.get("customer")))
    invoice_id = _id(obj.get("id"))
    if customer is None or not invoice_id:
        return "unknown_customer"
    # The payment's references: `charge`/`payment_intent` (older API versions), `payments` (newer).
    charge, intent = _id(obj.get("charge")), _id(obj.get("payment_intent"))
    for payment in ((obj.get("payments") or {}).get("data") or [])[:5]:
        inner = payment.get("payment") or {}
        charge = charge or _id(inner.get("charge"))
        intent = intent or _id(inner.get("payment_intent"))
    subscription = _id(obj.get("subscription")) or _id(
        ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    )
    Invoice.objects.update_or_create(
        stripe_invoice_id=invoice_id,
        defaults={
            "user_id": customer.user_id,
            "stripe_subscription_id": subscription,
            "status": str(obj.get("status", ""))[:20],
            "amount_paid": max(int(obj.get("amount_paid") or 0), 0),
            "amount_due": max(int(obj.get("amount_due") or 0), 0),
            "currency": str(obj.get("currency", ""))[:3],
            "hosted_invoice_url": str(obj.get("hosted_invoice_url") or "")[:1000],
            "stripe_charge_id": charge,
            "stripe_payment_intent_id": intent,
            "stripe_created": _ts(obj.get("created")) or timezone.now(),
        },
    )
    return "recorded"


def _revoke(*, user_id: int, reason: str, ended: set[int]) -> str:
    before = member_plan_ids_entitled(user_id=user_id)
    Subscription.objects.filter(user_id=user_id, revoked_at__isnull=True).exclude(
        status__in=(Subscription.Status.CANCELED, Subscription.Status.INCOMPLETE_EXPIRED)
    ).update(revoked_at=timezone.now(), revoked_reason=reason)
    _ended_collect(user_id=user_id, before=before, ended=ended)
    return "revoked"


def _payer_of(*, charge_id: str, intent_id: str, customer_id: str) -> int | None:
    customer = customer_for_stripe_get(stripe_customer_id=customer_id) if customer_id else None
    if customer is not None:
        return customer.user_id
    refs = [r for r in (charge_id, intent_id) if r]
    if not refs:
        return None
    invoice = (
        Invoice.objects.filter(stripe_charge_id__in=refs).first()
        or Invoice.objects.filter(stripe_payment_intent_id__in=refs).first()
    )
    return invoice.user_id if invoice is not None else None


def _refund_apply(*, obj: dict[str, Any], created: int, ended: set[int]) -> str:
    # A partial refund (a goodwill credit) keeps access; a full one removes it.
    if int(obj.get("amount_refunded") or 0) < int(obj.get("amount") or 0) and not obj.get("refunded"):
        return "partial_refund"
    user_id = _payer_of(
        charge_id=_id(obj.get("id")), intent_id=_id(obj.get("payment_intent")), customer_id=_id(obj.get("customer"))
    )
    return "unknown_customer" if user_id is None else _revoke(user_id=user_id, reason="refund", ended=ended)


def _dispute_apply(*, obj: dict[str, Any], created: int, ended: set[int]) -> str:
    user_id = _payer_of(charge_id=_id(obj.get("charge")), intent_id=_id(obj.get("payment_intent")), customer_id="")
    return "unknown_customer" if user_id is None else _revoke(user_id=user_id, reason="dispute", ended=ended)


def _checkout_completed(*, obj: dict[str, Any], created: int, ended: set[int]) -> str:
    # Nothing is granted here: the subscription's own events decide. This only checks the session
    # belongs to the customer we created for that member (a link a mismatch would break).
    customer = customer_for_stripe_get(stripe_customer_id=_id(obj.get("customer")))
    if customer is None or str(customer.user_id) != str(obj.get("client_reference_id")):
        logger.warning("checkout session %s does not match a customer of ours", _id(obj.get("id")))
        return "unknown_customer"
    return "linked"


_HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "customer.subscription.created": _subscription_apply,
    "customer.subscription.updated": _subscription_apply,
    "customer.subscription.deleted": _subscription_apply,
    "customer.subscription.paused": _subscription_apply,
    "customer.subscription.resumed": _subscription_apply,
    "invoice.paid": _invoice_apply,
    "invoice.payment_failed": _invoice_apply,
    "charge.refunded": _refund_apply,
    "charge.dispute.created": _dispute_apply,
}


# --- Time-based ends, erasure ----------------------------------------------------------------------------


def entitlements_expire() -> int:
    """Revoke the watch tokens of members whose access ended by the clock since the last run (a
    period's end, a grace period); returns how many members. Idempotent."""
    from billing.selectors import subscriptions_access_ended_list

    users: set[int] = set()
    for sub in subscriptions_access_ended_list():
        with transaction.atomic():
            if Subscription.objects.filter(pk=sub.pk, access_ended_handled=False).update(access_ended_handled=True):
                users.add(sub.user_id)
    for user_id in users:
        entitlement_ended.send(sender=Subscription, user_id=user_id)
    return len(users)


def member_billing_erase(*, user_id: int) -> None:
    """Account deletion: cancel the member's live subscriptions at Stripe and delete their Stripe
    customer, then our rows. Idempotent: Stripe's "no such" answers count as done. Raises
    BillingUnavailable if Stripe is needed but off or unreachable (the deletion is retried)."""
    customer = member_customer_get(user_id=user_id)
    live = Subscription.objects.filter(user_id=user_id).exclude(
        status__in=(Subscription.Status.CANCELED, Subscription.Status.INCOMPLETE_EXPIRED)
    )
    if customer is not None or live.exists():
        client = stripe_client()
        try:
            for sub in live:
                _gone_ok(lambda sid=sub.stripe_subscription_id: client.v1.subscriptions.cancel(sid))
            if customer is not None:
                _gone_ok(lambda: client.v1.customers.delete(customer.stripe_customer_id))
        except stripe.StripeError as exc:
            raise BillingUnavailable(f"Stripe refused the cancellation ({type(exc).__name__})") from None
    Invoice.objects.filter(user_id=user_id).delete()
    Subscription.objects.filter(user_id=user_id).delete()
    Customer.objects.filter(user_id=user_id).delete()


def _gone_ok(call: Any) -> None:
    try:
        call()
    except stripe.InvalidRequestError as exc:
        if exc.code != "resource_missing":
            raise


def past_due_email_send(*, subscription_id: int) -> None:
    """Tell the member their payment failed and until when their access lasts (once per past_due
    spell: sent when the subscription becomes past_due)."""
    sub = (
        Subscription.objects.filter(pk=subscription_id, status=Subscription.Status.PAST_DUE)
        .select_related("user", "plan")
        .first()
    )
    if sub is None or sub.past_due_since is None:
        return
    context = {
        "plan": sub.plan,
        "grace_ends": sub.past_due_since + timedelta(days=settings.BILLING_PAST_DUE_GRACE_DAYS),
        "billing_url": f"{settings.SITE_URL}/billing/account/",
    }
    send_mail(
        subject="Your Watchpoint payment failed",
        message=render_to_string("billing/email/past_due.txt", context),
        from_email=None,
        recipient_list=[sub.user.email],
    )
