"""Our own thin records of Stripe's billing objects: Stripe is the source of truth for money, these
rows are what access is decided from (updated only by signed webhooks and by our own API calls).

No card data is ever stored: Stripe's Checkout and Customer Portal collect and keep it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Plan(models.Model):
    """What a member can buy: a recurring price that opens some paid content.

    Staff edit name, price, currency, interval and trial here; billing.services.plan_sync creates
    the Stripe Product and Price (staff never type a Stripe id). Stripe's prices are immutable, so a
    new amount, currency or interval makes a new Price (PlanPrice keeps the old ones, which older
    subscriptions still reference).
    """

    class Interval(models.TextChoices):
        MONTH = "month", "Monthly"
        YEAR = "year", "Yearly"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # Minor units (cents), as Stripe counts them.
    amount = models.PositiveIntegerField(help_text="In the currency's minor unit (e.g. cents): 900 = 9.00.")
    currency = models.CharField(max_length=3, default="usd", help_text="ISO code, lowercase (usd, eur, gbp).")
    interval = models.CharField(max_length=8, choices=Interval.choices, default=Interval.MONTH)
    trial_days = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True, help_text="Shown on the pricing page and open to new subscriptions.")
    position = models.PositiveIntegerField(default=0)
    # What the plan opens: paid videos, and paid playlists (with their videos). Named by string:
    # billing reads the catalogue only through videos.selectors (the reverse name `plans` is what
    # videos.selectors reads).
    videos = models.ManyToManyField("videos.Video", related_name="plans", blank=True)
    playlists = models.ManyToManyField("videos.Playlist", related_name="plans", blank=True)
    stripe_product_id = models.CharField(max_length=255, blank=True, editable=False)
    stripe_price_id = models.CharField(max_length=255, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("position", "amount", "id")
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="billing_plan_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def price_display(self) -> str:
        return f"{self.amount / 100:.2f} {self.currency.upper()} / {self.interval}"


class PlanPrice(models.Model):
    """Every Stripe Price a plan has had: a subscription names its price, which maps to the plan."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="prices")
    stripe_price_id = models.CharField(max_length=255, unique=True)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    interval = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.stripe_price_id


class Customer(models.Model):
    """The member's Stripe Customer, created by us before their first Checkout."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="billing_customer")
    stripe_customer_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.stripe_customer_id


class Subscription(models.Model):
    """A member's Stripe Subscription as the last applied webhook described it."""

    class Status(models.TextChoices):
        INCOMPLETE = "incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired"
        TRIALING = "trialing"
        ACTIVE = "active"
        PAST_DUE = "past_due"
        CANCELED = "canceled"
        UNPAID = "unpaid"
        PAUSED = "paused"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="subscriptions")
    stripe_subscription_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    trial_end = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # When the subscription became past_due (our clock): the grace period counts from here.
    past_due_since = models.DateTimeField(null=True, blank=True)
    # A refund or a dispute removed access (until a later payment restores it).
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=40, blank=True)
    # Whether the trial ever turned into a paid period (revenue analytics: trial conversion).
    had_trial = models.BooleanField(default=False)
    converted_at = models.DateTimeField(null=True, blank=True)
    # `created` of the last event applied to this row (Stripe's clock, seconds): an older event never
    # overwrites a newer one (webhooks arrive out of order).
    event_created = models.BigIntegerField(default=0)
    # Whether the member's open watch tokens were already revoked for the entitlement's end.
    access_ended_handled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("user", "status"))]

    def __str__(self) -> str:
        return f"{self.stripe_subscription_id} ({self.status})"


class Invoice(models.Model):
    """A paid or failed invoice, for the member's account page and their export (links, amounts)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invoices")
    stripe_invoice_id = models.CharField(max_length=255, unique=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20)
    amount_paid = models.PositiveIntegerField(default=0)
    amount_due = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    hosted_invoice_url = models.URLField(max_length=1000, blank=True)
    # How it was paid (a refund or a dispute names the charge or the payment intent, not the invoice).
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_created = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-stripe_created", "-id")

    def __str__(self) -> str:
        return self.stripe_invoice_id

    @property
    def amount_display(self) -> str:
        return f"{self.amount_paid / 100:.2f} {self.currency.upper()}"


class WebhookEvent(models.Model):
    """Every Stripe event we accepted, by id: a replayed or redelivered event changes nothing."""

    stripe_event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    stripe_created = models.BigIntegerField()
    # What the event did: applied, ignored as older than the row's state, or unknown customer.
    outcome = models.CharField(max_length=40)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-received_at", "-id")

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id}"
