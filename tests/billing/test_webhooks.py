"""Signed webhooks posted to the running server decide entitlement (issue #23): every transition,
replays, out-of-order delivery, forged and stale signatures. Stripe API calls go to stripe-mock."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from analytics.stream import GENERATION_KEY, stream_client
from billing.models import Subscription, WebhookEvent
from billing.selectors import member_plan_ids_entitled
from billing.services import entitlements_expire
from config.celery_app import app as celery_app
from tests.billing.conftest import event, post_webhook, sign, subscription

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

DAY = 86400


def generation(user_id: int) -> int:
    return int(stream_client().get(GENERATION_KEY.format(user_id=user_id)) or 0)


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move billing's clock (billing.selectors.billing_now) forward: the injected time."""
    now = timezone.now() + timedelta(seconds=seconds)
    monkeypatch.setattr("billing.selectors.billing_now", lambda: now)


def sub_event(kind: str, customer: Any, plan: Any, *, created: int | None = None, **fields: Any) -> dict[str, Any]:
    fields.setdefault("sub_id", "sub_test1")
    return event(
        kind, subscription(customer=customer.stripe_customer_id, price=plan.stripe_price_id, **fields), created=created
    )


def test_an_active_subscription_opens_the_plan_and_its_paid_video(
    live_server, client, member, customer, plan, paid_video
):
    client.force_login(member)
    assert client.get(paid_video.get_absolute_url()).status_code == 403

    status, body = post_webhook(live_server.url, sub_event("customer.subscription.created", customer, plan))

    assert (status, body["outcome"]) == (200, "applied")
    assert member_plan_ids_entitled(user_id=member.pk) == {plan.pk}
    assert client.get(paid_video.get_absolute_url()).status_code == 200


def test_a_trialing_subscription_opens_the_plan_and_counts_as_a_trial(live_server, member, customer, plan):
    trial_end = int(time.time()) + 7 * DAY
    post_webhook(
        live_server.url,
        sub_event("customer.subscription.created", customer, plan, status="trialing", trial_end=trial_end),
    )

    assert member_plan_ids_entitled(user_id=member.pk) == {plan.pk}
    assert Subscription.objects.get().had_trial


def test_past_due_keeps_access_for_the_grace_period_with_a_banner_and_an_email_then_ends_it(
    live_server, client, member, customer, plan, monkeypatch
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    now = int(time.time())
    post_webhook(live_server.url, sub_event("customer.subscription.created", customer, plan, created=now - 60))
    before = generation(member.pk)

    post_webhook(
        live_server.url, sub_event("customer.subscription.updated", customer, plan, status="past_due", created=now)
    )

    assert member_plan_ids_entitled(user_id=member.pk) == {plan.pk}
    assert len(mail.outbox) == 1
    assert "payment failed" in mail.outbox[0].subject
    client.force_login(member)
    assert b"data-billing-notice" in client.get("/billing/pricing/").content
    later(monkeypatch, 3 * DAY + 60)
    assert member_plan_ids_entitled(user_id=member.pk) == frozenset()
    assert entitlements_expire() == 1
    assert generation(member.pk) == before + 1
    assert entitlements_expire() == 0  # once


@pytest.mark.parametrize("status", ["canceled", "unpaid"])
def test_canceled_or_unpaid_keeps_access_until_the_paid_period_ends(
    live_server, member, customer, plan, monkeypatch, status
):
    now = int(time.time())
    post_webhook(live_server.url, sub_event("customer.subscription.created", customer, plan, created=now - 60))
    post_webhook(
        live_server.url,
        sub_event("customer.subscription.updated", customer, plan, status=status, period_end=now + DAY, created=now),
    )

    assert member_plan_ids_entitled(user_id=member.pk) == {plan.pk}
    later(monkeypatch, DAY + 1)
    assert member_plan_ids_entitled(user_id=member.pk) == frozenset()


def test_a_cancel_at_period_end_ends_access_at_the_period_end_and_revokes_open_watch_tokens(
    live_server, member, customer, plan, monkeypatch
):
    now = int(time.time())
    post_webhook(live_server.url, sub_event("customer.subscription.created", customer, plan, created=now - 60))
    post_webhook(
        live_server.url,
        sub_event(
            "customer.subscription.updated",
            customer,
            plan,
            cancel_at_period_end=True,
            period_end=now + 600,
            created=now,
        ),
    )
    before = generation(member.pk)
    assert entitlements_expire() == 0
    assert member_plan_ids_entitled(user_id=member.pk) == {plan.pk}

    later(monkeypatch, 601)

    assert member_plan_ids_entitled(user_id=member.pk) == frozenset()
    assert entitlements_expire() == 1
    assert generation(member.pk) == before + 1


def test_a_deleted_subscription_past_its_period_ends_access_at_once_and_bumps_the_generation(
    live_server, member, customer, plan
):
    now = int(time.time())
    post_webhook(live_server.url, sub_event("customer.subscription.created", customer, plan, created=now - 60))
    before = generation(member.pk)

    post_webhook(
        live_server.url,
        sub_event("customer.subscription.deleted", customer, plan, status="canceled", period_end=now - 1, created=now),
    )

    assert member_plan_ids_entitled(user_id=member.pk) == frozenset()
    assert generation(member.pk) == before + 1


def test_a_full_refund_removes_access_and_a_partial_one_does_not(live_server, member, customer, plan):
    post_webhook(live_server.url, sub_event("customer.subscription.created", customer, plan))
    charge = {"id": "ch_1", "object": "charge", "customer": customer.stripe_customer_id, "amount": 900}

    _, partial = post_webhook(live_server.url, event("charge.refunded", {**charge, "amount_refunded": 100}))
    assert partial["outcome"] == "partial_refund"
    assert member_plan_ids_entitled(user_id=member.pk) == {plan.pk}

    _, full = post_webhook(
        live_server.url, event("charge.refunded", {**charge, "amount_refunded": 900, "refunded": True})
    )
    assert full["outcome"] == "revoked"
    assert member_plan_ids_entitled(user_id=member.pk) == frozenset()


def test_a_dispute_on_an_invoice_payment_removes_access(live_server, member, customer, plan):
    post_webhook(live_server.url, sub_event("customer.subscription.created", customer, plan))
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "customer": customer.stripe_customer_id,
        "status": "paid",
        "amount_paid": 900,
        "amount_due": 900,
        "currency": "usd",
        "created": int(time.time()),
        "hosted_invoice_url": "https://invoice.stripe.com/i/test",
        "payments": {"data": [{"payment": {"type": "payment_intent", "payment_intent": "pi_1"}}]},
    }
    post_webhook(live_server.url, event("invoice.paid", invoice))

    _, body = post_webhook(
        live_server.url, event("charge.dispute.created", {"id": "dp_1", "charge": "ch_9", "payment_intent": "pi_1"})
    )

    assert body["outcome"] == "revoked"
    assert member_plan_ids_entitled(user_id=member.pk) == frozenset()


def test_a_replayed_event_changes_nothing(live_server, member, customer, plan):
    """docs/ATTACKS.md: a replayed event. The old "active" event, replayed after the cancellation, is a duplicate."""
    now = int(time.time())
    created = sub_event("customer.subscription.created", customer, plan, created=now - 60)
    post_webhook(live_server.url, created)
    post_webhook(
        live_server.url,
        sub_event("customer.subscription.deleted", customer, plan, status="canceled", period_end=now - 1, created=now),
    )

    status, body = post_webhook(live_server.url, created)

    assert (status, body["outcome"]) == (200, "duplicate")
    assert Subscription.objects.get().status == "canceled"
    assert WebhookEvent.objects.count() == 2


def test_an_older_event_delivered_late_never_overwrites_a_newer_state(live_server, member, customer, plan):
    now = int(time.time())
    post_webhook(
        live_server.url,
        sub_event("customer.subscription.deleted", customer, plan, status="canceled", period_end=now - 1, created=now),
    )

    _, body = post_webhook(
        live_server.url, sub_event("customer.subscription.created", customer, plan, created=now - 120)
    )

    assert body["outcome"] == "stale"
    assert Subscription.objects.get().status == "canceled"
    assert member_plan_ids_entitled(user_id=member.pk) == frozenset()


def test_a_forged_webhook_is_refused_and_changes_nothing(live_server, member, customer, plan):
    """docs/ATTACKS.md: a forged webhook (wrong secret, bad signature, a stale timestamp, a body
    changed after signing)."""
    body = sub_event("customer.subscription.created", customer, plan)
    payload = json.dumps(body).encode()
    forged = [
        sign(payload, secret="whsec_guessed"),
        "t=1,v1=00",
        sign(payload, timestamp=int(time.time()) - 3600),  # past the 300 s tolerance: a captured delivery
    ]
    for signature in forged:
        assert post_webhook(live_server.url, payload, signature=signature)[0] == 400
    tampered = payload.replace(b'"active"', b'"trialing"')
    assert post_webhook(live_server.url, tampered, signature=sign(payload))[0] == 400
    assert post_webhook(live_server.url, b"not json", signature=sign(b"not json"))[0] == 400

    assert WebhookEvent.objects.count() == 0
    assert member_plan_ids_entitled(user_id=member.pk) == frozenset()


def test_an_event_for_an_unknown_customer_or_price_grants_nothing(live_server, member, customer, plan):
    post_webhook(
        live_server.url,
        event(
            "customer.subscription.created",
            subscription(sub_id="sub_x", customer="cus_nobody", price=plan.stripe_price_id),
        ),
    )
    post_webhook(
        live_server.url,
        event(
            "customer.subscription.created",
            subscription(sub_id="sub_y", customer=customer.stripe_customer_id, price="price_unknown"),
        ),
    )

    assert member_plan_ids_entitled(user_id=member.pk) == frozenset()


def test_the_webhook_is_csrf_exempt_but_takes_only_posts(billing):
    from django.test import Client

    assert Client(enforce_csrf_checks=True).get("/billing/webhook/").status_code == 405


def test_a_signed_event_we_cannot_read_is_a_400_and_records_nothing(live_server, member, customer, plan):
    charge = {"id": "ch_1", "customer": customer.stripe_customer_id, "amount": "nine", "amount_refunded": {}}

    status, _ = post_webhook(live_server.url, event("charge.refunded", charge))

    assert status == 400
    assert WebhookEvent.objects.count() == 0
