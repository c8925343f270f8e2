"""Who holds data about a member: each app registers an exporter and an eraser here.

Accounts never imports another app's models to export or delete a member's data; instead every app
that stores per-member data registers itself once, from its `AppConfig.ready()`. The exporter and
the eraser take the member (a `User`) as their one positional argument, and `name` is the member's
export section; as analytics/apps.py does:

    from accounts.registry import member_data_register

    def _export(user: User) -> dict[str, Any]:
        return member_watch_data_export(user_id=user.pk)

    def _erase(user: User) -> None:
        member_watch_data_erase(user_id=user.pk)

    member_data_register(name="watching", exporter=_export, eraser=_erase)

`accounts.services.member_data_export` and `member_account_delete` then call every registered
handler. Erasers must be idempotent: a deletion that fails half-way is retried from the start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.safestring import SafeString

from accounts.models import User
from config.registry import Registry

Exporter = Callable[[User], dict[str, Any] | list[Any]]
Eraser = Callable[[User], None]


@dataclass(frozen=True)
class MemberDataHandler:
    name: str
    exporter: Exporter
    eraser: Eraser


_handlers: Registry[MemberDataHandler] = Registry("member data handler")


def member_data_register(*, name: str, exporter: Exporter, eraser: Eraser) -> None:
    """Register the exporter and eraser of one app's member data under `name` (its export section).

    Registering the same functions again is a no-op (`ready()` can run twice in some test set-ups);
    a different pair under a taken name is a configuration error, not a silent override.
    """
    _handlers.register(name, MemberDataHandler(name=name, exporter=exporter, eraser=eraser))


def member_data_unregister(*, name: str) -> None:
    """Remove a handler (for tests that register a fake one)."""
    _handlers.pop(name, None)


def member_data_handlers() -> list[MemberDataHandler]:
    """Every registered handler, in registration order."""
    return list(_handlers.values())


# --- Panels on a member's admin page: other apps show what they hold about the member there ------

MemberAdminPanel = Callable[[Any, User], SafeString]  # (request, member) -> HTML (render_to_string's)

_panels: Registry[MemberAdminPanel] = Registry("member admin panel")


def member_admin_panel_register(*, name: str, panel: MemberAdminPanel) -> None:
    """Show `panel`'s HTML on every member's admin change page (accounts imports no other app)."""
    _panels.register(name, panel)


def member_admin_panels() -> list[MemberAdminPanel]:
    return list(_panels.values())
