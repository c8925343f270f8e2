"""Plans synced to stripe-mock, Checkout and the Portal from the server's prices only, the success
URL that grants nothing, access levels on pages and watch tokens, the member's export and deletion."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.services import member_account_delete, member_data_export
from billing.models import Customer, Invoice, Plan, PlanPrice, Subscription
from billing.selectors import member_plan_ids_entitled, plan_for_price_get
from billing.services import plan_sync, webhook_event_process
from tests.analytics.test_watch_integrity import body, post, started, tracker_config
from tests.billing.conftest import event, sign, subscription
from tests.conftest import CASSANDRA_DBS
from tests.factories import PlaylistFactory, PlaylistItemFactory, VideoFactory

pytestmark = pytest.mark.django_db


def subscribe(member: Any, plan: Plan, **fields: Any) -> Subscription:
    """An active subscription as the webhook leaves it (through the same service the view calls)."""
    customer, _ = Customer.objects.get_or_create(user=member, defaults={"stripe_customer_id": f"cus_m{member.pk}"})
    payload = json.dumps(
        event(
            "customer.subscription.created",
            subscription(
                sub_id=f"sub_m{member.pk}", customer=customer.stripe_customer_id, price=plan.stripe_price_id, **fields
            ),
        )
    ).encode()
    webhook_event_process(payload=payload, signature=sign(payload))
    return Subscription.objects.get(user=member)


def test_a_plan_is_synced_to_a_stripe_product_and_price_and_a_new_amount_makes_a_new_price(plan, billing):
    first = plan.stripe_price_id
    assert plan.stripe_product_id.startswith("prod_")
    assert first.startswith("price_")

    plan.amount = 1200
    plan.save()
    plan_sync(plan=plan)

    assert plan.stripe_price_id != first
    assert set(PlanPrice.objects.values_list("stripe_price_id", flat=True)) == {first, plan.stripe_price_id}
    # The old price is archived at Stripe (prices are immutable), and still maps to the plan.
    assert "Request data = map[active:false]" in billing.request_data(f"POST /v1/prices/{first}")
    assert plan_for_price_get(stripe_price_id=first) == plan


def test_a_name_change_updates_the_product_and_keeps_the_price(plan, billing):
    first = plan.stripe_price_id
    plan.name = "Pro+"
    plan.save()
    plan_sync(plan=plan)

    assert plan.stripe_price_id == first
    assert any("name:Pro+" in data for data in billing.request_data(f"POST /v1/products/{plan.stripe_product_id}"))


def test_checkout_sends_the_member_to_stripe_with_the_plans_own_price(client, member, plan, billing):
    client.force_login(member)
    response = client.post(reverse("billing:checkout"), {"plan": plan.slug})

    assert response.status_code == 302
    assert response["Location"].startswith("https://checkout.stripe.com/")
    sent = billing.request_data("POST /v1/checkout/sessions")[-1]
    assert plan.stripe_price_id in sent
    assert "mode:subscription" in sent
    assert "trial_period_days:7" in sent
    assert Customer.objects.filter(user=member).exists()


def test_plan_or_price_tampering_is_refused_or_ignored(client, member, plan, billing):
    """docs/ATTACKS.md: plan or price tampering. Unknown or inactive plans are refused; a price sent
    by the browser is never read."""
    client.force_login(member)
    assert client.post(reverse("billing:checkout"), {"plan": "no-such-plan"}).status_code == 400
    hidden = plan_sync(plan=Plan.objects.create(name="Old", slug="old", amount=100, is_active=False))
    assert client.post(reverse("billing:checkout"), {"plan": hidden.slug}).status_code == 400
    calls = len(billing.request_data("POST /v1/checkout/sessions"))

    response = client.post(reverse("billing:checkout"), {"plan": plan.slug, "price": "price_attacker", "amount": "1"})

    assert response.status_code == 302
    sent = billing.request_data("POST /v1/checkout/sessions")
    assert len(sent) == calls + 1
    assert "price_attacker" not in sent[-1]
    assert plan.stripe_price_id in sent[-1]


def test_the_success_url_without_a_payment_grants_nothing(client, member, plan, paid_video, billing):
    """docs/ATTACKS.md: the success URL without a payment. The page waits for the webhook."""
    client.force_login(member)
    done = client.get(reverse("billing:checkout-done"), {"plan": plan.slug, "session_id": "cs_test_made_up"})
    status = client.get(reverse("billing:checkout-status"), {"plan": plan.slug})

    assert done.status_code == 200
    assert b"waiting for Stripe" in done.content
    assert status.json() == {"active": False}
    assert client.get(paid_video.get_absolute_url()).status_code == 403
    assert not Subscription.objects.exists()


def test_the_portal_opens_for_a_member_with_a_customer(client, member, plan, billing):
    client.force_login(member)
    assert client.post(reverse("billing:portal")).status_code == 409  # no customer yet
    subscribe(member, plan)

    response = client.post(reverse("billing:portal"))

    assert response.status_code == 302
    assert billing.request_data("POST /v1/billing_portal/sessions")


def test_a_paid_video_shows_a_gate_offering_its_plans_and_opens_with_one(client, member, plan, paid_video, billing):
    client.force_login(member)
    gate = client.get(paid_video.get_absolute_url())
    assert gate.status_code == 403
    assert b"data-gate-plans" in gate.content
    assert plan.name.encode() in gate.content

    subscribe(member, plan)

    assert client.get(paid_video.get_absolute_url()).status_code == 200


def test_a_plan_that_opens_a_paid_playlist_opens_its_paid_videos_and_its_page(client, member, plan, billing):
    playlist = PlaylistFactory(access="paid")
    video = VideoFactory(access="paid")
    PlaylistItemFactory(playlist=playlist, video=video)
    plan.playlists.add(playlist)
    client.force_login(member)
    assert client.get(playlist.get_absolute_url()).status_code == 403
    assert client.get(video.get_absolute_url()).status_code == 403

    subscribe(member, plan)

    assert client.get(playlist.get_absolute_url()).status_code == 200
    assert client.get(video.get_absolute_url()).status_code == 200


def test_members_and_public_levels_are_unchanged(client, member):
    public, members = VideoFactory(access="public"), VideoFactory(access="members")
    assert client.get(public.get_absolute_url()).status_code == 200
    assert client.get(members.get_absolute_url()).status_code == 403
    client.force_login(member)
    assert client.get(members.get_absolute_url()).status_code == 200


def test_the_catalogue_and_search_label_paid_videos(client, paid_video):
    assert b'badge--warn">Paid' in client.get("/").content
    assert b'badge--warn">Paid' in client.get("/", {"q": "Paid lesson"}).content


@pytest.mark.integration
def test_a_cancel_racing_a_watch_session_stops_its_batches_and_its_renewals(client, member, plan, paid_video, redis):
    """docs/ATTACKS.md: a downgrade or cancel racing a watch session. The token issued while the
    member held the plan stops at once when the entitlement ends (generation bumped)."""
    subscribe(member, plan)
    client.force_login(member)
    config = started(tracker_config(client, paid_video), seconds_ago=300)
    assert post(client, body(config, range(5))).status_code == 202

    now = int(time.time())
    customer = Customer.objects.get(user=member)
    payload = json.dumps(
        event(
            "customer.subscription.deleted",
            subscription(
                sub_id=f"sub_m{member.pk}",
                customer=customer.stripe_customer_id,
                price=plan.stripe_price_id,
                status="canceled",
                period_end=now - 1,
            ),
            created=now + 1,
        )
    ).encode()
    webhook_event_process(payload=payload, signature=sign(payload))

    assert post(client, body(config, range(5, 10))).status_code == 403
    renewal = client.post(reverse("analytics:watch-renew"), {"token": config["token"]}, content_type="application/json")
    assert renewal.status_code == 403
    assert client.get(paid_video.get_absolute_url()).status_code == 403


@pytest.mark.integration
def test_a_token_for_a_video_made_paid_afterwards_is_refused(client, member, redis):
    video = VideoFactory(access="members")
    client.force_login(member)
    config = started(tracker_config(client, video), seconds_ago=300)
    assert post(client, body(config, range(5))).status_code == 202

    video.access = "paid"
    video.save()

    assert post(client, body(config, range(5, 10))).status_code == 403


def test_the_account_page_shows_plan_status_renewal_and_invoices(client, member, plan, billing):
    sub = subscribe(member, plan)
    Invoice.objects.create(
        user=member,
        stripe_invoice_id="in_1",
        status="paid",
        amount_paid=900,
        currency="usd",
        hosted_invoice_url="https://invoice.stripe.com/i/in_1",
        stripe_created=timezone.now(),
    )
    client.force_login(member)
    page = client.get(reverse("billing:account")).content.decode()

    assert "Pro" in page
    assert "Active" in page
    assert "Renews" in page
    assert sub.current_period_end is not None
    assert "https://invoice.stripe.com/i/in_1" in page
    assert "9.00 USD" in page


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_the_export_lists_billing_records_and_no_card_data(member, plan, billing):
    subscribe(member, plan)
    exported = member_data_export(user=member)["sections"]["billing"]

    assert exported["subscriptions"][0]["status"] == "active"
    assert exported["stripe_customer_id"] == f"cus_m{member.pk}"
    text = json.dumps(exported)
    assert all(word not in text for word in ("card", "last4", "exp_month", "cvc"))


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_account_deletion_cancels_the_subscription_and_deletes_the_customer_at_stripe(member, plan, billing):
    subscribe(member, plan)
    user_id = member.pk

    member_account_delete(user=member)

    calls = billing.requests()
    assert f"DELETE /v1/subscriptions/sub_m{user_id}" in calls
    assert f"DELETE /v1/customers/cus_m{user_id}" in calls
    assert not Subscription.objects.filter(user_id=user_id).exists()
    assert not Customer.objects.filter(user_id=user_id).exists()


def test_past_due_beyond_grace_is_no_access_and_the_grace_is_a_setting(member, plan, billing, settings, monkeypatch):
    settings.BILLING_PAST_DUE_GRACE_DAYS = 1
    sub = subscribe(member, plan)
    Subscription.objects.filter(pk=sub.pk).update(status="past_due", past_due_since=timezone.now())
    assert member_plan_ids_entitled(user_id=member.pk) == {plan.pk}
    later = timezone.now() + timedelta(days=1, seconds=1)
    assert member_plan_ids_entitled(user_id=member.pk, now=later) == frozenset()


def test_without_stripe_settings_the_pricing_page_says_plans_are_off_and_the_webhook_is_404(client, settings):
    settings.BILLING_ENABLED = False
    assert b"not available" in client.get(reverse("billing:pricing")).content
    assert client.post("/billing/webhook/", b"{}", content_type="application/json").status_code == 404


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_the_revenue_page_shows_subscribers_mrr_trial_conversion_and_churn_risk(client, member, plan, billing):
    from tests.factories import MemberFactory

    subscribe(member, plan)
    trialist = MemberFactory()
    sub = subscribe(trialist, plan, status="trialing", trial_end=int(time.time()) + 86400)
    Subscription.objects.filter(pk=sub.pk).update(trial_end=timezone.now() - timedelta(seconds=1), status="active")
    Subscription.objects.filter(pk=sub.pk).update(converted_at=timezone.now())
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))

    page = client.get(reverse("analytics_admin:revenue")).content.decode()

    assert "Active subscribers" in page
    assert "MRR (USD)" in page
    assert "18.00" in page  # two paying members of a 9.00 monthly plan
    assert "100.0%" in page  # the one ended trial converted
    assert member.email in page  # never watched: a churn risk
    assert "never watched" in page
