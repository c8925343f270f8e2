"""Celery tasks of the catalogue, on the `background` queue (config/settings.py CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task

from videos.services import video_availability_check_all, video_facts_refresh


# Idempotent (the same facts give the same row), so a redelivery after a lost worker is harmless.
@shared_task(name="videos.video_facts_refresh", ignore_result=True, soft_time_limit=60, time_limit=90)
def video_facts_refresh_task(video_id: int) -> None:
    video_facts_refresh(video_id=video_id)


@shared_task(name="videos.video_availability_check_all", ignore_result=True)
def video_availability_check_all_task() -> int:
    return video_availability_check_all()
