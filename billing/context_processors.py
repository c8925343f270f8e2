"""The site-wide past-due banner (templates/base.html shows `billing_notice` when it is set)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from billing.selectors import member_grace_notice_get


def billing_notice(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if not settings.BILLING_ENABLED or user is None or not user.is_authenticated:
        return {"billing_notice": None}
    # Lazy: read only by a page that renders the banner.
    return {"billing_notice": SimpleLazyObject(lambda: {"grace_ends": member_grace_notice_get(user_id=user.pk)})}
