from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import template

from videos.models import Video
from videos.selectors import video_player_tracks

register = template.Library()


@register.filter
def of(mapping: Mapping[Any, Any] | None, key: Any) -> Any:
    """`{{ progress|of:video.pk }}`: the entry of a map the view put in the context, or None."""
    return mapping.get(key) if mapping else None


@register.filter
def player_tracks(video: Video) -> str:
    """`data-tracks="{{ video|player_tracks }}"`: the player's chapters and captions as JSON
    (autoescaped in the attribute)."""
    return json.dumps(video_player_tracks(video=video), separators=(",", ":"))
