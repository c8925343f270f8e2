"""Celery tasks of the catalogue, on the `background` queue (config/settings.py CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task

from videos.services import video_availability_check_all, video_facts_refresh


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
