from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template

register = template.Library()


@register.filter
def of(mapping: Mapping[Any, Any] | None, key: Any) -> Any:
    """`{{ progress|of:video.pk }}`: the entry of a map the view put in the context, or None."""
    return mapping.get(key) if mapping else None
