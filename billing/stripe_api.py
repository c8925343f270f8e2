"""The one Stripe client (the official SDK, never hand-written HTTP) built from the settings.

The secret key lives in the client only: it is never logged, rendered or put in an error message
(the SDK's own errors mask keys; ours name the operation, not the request).
"""

from __future__ import annotations

import functools

import stripe
from django.conf import settings


class BillingUnavailable(Exception):
    """Stripe is not configured (paid plans are off) or could not be reached."""


@functools.cache
def _client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    base = {"api": api_base} if api_base else None
    # Two retries with the SDK's backoff and idempotency keys: a blip does not fail a checkout.
    return stripe.StripeClient(api_key, base_addresses=base, max_network_retries=2)  # type: ignore[arg-type]


def stripe_client() -> stripe.StripeClient:
    if not settings.BILLING_ENABLED or not settings.STRIPE_SECRET_KEY:
        raise BillingUnavailable("paid plans are off (no Stripe settings)")
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)
