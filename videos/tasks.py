"""Celery tasks of the catalogue: facts on the `background` queue, transcodes on `media`
(config/settings.py CELERY_TASK_ROUTES)."""

from __future__ import annotations

import random

from celery import Task, shared_task

from videos.services import (
    TRANSCODE_LOCK_SECONDS,
    video_availability_check_all,
    video_facts_refresh,
    video_poster_cards_make,
    video_transcode,
    video_uploads_abandoned_sweep,
)


# Idempotent (the same facts give the same row), so a redelivery after a lost worker is harmless.
# The limits cover the slowest read videos/facts.py can make: two downloads of
# VIDEO_FILE_FETCH_SECONDS (20 s) for a file (its first and last bytes) or two playlists of 10 s and
# a segment for HLS, then ffprobe twice and ffmpeg once (20 s each): about 100 s.
@shared_task(name="videos.video_facts_refresh", ignore_result=True, soft_time_limit=120, time_limit=150)
def video_facts_refresh_task(video_id: int) -> None:
    video_facts_refresh(video_id=video_id)


@shared_task(name="videos.video_availability_check_all", ignore_result=True)
def video_availability_check_all_task() -> int:
    return video_availability_check_all()


# Beat, hourly, on `background`. Idempotent: an upload already cleared is skipped, so an overlap
# with a slow previous run or a redelivery clears nothing twice.
@shared_task(name="videos.video_uploads_abandoned_sweep", ignore_result=True)
def video_uploads_abandoned_sweep_task() -> int:
    return video_uploads_abandoned_sweep()


# On the `media` queue (its own worker, concurrency 1, niced: Procfile). Acknowledged late and
# requeued when its worker dies (also the project's defaults, stated here because a transcode
# relies on them): a SIGKILLed worker's message comes back to the next worker. The service holds a
# lock while it works, so a redelivery (visibility timeout, a killed worker) never runs a second
# ffmpeg: it retries instead, backing off from the lock's lifetime (by then a dead run's lock has
# lapsed) up to TRANSCODE_RETRY_MAX_SECONDS, with jitter, and finds the work done or the lock gone.
# No time limit: ffmpeg has its own.
TRANSCODE_RETRY_MAX_SECONDS = 600


@shared_task(
    name="media.video_transcode",
    bind=True,
    ignore_result=True,
    max_retries=None,
    acks_late=True,
    reject_on_worker_lost=True,
)
def video_transcode_task(self: Task, video_id: int) -> None:  # type: ignore[type-arg]
    outcome = video_transcode(video_id=video_id)
    if outcome == "busy":
        backoff = min(TRANSCODE_LOCK_SECONDS * 2 ** min(self.request.retries, 10), TRANSCODE_RETRY_MAX_SECONDS)
        raise self.retry(countdown=backoff + random.uniform(0, TRANSCODE_LOCK_SECONDS / 4))  # noqa: S311
    if outcome == "ready":
        video_poster_cards_make(video_id=video_id)
