"""The admin index's "Watch analytics" card (templates/admin/index.html, templates/analytics/admin/_glance.html)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from cassandra import DriverException
from django import template

from analytics.rollups import VIEW_SECONDS
from analytics.selectors import analytics_glance_get
from videos.selectors import video_titles_in_bulk

logger = logging.getLogger(__name__)
register = template.Library()


@register.inclusion_tag("analytics/admin/_glance.html")
def analytics_glance() -> dict[str, Any]:
    """Top videos and site-wide views and watch time of the last 7 days (8 rollup partition reads).

    Cassandra being down must not take the admin index with it: the card then says so.
    """
    from analytics.admin import watch_time

    try:
        glance = analytics_glance_get(today=datetime.now(tz=UTC).date())
    except (DriverException, OSError):
        logger.warning("admin index: analytics card unavailable", exc_info=True)
        return {"unavailable": True}
    titles = video_titles_in_bulk(video_ids=[row.video_id for row in glance.top])
    return {
        "unavailable": False,
        "view_seconds": VIEW_SECONDS,
        "views": f"{glance.views:,}",
        "watch": watch_time(glance.watch_seconds),
        "as_of": glance.as_of,
        "top": [
            {
                "video_id": row.video_id,
                "title": titles.get(row.video_id, f"Video {row.video_id} (deleted)"),
                "views": f"{row.views:,}",
                "watch": watch_time(row.watch_seconds),
            }
            for row in glance.top
        ],
    }
