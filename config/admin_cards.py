"""Cards above the admin index: each app registers its own from `AppConfig.ready()`.

The index is Django's view and template (templates/admin/index.html only extends it), and config
imports no app; so an app that has something for staff to see first (videos: published videos
that no longer play; analytics: the last 7 days) registers a card, and the index's view reads them
all before rendering. A template tag reading a store would hide that read in a template, where
no view, selector or contract sees it:

    from config.admin_cards import admin_card_register

    admin_card_register(name="watch-analytics", card=analytics_glance_card)

A card takes the request and returns its HTML ("" for nothing to say). It must not fail the
index: a store that is down is a sentence on the card, not an error page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.http import HttpRequest, HttpResponse
from django.utils.safestring import SafeString, mark_safe

from config.registry import Registry

AdminCard = Callable[[HttpRequest], str]
View = TypeVar("View", bound=Callable[..., HttpResponse])

_cards: Registry[AdminCard] = Registry("admin card")


def admin_card_register(*, name: str, card: AdminCard) -> None:
    """Register `card` under `name`; cards show in registration order (INSTALLED_APPS order)."""
    _cards.register(name, card)


def admin_cards_render(*, request: HttpRequest) -> list[SafeString]:
    """Every registered card's HTML for this request (each card escapes what it shows)."""
    return [mark_safe(html) for card in _cards.values() if (html := card(request))]  # noqa: S308


def admin_index_with_cards(view: View) -> View:
    """`AdminSite.index` or `.app_index` with the cards in its context as `admin_cards`
    (Django's app index extends the index's template, so both show them)."""

    @functools.wraps(view)
    def with_cards(request: HttpRequest, *args: Any, extra_context: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        context = {**(extra_context or {}), "admin_cards": admin_cards_render(request=request)}
        return view(request, *args, extra_context=context, **kwargs)

    return cast("View", with_cards)
