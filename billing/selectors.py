"""Reads of billing: who is entitled to what now, what the member's pages and export show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from billing.models import Customer, Invoice, Plan, Subscription

# Statuses that open the plan outright; past_due opens it for the grace period; the others open it
# only until the paid period ends (a canceled subscription keeps what was paid for).
_OPEN = frozenset({Subscription.Status.ACTIVE, Subscription.Status.TRIALING})


def billing_now() -> datetime:
    """The clock entitlement is decided on (the server's; tests inject a later time here)."""
    return timezone.now()


def subscription_grants_access(*, subscription: Subscription, now: datetime) -> bool:
    """Whether the subscription opens its plan at `now` (the rules of issue #23):

    active or trialing: yes, until a period that will not renew (cancel_at_period_end) has ended;
    past_due: for BILLING_PAST_DUE_GRACE_DAYS from when it became past_due; canceled or unpaid:
    until the paid period's end; a refund or a dispute: no.
    """
    if subscription.revoked_at is not None or subscription.plan_id is None:
        return False
    period_end = subscription.current_period_end
    status = subscription.status
    if status in _OPEN:
        return not (subscription.cancel_at_period_end and period_end is not None and now >= period_end)
    if status == Subscription.Status.PAST_DUE:
        since = subscription.past_due_since or now
        return now < since + timedelta(days=settings.BILLING_PAST_DUE_GRACE_DAYS)
    if status in (Subscription.Status.CANCELED, Subscription.Status.UNPAID):
        return period_end is not None and now < period_end
    return False


def _maybe_open(user_id: int | None = None) -> QuerySet[Subscription]:
    qs = Subscription.objects.filter(plan__isnull=False, revoked_at__isnull=True).exclude(
        status__in=(Subscription.Status.INCOMPLETE, Subscription.Status.INCOMPLETE_EXPIRED, Subscription.Status.PAUSED)
    )
    return qs if user_id is None else qs.filter(user_id=user_id)


def member_plan_ids_entitled(*, user_id: int, now: datetime | None = None) -> frozenset[int]:
    """The plans the member's subscriptions open now (videos.registry asks this for paid content)."""
    now = billing_now() if now is None else now
    return frozenset(
        sub.plan_id
        for sub in _maybe_open(user_id)
        if sub.plan_id is not None and subscription_grants_access(subscription=sub, now=now)
    )


def subscriptions_access_ended_list(*, now: datetime | None = None) -> list[Subscription]:
    """Subscriptions whose access has ended (by the clock or by an event) and whose member's watch
    tokens were not yet revoked for it (billing.tasks.entitlements_expire)."""
    now = billing_now() if now is None else now
    candidates = Subscription.objects.filter(access_ended_handled=False).filter(
        Q(revoked_at__isnull=False)
        | Q(status__in=(Subscription.Status.CANCELED, Subscription.Status.UNPAID), current_period_end__lte=now)
        | Q(status=Subscription.Status.PAST_DUE)
        | Q(cancel_at_period_end=True, current_period_end__lte=now)
    )
    return [sub for sub in candidates if not subscription_grants_access(subscription=sub, now=now)]


def plan_pricing_list() -> QuerySet[Plan]:
    """Plans open to new subscribers (active, with a Stripe price), in pricing-page order."""
    return Plan.objects.filter(is_active=True).exclude(stripe_price_id="")


def plan_for_checkout_get(*, slug: str) -> Plan | None:
    """The plan a member asked for by slug: only an active, synced one (the price comes from here,
    never from the request)."""
    return plan_pricing_list().filter(slug=slug).first()


def plan_for_price_get(*, stripe_price_id: str) -> Plan | None:
    """The plan a Stripe price belongs to, current or former (prices are immutable: a change of
    amount made a new one, older subscriptions keep the old)."""
    plan = Plan.objects.filter(prices__stripe_price_id=stripe_price_id).first()
    return plan or Plan.objects.filter(stripe_price_id=stripe_price_id).first()


def customer_for_stripe_get(*, stripe_customer_id: str) -> Customer | None:
    return Customer.objects.filter(stripe_customer_id=stripe_customer_id).first()


def member_customer_get(*, user_id: int) -> Customer | None:
    return Customer.objects.filter(user_id=user_id).first()


@dataclass(frozen=True)
class MemberBilling:
    """What the member's billing page shows."""

    subscription: Subscription | None  # the latest one
    has_access: bool
    in_grace: bool
    grace_ends: datetime | None
    invoices: list[Invoice]
    has_customer: bool


def member_billing_get(*, user_id: int) -> MemberBilling:
    now = billing_now()
    subscription = Subscription.objects.filter(user_id=user_id).select_related("plan").first()
    has_access = subscription is not None and subscription_grants_access(subscription=subscription, now=now)
    in_grace = bool(subscription and subscription.status == Subscription.Status.PAST_DUE and has_access)
    grace_ends = (
        subscription.past_due_since + timedelta(days=settings.BILLING_PAST_DUE_GRACE_DAYS)
        if subscription is not None and in_grace and subscription.past_due_since
        else None
    )
    return MemberBilling(
        subscription=subscription,
        has_access=has_access,
        in_grace=in_grace,
        grace_ends=grace_ends,
        invoices=list(Invoice.objects.filter(user_id=user_id)[:24]),
        has_customer=Customer.objects.filter(user_id=user_id).exists(),
    )


def member_grace_notice_get(*, user_id: int) -> datetime | None:
    """When the member's past-due grace ends, if they are in one (the site-wide banner)."""
    now = billing_now()
    for sub in Subscription.objects.filter(user_id=user_id, status=Subscription.Status.PAST_DUE, revoked_at=None):
        if subscription_grants_access(subscription=sub, now=now) and sub.past_due_since is not None:
            return sub.past_due_since + timedelta(days=settings.BILLING_PAST_DUE_GRACE_DAYS)
    return None


def member_billing_export(*, user_id: int) -> dict[str, Any]:
    """The member's billing records for their data export: Stripe ids, plans, statuses, dates and
    amounts. No card data: we never hold any (Checkout and the Portal collect it at Stripe)."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    customer = member_customer_get(user_id=user_id)
    return {
        "stripe_customer_id": customer.stripe_customer_id if customer else None,
        "subscriptions": [
            {
                "stripe_subscription_id": sub.stripe_subscription_id,
                "plan": sub.plan.name if sub.plan else None,
                "status": sub.status,
                "current_period_end": iso(sub.current_period_end),
                "cancel_at_period_end": sub.cancel_at_period_end,
                "trial_end": iso(sub.trial_end),
                "ended_at": iso(sub.ended_at),
                "created_at": iso(sub.created_at),
            }
            for sub in Subscription.objects.filter(user_id=user_id).select_related("plan")
        ],
        "invoices": [
            {
                "stripe_invoice_id": invoice.stripe_invoice_id,
                "status": invoice.status,
                "amount_paid": invoice.amount_paid,
                "amount_due": invoice.amount_due,
                "currency": invoice.currency,
                "url": invoice.hosted_invoice_url,
                "created": iso(invoice.stripe_created),
            }
            for invoice in Invoice.objects.filter(user_id=user_id)
        ],
    }


@dataclass(frozen=True)
class RevenueFigures:
    """Revenue on the staff analytics pages (definitions in analytics/admin.py REVENUE_DEFINITIONS)."""

    subscribers_by_plan: list[tuple[str, int]]  # (plan name, members with access now)
    mrr_by_currency: dict[str, int]  # minor units
    days: list[date]
    new_per_day: list[int]
    churned_per_day: list[int]
    trials_ended: int
    trials_converted: int
    paying_members: dict[int, tuple[str, str]]  # user id -> (plan name, email): paid access open now


def revenue_figures_get(*, today: date, days: int = 30) -> RevenueFigures:
    now = billing_now()
    start = today - timedelta(days=days - 1)
    span = [start + timedelta(days=i) for i in range(days)]
    subs = list(Subscription.objects.select_related("plan", "user"))
    open_subs = [s for s in subs if s.plan is not None and subscription_grants_access(subscription=s, now=now)]
    by_plan: dict[str, set[int]] = {}
    mrr: dict[str, int] = {}
    paying: dict[int, tuple[str, str]] = {}
    for sub in open_subs:
        plan = sub.plan
        if plan is None:
            continue
        by_plan.setdefault(plan.name, set()).add(sub.user_id)
        if sub.status != Subscription.Status.TRIALING:
            monthly = plan.amount if plan.interval == Plan.Interval.MONTH else round(plan.amount / 12)
            mrr[plan.currency] = mrr.get(plan.currency, 0) + monthly
            paying[sub.user_id] = (plan.name, sub.user.email)
    new = dict.fromkeys(span, 0)
    churned = dict.fromkeys(span, 0)
    for sub in subs:
        created = sub.created_at.date()
        if created in new:
            new[created] += 1
        if sub.status in (Subscription.Status.CANCELED, Subscription.Status.UNPAID) or sub.revoked_at:
            end = sub.revoked_at or sub.ended_at or sub.current_period_end
            if end is not None and end.date() in churned:
                churned[end.date()] += 1
    trials = [s for s in subs if s.had_trial and (s.trial_end is None or s.trial_end <= now)]
    return RevenueFigures(
        subscribers_by_plan=sorted(((name, len(users)) for name, users in by_plan.items()), key=lambda r: -r[1]),
        mrr_by_currency=mrr,
        days=span,
        new_per_day=[new[d] for d in span],
        churned_per_day=[churned[d] for d in span],
        trials_ended=len(trials),
        trials_converted=sum(1 for s in trials if s.converted_at is not None),
        paying_members=paying,
    )
