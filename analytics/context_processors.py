from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from analytics.pages import member_outbox_key


def tracking(request: HttpRequest) -> dict[str, Any]:
    """`member_outbox_key` for the layout's <body> (the logout forms clear the member's tracker
    outbox: logout.js): an HMAC, no I/O, and lazy, so pages that never show it compute nothing."""
    # Error pages render with the request before the auth middleware has run: no user then.
    user = getattr(request, "user", None)

    def outbox_key() -> str:
        return member_outbox_key(user_id=user.pk) if user is not None and user.is_authenticated else ""

    return {"member_outbox_key": SimpleLazyObject(outbox_key)}
