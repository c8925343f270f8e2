"""Template tags through which pages of other apps show watch tracking and member progress."""

from __future__ import annotations

import logging
import time
from typing import Any

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable
from django import template
from django.http import HttpRequest
from django.urls import reverse
from django.utils.crypto import salted_hmac

from analytics.selectors import (
    VideoProgress,
    completed_count,
    continue_watching_from,
    resume_position_get,
    video_progress_map,
)
from analytics.services import viewing_session_start
from videos.selectors import video_durations_get, video_member_visible_in_bulk

register = template.Library()
logger = logging.getLogger(__name__)

CASSANDRA_ERRORS = (NoHostAvailable, DriverException)


@register.simple_tag
def member_outbox_key(*, user_id: int) -> str:
    """The name of the member's tracker outbox in a browser's localStorage (static/js/outbox.js).

    Per member, so a shared browser never resends one member's batches under another's session;
    stable across logins, so a member's own unsent batches go out on their next visit; an HMAC
    under SECRET_KEY, so the name does not give the user id away to whoever reads the storage.
    `{% member_outbox_key user_id=user.pk %}` puts it on <body> for the logout forms (logout.js).
    """
    return salted_hmac("watchpoint.outbox", str(user_id), algorithm="sha256").hexdigest()[:16]


@register.inclusion_tag("analytics/_tracker.html", takes_context=True)
def watch_tracker(context: dict[str, Any], video: Any) -> dict[str, Any]:
    """The tracker for a watch page: config (viewing session, beacon token, saved position) + script."""
    request: HttpRequest = context["request"]
    if not request.user.is_authenticated:
        return {"tracker_config": None}
    viewing = viewing_session_start(user_id=request.user.pk, video_id=video.pk)
    try:
        resume = resume_position_get(user_id=request.user.pk, video_id=video.pk)
    except CASSANDRA_ERRORS:
        # Watching must not fail because the resume store is down: the page just offers no resume.
        logger.warning("resume position unavailable for video %s", video.pk, exc_info=True)
        resume = None
    return {
        "tracker_config": {
            "videoId": video.pk,
            "duration": video.duration,
            "sessionId": str(viewing.session_id),
            "token": viewing.token,
            "issuedAt": viewing.issued_at_ms,
            # The tracker counts event times from this server time, not from the browser's clock.
            "serverTime": int(time.time() * 1000),
            "endpoint": reverse("analytics:watch-batch"),
            "beaconEndpoint": reverse("analytics:watch-beacon"),
            "resumePosition": resume,
            "outboxKey": member_outbox_key(user_id=request.user.pk),
        }
    }


def member_progress(request: HttpRequest) -> dict[int, VideoProgress]:
    """The member's progress on every video, read once per request (one Cassandra partition)."""
    cached: dict[int, VideoProgress] | None = getattr(request, "_watchpoint_progress", None)
    if cached is not None:
        return cached
    progress: dict[int, VideoProgress] = {}
    if request.user.is_authenticated:
        try:
            progress = video_progress_map(user_id=request.user.pk, durations=video_durations_get())
        except CASSANDRA_ERRORS:
            logger.warning("member progress unavailable", exc_info=True)
    request._watchpoint_progress = progress  # type: ignore[attr-defined]
    return progress


@register.simple_tag(takes_context=True)
def video_progress(context: dict[str, Any], video: Any) -> VideoProgress | None:
    """`{% video_progress video as progress %}`: the member's progress on `video`, or None."""
    request = context.get("request")
    if request is None:
        return None
    return member_progress(request).get(video.pk)


@register.inclusion_tag("analytics/_continue_watching.html", takes_context=True)
def continue_watching_row(context: dict[str, Any]) -> dict[str, Any]:
    """The member's "Continue watching" row: started, not completed, not removed; newest first."""
    request: HttpRequest | None = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"items": [], "request": request}
    rows = continue_watching_from(progress=member_progress(request))
    # Unavailable videos leave the row (the server's availability check decides).
    videos = video_member_visible_in_bulk(video_ids=[p.video_id for p in rows])
    items = [(videos[p.video_id], p) for p in rows if p.video_id in videos]
    return {"items": items, "request": request, "csrf_token": context.get("csrf_token")}


@register.simple_tag(takes_context=True)
def playlist_completed(context: dict[str, Any], videos: list[Any]) -> int:
    """`{% playlist_completed videos as done %}`: how many of `videos` the member completed."""
    request = context.get("request")
    if request is None:
        return 0
    return completed_count(progress=member_progress(request), video_ids=[video.pk for video in videos])
