from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import AppConfig

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser


def _export(user: AbstractBaseUser) -> dict[str, Any]:
    from billing.selectors import member_billing_export

    return member_billing_export(user_id=user.pk)


def _erase(user: AbstractBaseUser) -> None:
    from billing.services import member_billing_erase

    member_billing_erase(user_id=user.pk)


def _entitlements(*, user_id: int) -> frozenset[int]:
    from billing.selectors import member_plan_ids_entitled

    return member_plan_ids_entitled(user_id=user_id)


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from accounts.registry import member_data_register
        from videos.registry import entitlement_register

        # The export lists billing records; deletion cancels at Stripe and deletes the customer there.
        member_data_register(name="billing", exporter=_export, eraser=_erase)
        # Paid videos and playlists ask billing which plans a member holds (videos imports no billing).
        entitlement_register(name="billing", provider=_entitlements)
