"""How durations read, on every page (catalogue cards, players, staff analytics): one definition.

Shared by the apps (videos' cards and players, analytics' rows and charts), so it lives here, not in
either: templates use it as `{% load formatting %}` `{{ seconds|clock }}` (settings.TEMPLATES
"libraries").
"""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def clock(seconds: float | None) -> str:
    """635 -> "10:35", 3700 -> "1:01:40", 0.4 -> "0:00"; empty when unknown."""
    if seconds is None:
        return ""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
