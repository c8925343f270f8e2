from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template

register = template.Library()


@register.filter
def clock(seconds: int | None) -> str:
    """635 -> "10:35", 3700 -> "1:01:40"; empty when unknown."""
    if seconds is None:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.inclusion_tag("admin/videos/_unavailable_warning.html")
def unavailable_videos_warning() -> dict[str, object]:
    """The admin index's list of published videos members can no longer watch."""
    from videos.selectors import video_unavailable_published_list

    videos = list(video_unavailable_published_list()[:20])
    return {"videos": videos}


@register.filter
def of(mapping: Mapping[Any, Any] | None, key: Any) -> Any:
    """`{{ progress|of:video.pk }}`: the entry of a map the view put in the context, or None."""
    return mapping.get(key) if mapping else None
