"""HTTP edge of watch tracking: authenticate, validate, enqueue. No Cassandra in the request."""

from __future__ import annotations

import logging
from typing import cast

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from accounts.selectors import member_is_confirmed_cached
from analytics.acceptance import BatchRefused, viewing_session_token_read
from analytics.ingest import watch_ingest_respond
from analytics.schemas import TokenRenewIn
from analytics.services import member_video_hide, member_video_mark_unwatched, member_video_mark_watched
from analytics.viewing import viewing_session_renew
from config.jsonbody import BodyError, json_request_validate
from config.metrics import counter_inc
from videos.selectors import video_watchable_get

logger = logging.getLogger(__name__)

CASSANDRA_ERRORS = (NoHostAvailable, DriverException)


def _error(
    status: int, message: str, *, retry_after: int = 0, errors: list[dict[str, str]] | None = None
) -> JsonResponse:
    counter_inc("watchpoint_watch_batches_rejected", status=str(status))
    response = JsonResponse({"error": message, **({"errors": errors} if errors else {})}, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@csrf_exempt  # the signed viewing-session token in the body is the credential (analytics/ingest.py)
def watch_batch_create(request: HttpRequest) -> HttpResponse:
    """POST /api/watch/ and /api/watch/beacon/ when Django routes them (its test client, ASGI; ahead
    of Django config/dispatch.py serves them): handed as is to the one endpoint, analytics/ingest.py.
    The request body is read there, from the request's stream, with that endpoint's size cap."""
    environ = {**request.META, "wsgi.input": request, "wsgi.url_scheme": request.scheme}
    status, headers, body = watch_ingest_respond(environ)
    return HttpResponse(body, status=status, headers=dict(headers))


@require_POST
def watch_token_renew(request: HttpRequest) -> JsonResponse:
    """A fresh viewing-session token for the open watch page (session cookie + CSRF header).

    The tracker calls it while the page is visible, before its token's short life ends. The member
    must still be a confirmed member who may watch the video: a video made members-only or
    unpublished, or a revoked token (logout), gets no new token.
    """
    user = request.user
    if not user.is_authenticated:
        return _error(401, "log in to record watching")
    try:
        body = json_request_validate(request, schema=TokenRenewIn, max_bytes=2048, message="invalid renewal")
    except BodyError as exc:
        return _error(exc.status, exc.message, errors=exc.errors)
    claims = viewing_session_token_read(token=body.token)
    if claims is None or claims.user_id != user.pk:
        return _error(403, "token missing, expired or not yours; reload the page")
    video = video_watchable_get(user=user, video_id=claims.video_id)
    if video is None or video.is_unavailable or not member_is_confirmed_cached(user=user):
        return _error(403, "you may no longer watch this video here; reload the page")
    try:
        viewing = viewing_session_renew(
            user_id=user.pk, claims=claims, members_only=video.members_only, paid=video.access == "paid"
        )
    except BatchRefused as exc:
        return _error(exc.status, exc.message)
    except RedisError:
        return _error(503, "tracking is briefly unavailable; try again shortly", retry_after=5)
    return JsonResponse(
        {
            "sessionId": str(viewing.session_id),
            "token": viewing.token,
            "issuedAt": viewing.issued_at_ms,
            "expiresIn": settings.WATCH_TOKEN_TTL_SECONDS,
        },
        headers={"Cache-Control": "no-store"},
    )


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
