"""HTTP edge of watch tracking: authenticate, validate, enqueue. No Cassandra in the request."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError
from pydantic import ValidationError

from analytics.schemas import WatchBatchIn
from analytics.tasks import watch_batch_record_task
from videos.selectors import video_watchable_get

logger = logging.getLogger(__name__)

# Positions may run one second past the known duration (players round the last frame up).
DURATION_SLACK_SECONDS = 1


def _error(status: int, message: str, **extra: object) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


@require_POST
def watch_batch_create(request: HttpRequest) -> JsonResponse:
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

    video = video_watchable_get(user=request.user, video_id=batch.video_id)
    if video is None:
        return _error(404, "no such video, or you may not watch it")
    if video.duration is not None:
        limit = video.duration + DURATION_SLACK_SECONDS
        if any(e.position > limit for e in batch.events):
            return _error(
                400, "invalid watch batch", errors=[{"field": "events.position", "reason": f"must be at most {limit}"}]
            )

    payload = {
        "user_id": request.user.pk,
        "video_id": video.pk,
        "session_id": str(batch.session_id),
        "events": [(e.position, e.client_ts, e.rate) for e in batch.events],
    }
    try:
        watch_batch_record_task.delay(payload)
    except OperationalError:
        logger.warning("watch batch refused: broker unreachable")
        return _error(503, "tracking is briefly unavailable; keep the batch and retry")
    return JsonResponse({"accepted": len(batch.events)}, status=202)
