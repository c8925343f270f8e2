"""Template tags through which pages show watch tracking; they only display, never read a store.

The member's progress, "Continue watching" and the tracker's config are read once per page in the
videos views, through the provider analytics registers with `videos.registry` (analytics/pages.py).
"""

from __future__ import annotations

from django import template

from analytics.pages import member_outbox_key as _member_outbox_key

register = template.Library()


@register.simple_tag
def member_outbox_key(*, user_id: int) -> str:
    """`{% member_outbox_key user_id=user.pk %}` puts the member's outbox name on <body> for the
    logout forms (logout.js); an HMAC, computed here, no I/O (analytics.pages.member_outbox_key)."""
    return _member_outbox_key(user_id=user_id)
