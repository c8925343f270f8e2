"""Plans (synced to Stripe on save: staff never type a Stripe id) and read-only billing records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import stripe
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse

from billing.models import Customer, Invoice, Plan, Subscription, WebhookEvent
from billing.services import plan_content_changed, plan_sync
from billing.stripe_api import BillingUnavailable

if TYPE_CHECKING:
    PlanModelAdmin = admin.ModelAdmin[Plan]
    AnyModelAdmin = admin.ModelAdmin[Any]
    PlanForm = ModelForm[Plan]
else:
    PlanModelAdmin = AnyModelAdmin = admin.ModelAdmin
    PlanForm = ModelForm

OFF_NOTICE = (
    "Stripe is not configured (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET): paid plans are off. "
    "Plans are kept but not synced or sold; paid videos are open to staff only. See docs/operations.md."
)


@admin.register(Plan)
class PlanAdmin(PlanModelAdmin):
    list_display = ("name", "price", "trial_days", "is_active", "stripe_synced", "position")
    list_filter = ("is_active", "interval")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("videos", "playlists")
    readonly_fields = ("stripe_product_id", "stripe_price_id", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "is_active", "position")}),
        ("Price", {"fields": ("amount", "currency", "interval", "trial_days")}),
        (
            "What it opens",
            {
                "fields": ("videos", "playlists"),
                "description": "Videos and playlists whose access is “Paid plans” open to this plan's subscribers "
                "(a playlist opens its paid videos too).",
            },
        ),
        (
            "Stripe (set by the server)",
            {"fields": ("stripe_product_id", "stripe_price_id", "created_at", "updated_at")},
        ),
    )

    @admin.display(description="Price")
    def price(self, obj: Plan) -> str:
        return obj.price_display

    @admin.display(description="In Stripe", boolean=True)
    def stripe_synced(self, obj: Plan) -> bool:
        return bool(obj.stripe_price_id)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not settings.BILLING_ENABLED:
            messages.warning(request, OFF_NOTICE)
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: Plan, form: PlanForm, change: bool) -> None:
        obj.currency = obj.currency.lower()
        super().save_model(request, obj, form, change)
        if not settings.BILLING_ENABLED:
            messages.warning(request, OFF_NOTICE)
            return
        try:
            plan_sync(plan=obj)
        except (BillingUnavailable, stripe.StripeError) as exc:
            # The SDK's message names the problem, never the key; shown to staff, not logged with it.
            messages.error(
                request, f"Saved here, but not synced to Stripe ({type(exc).__name__}); save again to retry."
            )

    def save_related(self, request: HttpRequest, form: PlanForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        plan_content_changed()


class ReadOnlyAdmin(AnyModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("stripe_subscription_id", "user", "plan", "status", "current_period_end", "cancel_at_period_end")
    list_filter = ("status", "plan")
    search_fields = ("stripe_subscription_id", "user__email")
    list_select_related = ("user", "plan")


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ("stripe_invoice_id", "user", "status", "amount_display", "stripe_created")
    list_filter = ("status",)
    search_fields = ("stripe_invoice_id", "user__email")


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ("stripe_customer_id", "user", "created_at")
    search_fields = ("stripe_customer_id", "user__email")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("stripe_event_id", "type", "outcome", "received_at")
    list_filter = ("type", "outcome")

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEvent]:
        return super().get_queryset(request)
