"""How durations read, on every page (catalogue cards, players, staff analytics): one definition.

Shared by the apps (videos' cards and players, analytics' rows and charts), so it lives here, not in
either: templates use it as `{% load formatting %}` `{{ seconds|clock }}` (settings.TEMPLATES
"libraries").
"""

from __future__ import annotations

import re
from typing import Any

from django import forms, template

register = template.Library()


@register.filter
def clock(seconds: float | None) -> str:
    """635 -> "10:35", 3700 -> "1:01:40", 0.4 -> "0:00"; empty when unknown."""
    if seconds is None:
        return ""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


CLOCK_INPUT = re.compile(r"^(?:(\d+):)?(\d+):([0-5]\d)$")
CLOCK_HELP = "As m:ss or h:mm:ss (10:35, 1:01:40); seconds alone are taken as seconds. Empty: unknown."


def clock_parse(text: str) -> int:
    """The inverse of `clock`: "10:35" -> 635, "1:01:40" -> 3700, "42" -> 42. ValueError otherwise."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    found = CLOCK_INPUT.match(text)
    if found is None:
        raise ValueError(text)
    hours, minutes, seconds = (int(part) if part else 0 for part in found.groups())
    if found.group(1) is not None and minutes > 59:  # h:mm:ss
        raise ValueError(text)
    return hours * 3600 + minutes * 60 + seconds


class ClockField(forms.Field):
    """A duration typed and shown as m:ss or h:mm:ss (staff forms), stored as whole seconds."""

    widget = forms.TextInput(attrs={"placeholder": "m:ss", "inputmode": "numeric", "size": 10})
    default_error_messages = {
        "invalid": "Enter a duration as m:ss or h:mm:ss (for example 10:35 or 1:01:40).",
        "too_long": "A duration is at most %(max)s.",
    }

    def __init__(self, *, max_seconds: int = 24 * 3600, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", CLOCK_HELP)
        kwargs.pop("max_value", None)
        kwargs.pop("min_value", None)
        super().__init__(**kwargs)
        self.max_seconds = max_seconds

    def prepare_value(self, value: Any) -> Any:
        return clock(value) if isinstance(value, int) else value

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        if isinstance(value, int):
            return value
        try:
            seconds = clock_parse(str(value))
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if seconds > self.max_seconds:
            raise forms.ValidationError(
                self.error_messages["too_long"], code="too_long", params={"max": clock(self.max_seconds)}
            )
        return seconds
