from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template

from videos.formatting import clock

register = template.Library()


# `{{ seconds|clock }}`: videos.formatting.clock.
register.filter("clock", clock)


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
