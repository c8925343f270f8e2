"""Celery tasks of the catalogue: facts on the `background` queue, transcodes on `media`
(config/settings.py CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import Task, shared_task

from videos.services import (
    TRANSCODE_LOCK_SECONDS,
    video_availability_check_all,
    video_facts_refresh,
    video_poster_cards_make,
    video_transcode,
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


# On the `media` queue (its own worker, concurrency 1, niced: Procfile). The service holds a lock
# while it works, so a redelivery (visibility timeout, a killed worker) never runs a second ffmpeg;
# it retries instead, and finds the work done or its lock lapsed. No time limit: ffmpeg has its own.
@shared_task(name="media.video_transcode", bind=True, ignore_result=True, max_retries=None)
def video_transcode_task(self: Task, video_id: int) -> None:  # type: ignore[type-arg]
    outcome = video_transcode(video_id=video_id)
    if outcome == "busy":
        raise self.retry(countdown=TRANSCODE_LOCK_SECONDS)
    if outcome == "ready":
        video_poster_cards_make(video_id=video_id)
