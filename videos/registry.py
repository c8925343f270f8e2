"""What other apps add to the catalogue's pages: each registers a page-context provider here.

Videos never imports analytics (docs/architecture.md), yet its pages show the member's progress,
"Continue watching" and the watch tracker. So analytics registers one provider from its
`AppConfig.ready()`, and every videos view calls `page_context_get` once, explicitly, before it
renders: all the I/O of a page happens in its view, and templates only display the context.

    from videos.registry import page_context_register

    def _page_context(*, request, videos, video, continue_watching) -> dict[str, Any]:
        ...

    page_context_register(name="analytics", provider=_page_context)

A provider is called with keyword arguments: the request, the videos the page lists (cards,
playlist items), the video of a watch page (else None) and whether the page shows the
"Continue watching" row (the catalogue's first page). It returns names for the template context
and must not fail the page: a store that is down means less on the page, not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from django.http import HttpRequest

from config.registry import Registry
from videos.models import Video


class PageContextProvider(Protocol):
    def __call__(
        self, *, request: HttpRequest, videos: Sequence[Video], video: Video | None, continue_watching: bool
    ) -> dict[str, Any]: ...


_providers: Registry[PageContextProvider] = Registry("page context provider")


def page_context_register(*, name: str, provider: PageContextProvider) -> None:
    """Register `provider` under `name`. The same provider again is a no-op (`ready()` can run
    twice in some test set-ups); another one under a taken name is a configuration error."""
    _providers.register(name, provider)


def page_context_unregister(*, name: str) -> None:
    """Remove a provider (for tests that register a fake one)."""
    _providers.pop(name, None)


def page_context_get(
    *, request: HttpRequest, videos: Sequence[Video] = (), video: Video | None = None, continue_watching: bool = False
) -> dict[str, Any]:
    """Every registered provider's context for one page, merged in registration order."""
    context: dict[str, Any] = {}
    for provider in _providers.values():
        context.update(provider(request=request, videos=videos, video=video, continue_watching=continue_watching))
    return context


# --- Paid access -------------------------------------------------------------------------------------
# Which plans a member holds now is billing's to say (videos imports no billing module): billing
# registers one provider from its AppConfig.ready(); without it (or with billing off) nobody holds
# a plan, so "paid" videos are open to staff only.


class EntitlementProvider(Protocol):
    def __call__(self, *, user_id: int) -> frozenset[int]: ...


_entitlements: Registry[EntitlementProvider] = Registry("entitlement provider")


def entitlement_register(*, name: str, provider: EntitlementProvider) -> None:
    """Register `provider`, which answers the ids of the plans a member's access follows now."""
    _entitlements.register(name, provider)


def member_plan_ids_get(*, user_id: int) -> frozenset[int]:
    """The ids of the plans the member is entitled to now (every registered provider's, merged)."""
    held: frozenset[int] = frozenset()
    for provider in _entitlements.values():
        held |= provider(user_id=user_id)
    return held
