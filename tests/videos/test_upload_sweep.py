"""Abandoned uploads are swept (videos/services.py `video_uploads_abandoned_sweep`, hourly on beat) on
the filesystem storage: an unfinished upload untouched for MEDIA_UPLOAD_ABANDONED_HOURS loses its
staged file, its part markers and its row; a complete one, or one still receiving parts, is kept.
The same against MinIO: tests/videos/test_upload_sweep_s3.py."""

from __future__ import annotations

import io
import os
import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

import videos.services
from tests.videos.test_upload_resumable import media_root, payload, put_part, send_all, staff, staff_client, start  # noqa: F401
from videos.models import VideoUpload
from videos.services import UploadRefused, video_upload_part_store, video_uploads_abandoned_sweep
from videos.uploads import PART_SIZE_MIN, PartRefused, upload_discard, upload_part_write

pytestmark = pytest.mark.django_db


def staged(media_root: Path) -> list[str]:  # noqa: F811
    folder = media_root / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def backdate(upload_id: str, *, hours: float) -> None:
    """As if staff's browser last asked for or sent a part `hours` ago."""
    VideoUpload.objects.filter(pk=upload_id).update(touched_at=timezone.now() - timedelta(hours=hours))


def test_an_upload_untouched_past_the_limit_loses_its_parts_and_its_row(staff_client, media_root):  # noqa: F811
    data = payload(PART_SIZE_MIN + 10)
    state = start(staff_client, size=len(data)).json()
    assert put_part(staff_client, state, 1, data[:PART_SIZE_MIN]).status_code == 204
    assert staged(media_root) == [f"{state['id']}.part", f"{state['id']}.parts"]
    backdate(state["id"], hours=25)

    assert video_uploads_abandoned_sweep() == 1

    assert staged(media_root) == []
    assert not VideoUpload.objects.exists()
    # The browser coming back to it is told to start again, with the admin's usual 404.
    assert staff_client.get(state["url"]).status_code == 404
    assert staff_client.get(f"{state['url']}part/2/").status_code == 404
    assert staff_client.put(f"{state['url']}part/2/", data[PART_SIZE_MIN:], content_type="x/y").status_code == 404
    # Idempotent: nothing left to clear.
    assert video_uploads_abandoned_sweep() == 0


def test_the_limit_is_the_setting(staff_client, media_root, settings):  # noqa: F811
    state = start(staff_client, size=1000).json()
    backdate(state["id"], hours=5)

    assert video_uploads_abandoned_sweep() == 0  # the default, 24 h
    settings.MEDIA_UPLOAD_ABANDONED_AFTER = timedelta(hours=4)
    assert video_uploads_abandoned_sweep() == 1
    assert staged(media_root) == []


def test_an_upload_still_receiving_parts_is_kept(staff_client, media_root):  # noqa: F811
    data = payload(2 * PART_SIZE_MIN)
    state = start(staff_client, size=len(data)).json()
    backdate(state["id"], hours=30)  # started long ago, resumed now: each part touches it
    assert put_part(staff_client, state, 1, data[:PART_SIZE_MIN]).status_code == 204

    assert video_uploads_abandoned_sweep() == 0

    assert VideoUpload.objects.filter(pk=state["id"]).exists()
    assert put_part(staff_client, state, 2, data[PART_SIZE_MIN:]).status_code == 204
    assert staff_client.post(f"{state['url']}complete/").json()["complete"] is True


def test_asking_for_a_parts_url_keeps_it_too(staff_client, media_root):  # noqa: F811
    state = start(staff_client, size=1000).json()
    backdate(state["id"], hours=30)
    assert staff_client.get(f"{state['url']}part/1/").status_code == 200

    assert video_uploads_abandoned_sweep() == 0
    assert staged(media_root) == [f"{state['id']}.part", f"{state['id']}.parts"]


def test_a_complete_upload_is_never_swept(staff_client, media_root):  # noqa: F811
    data = payload(1000)
    state = send_all(staff_client, data)
    backdate(state["id"], hours=24 * 30)
    name = VideoUpload.objects.get(pk=state["id"]).name

    assert video_uploads_abandoned_sweep() == 0

    assert VideoUpload.objects.filter(pk=state["id"]).exists()
    assert (media_root / name).read_bytes() == data


def test_a_part_arriving_for_an_upload_swept_meanwhile_is_refused_not_a_500(staff_client, media_root):  # noqa: F811
    data = payload(PART_SIZE_MIN + 10)
    state = start(staff_client, size=len(data)).json()
    upload = VideoUpload.objects.get(pk=state["id"])  # what the part request had read
    backdate(state["id"], hours=25)
    assert video_uploads_abandoned_sweep() == 1

    with pytest.raises(UploadRefused, match="start it again"):
        video_upload_part_store(upload=upload, number=1, length=PART_SIZE_MIN, body=io.BytesIO(data))
    assert staged(media_root) == []  # the refused part staged nothing


def test_a_part_being_written_while_the_sweep_clears_its_upload_is_refused(staff_client, media_root):  # noqa: F811
    state = start(staff_client, size=1000).json()

    class SweptMidway(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            upload_discard(storage=default_storage, upload_id=state["id"], name="", s3_upload_id="")
            return super().read(size)

    with pytest.raises(PartRefused, match="no longer staged"):
        upload_part_write(
            storage=default_storage,
            upload_id=state["id"],
            number=1,
            offset=0,
            length=1000,
            body=SweptMidway(b"x" * 1000),
        )
    assert staged(media_root) == []


def test_files_already_gone_are_no_error_and_the_row_still_goes(staff_client, media_root):  # noqa: F811
    state = start(staff_client, size=1000).json()
    shutil.rmtree(media_root / "uploads")
    backdate(state["id"], hours=25)

    assert video_uploads_abandoned_sweep() == 1
    assert not VideoUpload.objects.exists()


def test_staged_files_no_row_names_are_swept_once_as_old(staff_client, media_root):  # noqa: F811
    """Left by a row deleted with its staff member (the foreign key cascades), or by a start that
    failed after staging: judged by the last write to them."""
    old = start(staff_client, size=1000).json()
    fresh = start(staff_client, size=1000).json()
    VideoUpload.objects.all().delete()
    day_ago = time.time() - 25 * 3600
    for path in (media_root / "uploads").glob(f"{old['id']}.*"):
        os.utime(path, (day_ago, day_ago))

    assert video_uploads_abandoned_sweep() == 1

    assert staged(media_root) == [f"{fresh['id']}.part", f"{fresh['id']}.parts"]
    # A day later the other goes too (the sweep's clock moved on, as beat's does).
    assert video_uploads_abandoned_sweep(now=timezone.now() + timedelta(hours=25)) == 1
    assert staged(media_root) == []


def test_the_sweep_runs_hourly_on_the_background_queue():
    from celery import current_app

    from videos.tasks import video_uploads_abandoned_sweep_task

    entry = settings.CELERY_BEAT_SCHEDULE["videos-uploads-abandoned-sweep"]
    assert (entry["task"], entry["schedule"]) == (video_uploads_abandoned_sweep_task.name, 3600.0)
    route = current_app.amqp.router.route({}, video_uploads_abandoned_sweep_task.name)
    assert route["queue"].name == "background"


def test_the_setting_refuses_less_than_a_part_urls_life(monkeypatch):
    from config.env import Settings

    monkeypatch.setenv("MEDIA_UPLOAD_ABANDONED_HOURS", "1")
    with pytest.raises(ValueError, match="media_upload_abandoned_hours"):
        Settings(_env_file=None)


def test_an_upload_the_store_refuses_to_clear_stays_for_the_next_sweep_and_the_others_go(
    staff_client,  # noqa: F811
    media_root,  # noqa: F811
    monkeypatch,
):
    stuck, other = (start(staff_client, size=1000).json() for _ in range(2))
    for state in (stuck, other):
        backdate(state["id"], hours=25)
    real = videos.services.upload_discard

    def refuse_one(**kwargs: Any) -> None:
        if kwargs["upload_id"] == stuck["id"]:
            raise OSError("permission denied")
        real(**kwargs)

    monkeypatch.setattr(videos.services, "upload_discard", refuse_one)
    assert video_uploads_abandoned_sweep() == 1
    assert list(VideoUpload.objects.values_list("pk", flat=True)) == [uuid.UUID(stuck["id"])]
    assert staged(media_root) == [f"{stuck['id']}.part", f"{stuck['id']}.parts"]

    monkeypatch.setattr(videos.services, "upload_discard", real)
    assert video_uploads_abandoned_sweep() == 1
    assert staged(media_root) == []
