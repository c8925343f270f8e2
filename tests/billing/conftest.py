"""stripe-mock (Stripe's own API mock, built by bin/stripe-mock) on a free port, Stripe settings
pointing at it, and webhooks signed as Stripe signs them, posted to the running test server."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, free_port, wait_until

WEBHOOK_SECRET = "whsec_test_watchpoint_billing"
API_KEY = "sk_test_watchpointbilling"  # stripe-mock accepts [a-zA-Z0-9] after the prefix


@dataclass
class StripeMock:
    url: str
    log: Path

    def requests(self) -> list[str]:
        """ "METHOD /path" of every request stripe-mock has answered, in order (from its log)."""
        return [
            line.split("Request: ", 1)[1].strip() for line in self.log.read_text().splitlines() if "Request: " in line
        ]

    def request_data(self, method_path: str) -> list[str]:
        """The logged form data of each request to `method_path`."""
        lines = self.log.read_text().splitlines()
        return [
            lines[i + 1]
            for i, line in enumerate(lines[:-1])
            if line.endswith(f"Request: {method_path}") and lines[i + 1].startswith("Request data")
        ]


@pytest.fixture(scope="session")
def stripe_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StripeMock]:
    binary = subprocess.run(
        [str(ROOT / "bin" / "stripe-mock"), "path"], check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_port()
    log = tmp_path_factory.mktemp("stripe-mock") / "stripe-mock.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [binary, "-http-addr", f"127.0.0.1:{port}", "-https-addr", "127.0.0.1:"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        request = urllib.request.Request(  # noqa: S310 - our own local mock
            f"{url}/v1/products?limit=1", headers={"Authorization": f"Bearer {API_KEY}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - our own local mock
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        wait_until(ready, timeout=60)
        yield StripeMock(url=url, log=log)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def billing(settings: Any, stripe_mock: StripeMock) -> StripeMock:
    """Billing on, its API calls answered by stripe-mock."""
    settings.BILLING_ENABLED = True
    settings.STRIPE_SECRET_KEY = API_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stripe_mock.url
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    settings.BILLING_PAST_DUE_GRACE_DAYS = 3
    return stripe_mock


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header: t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<payload>" with the secret>."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def event(kind: str, obj: dict[str, Any], *, created: int | None = None, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": kind,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "api_version": "2026-10-28.endive",
        "data": {"object": obj},
    }


def post_webhook(
    base_url: str, body: dict[str, Any] | bytes, *, signature: str | None = None
) -> tuple[int, dict[str, Any]]:
    """POST an event to the running server's /billing/webhook/, signed unless `signature` is given."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the test server
        f"{base_url}/billing/webhook/",
        data=payload,
        method="POST",
        headers={"Content-Type": "application/json", "Stripe-Signature": signature or sign(payload)},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the test server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def subscription(
    *,
    sub_id: str,
    customer: str,
    price: str,
    status: str = "active",
    period_end: int | None = None,
    cancel_at_period_end: bool = False,
    trial_end: int | None = None,
) -> dict[str, Any]:
    """A Subscription object as Stripe's API version 2026-10-28 sends it (period on the item)."""
    end = int(time.time()) + 30 * 86400 if period_end is None else period_end
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": end if cancel_at_period_end else None,
        "trial_end": trial_end,
        "ended_at": None,
        "items": {
            "object": "list",
            "data": [{"id": f"si_{sub_id}", "price": {"id": price}, "current_period_end": end, "quantity": 1}],
        },
    }


@pytest.fixture
def plan(db: None, billing: StripeMock) -> Any:
    """A monthly plan synced to stripe-mock (its Product and Price ids come from the API)."""
    from billing.models import Plan
    from billing.services import plan_sync

    return plan_sync(plan=Plan.objects.create(name="Pro", slug="pro", amount=900, currency="usd", trial_days=7))


@pytest.fixture
def paid_video(plan: Any) -> Any:
    from tests.factories import VideoFactory

    video = VideoFactory(access="paid", title="Paid lesson")
    plan.videos.add(video)
    return video


@pytest.fixture
def redis() -> Any:
    """The real Redis of the watch stream (the tests' own database), emptied for this test."""
    from analytics.stream import stream_client

    client = stream_client()
    client.flushdb()
    return client


@pytest.fixture
def customer(db: None, member: Any) -> Any:
    from billing.models import Customer

    return Customer.objects.create(user=member, stripe_customer_id=f"cus_{uuid.uuid4().hex[:14]}")
