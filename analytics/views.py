"""HTTP edge of watch tracking: authenticate, validate, enqueue. No Cassandra in the request."""

from __future__ import annotations

import json
import logging
from typing import cast

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from analytics.schemas import WatchBatchIn
from analytics.services import (
    Enqueued,
    WatchBatch,
    member_video_hide,
    member_video_mark_unwatched,
    member_video_mark_watched,
    viewing_session_token_valid,
    watch_batch_enqueue,
)
from analytics.tasks import watch_stream_drain_task
from config.metrics import counter_inc
from videos.selectors import video_watchable_get

logger = logging.getLogger(__name__)

CASSANDRA_ERRORS = (NoHostAvailable, DriverException)

# Positions may run one second past the known duration (players round the last frame up).
DURATION_SLACK_SECONDS = 1


def _error(status: int, message: str, **extra: object) -> JsonResponse:
    counter_inc("watchpoint_watch_batches_rejected", status=str(status))
    return JsonResponse({"error": message, **extra}, status=status)


@require_POST
def watch_batch_create(request: HttpRequest) -> JsonResponse:
    """A batch flushed by `fetch`: session cookie + CSRF header (Django's middleware checks it)."""
    return _accept(request, beacon=False)


@csrf_exempt  # sendBeacon cannot send the CSRF header; the signed per-page token replaces it
@require_POST
def watch_beacon_create(request: HttpRequest) -> JsonResponse:
    """A batch flushed by `navigator.sendBeacon` when the page hides: session cookie + page token."""
    return _accept(request, beacon=True)


def _accept(request: HttpRequest, *, beacon: bool) -> JsonResponse:
    if not request.user.is_authenticated:
        return _error(401, "log in to record watching")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "body must be JSON")
    try:
        batch = WatchBatchIn.model_validate(body)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]), "reason": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        return _error(400, "invalid watch batch", errors=errors)
    if beacon and not viewing_session_token_valid(
        token=batch.token or "", user_id=request.user.pk, video_id=batch.video_id, session_id=batch.session_id
    ):
        return _error(403, "beacon token missing, expired or not for this session")

    video = video_watchable_get(user=request.user, video_id=batch.video_id)
    if video is None:
        return _error(404, "no such video, or you may not watch it")
    if video.duration is not None:
        limit = video.duration + DURATION_SLACK_SECONDS
        if any(e.position > limit for e in batch.events):
            return _error(
                400, "invalid watch batch", errors=[{"field": "events.position", "reason": f"must be at most {limit}"}]
            )

    watch_batch = WatchBatch(
        user_id=request.user.pk,
        video_id=video.pk,
        session_id=batch.session_id,
        events=tuple((e.position, e.client_ts, e.rate) for e in batch.events),
    )
    try:
        outcome = watch_batch_enqueue(batch=watch_batch)
    except (RedisConnectionError, RedisTimeoutError):
        logger.warning("watch batch refused: Redis unreachable")
        return _error(503, "tracking is briefly unavailable; keep the batch and retry")
    if outcome is Enqueued.RATE_LIMITED:
        response = _error(429, "too many batches; slow down and retry")
        response["Retry-After"] = "60"
        return response
    if outcome is Enqueued.QUEUED_WAKE_DRAIN:
        try:
            watch_stream_drain_task.delay()
        except OperationalError:
            # The batch is already durable in the stream; the beat drain will pick it up.
            logger.warning("could not wake a drain task; the periodic drain will store the batch")
    counter_inc("watchpoint_watch_events_accepted", len(batch.events))
    return JsonResponse({"accepted": len(batch.events)}, status=202)


MEMBER_ACTIONS = {
    "hide": (member_video_hide, "Removed from Continue watching."),
    "watched": (member_video_mark_watched, "Marked as watched."),
    "unwatched": (member_video_mark_unwatched, "Marked as unwatched: your progress on this video is cleared."),
}


@login_required
@require_POST
def member_video_action(request: HttpRequest, video_id: int, action: str) -> HttpResponse:
    """Continue-watching and progress buttons (HTML forms): act, then redirect back (POST/redirect/GET)."""
    if action not in MEMBER_ACTIONS:
        raise Http404("unknown action")
    video = video_watchable_get(user=request.user, video_id=video_id)
    if video is None:
        raise Http404("no such video")
    service, message = MEMBER_ACTIONS[action]
    try:
        service(user_id=cast(int, request.user.pk), video_id=video.pk)
    except CASSANDRA_ERRORS:
        logger.warning("member action %s failed", action, exc_info=True)
        messages.error(request, "That did not work just now; please try again in a moment.")
    else:
        messages.success(request, message)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = video.get_absolute_url()
    return redirect(next_url)
