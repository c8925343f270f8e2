"""A member's whole paid journey in chromium: pricing → Checkout → access to a paid video → cancel →
access ends at the period's end (an injected time).

Hosted Checkout cannot be reached offline, so the test serves a **Checkout stand-in** page (Playwright
route interception of checkout.stripe.com, the URL stripe-mock's session answers) that does what
Checkout does: it sends the browser back to the success URL, and the test then posts, signed as
Stripe signs them, `checkout.session.completed`, `customer.subscription.created` and `invoice.paid`
to the running server. Every Stripe API call the site makes goes to stripe-mock.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import Customer
from tests.billing.conftest import event, post_webhook, subscription
from tests.conftest import CASSANDRA_DBS, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)]

STANDIN = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Checkout stand-in</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">
<p><strong>Stripe Checkout stand-in</strong> (served by the test: hosted Checkout is unreachable offline)</p>
<h1>Pay for Pro</h1><p>9.00 USD / month</p>
<a id="pay" href="{success}">Pay</a></body></html>"""


def test_pricing_checkout_standin_paid_video_cancel_and_the_end_of_access(
    page, live_server, member, plan, paid_video, billing, monkeypatch
):
    client = Client()
    client.force_login(member)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    success = f"{live_server.url}/billing/checkout/done/?plan={plan.slug}&session_id=cs_test_standin"

    def checkout_standin(route: Any) -> None:
        route.fulfill(status=200, content_type="text/html", body=STANDIN.format(success=success))

    page.route("https://checkout.stripe.com/**", checkout_standin)

    page.goto(paid_video.get_absolute_url())
    assert page.locator("[data-gate-plans]").is_visible()
    screenshot(page, "billing-1-gate")
    page.goto("/billing/pricing/")
    screenshot(page, "billing-2-pricing")
    page.get_by_role("button", name="Subscribe to Pro").click()
    page.wait_for_url("https://checkout.stripe.com/**")
    page.locator("#pay").click()
    page.wait_for_url("**/billing/checkout/done/**")
    assert page.locator("[data-checkout-waiting]").is_visible()
    screenshot(page, "billing-3-waiting")

    # What Stripe sends once the payment succeeds (the customer is the one the site created at stripe-mock).
    customer = Customer.objects.get(user=member).stripe_customer_id
    now = int(time.time())
    period_end = now + 30 * 86400
    sub = subscription(sub_id="sub_journey", customer=customer, price=plan.stripe_price_id, period_end=period_end)
    invoice = {
        "id": "in_journey",
        "object": "invoice",
        "customer": customer,
        "status": "paid",
        "amount_paid": 900,
        "amount_due": 900,
        "currency": "usd",
        "created": now,
        "hosted_invoice_url": "https://invoice.stripe.com/i/in_journey",
    }
    session = {
        "id": "cs_test_standin",
        "object": "checkout.session",
        "customer": customer,
        "client_reference_id": str(member.pk),
    }
    for kind, obj in (
        ("checkout.session.completed", session),
        ("customer.subscription.created", sub),
        ("invoice.paid", invoice),
    ):
        assert post_webhook(live_server.url, event(kind, obj, created=now))[0] == 200

    page.locator("[data-checkout-active]").wait_for(state="visible")
    screenshot(page, "billing-4-active")
    page.goto(paid_video.get_absolute_url())
    assert page.locator(".watch__title").inner_text() == paid_video.title
    screenshot(page, "billing-5-paid-video")

    # Cancelled in the Portal: Stripe sends the subscription, canceling at the period's end.
    canceling = subscription(
        sub_id="sub_journey",
        customer=customer,
        price=plan.stripe_price_id,
        period_end=period_end,
        cancel_at_period_end=True,
    )
    assert post_webhook(live_server.url, event("customer.subscription.updated", canceling, created=now + 1))[0] == 200
    page.goto("/billing/account/")
    assert "Ends" in page.locator("[data-billing-plan]").inner_text()
    assert "View invoice" in page.content()
    screenshot(page, "billing-6-account-canceling")
    page.goto(paid_video.get_absolute_url())
    assert page.locator(".watch__title").is_visible()  # paid until the period's end

    # The period ends (billing's clock moved past it): the video is gated again.
    after = timezone.now() + timedelta(seconds=period_end - now + 1)
    monkeypatch.setattr("billing.selectors.billing_now", lambda: after)
    page.goto(paid_video.get_absolute_url())
    assert page.locator("[data-gate-plans]").is_visible()
    screenshot(page, "billing-7-ended")
