from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.models import User
from accounts.selectors import member_is_confirmed_cached


def membership(request: HttpRequest) -> dict[str, Any]:
    """`member_unconfirmed` for the layout's "confirm your email" banner; lazy, so pages that never
    look at it (and anonymous visitors) cost no query."""
    # Error pages render with the request before the auth middleware has run (a disallowed Host
    # fails in the first middleware that asks for it): no user then, as for a visitor.
    user = getattr(request, "user", None)

    def unconfirmed() -> bool:
        return isinstance(user, User) and not member_is_confirmed_cached(user=user)

    return {"member_unconfirmed": SimpleLazyObject(unconfirmed)}
