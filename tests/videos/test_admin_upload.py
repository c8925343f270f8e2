"""Staff upload a video file in the admin; it is queued for transcoding and published only when ready."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.test import Client

from tests.factories import MemberFactory, VideoFactory
from tests.videos.clips import clip_make
from videos.admin import VideoAdmin
from videos.models import LadderState, Video

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/videos/video/add/"


@pytest.fixture
def staff_client(client):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path


def upload_form(source, title: str = "Uploaded talk", **extra) -> dict:
    return {
        "url": "",
        "source": source,
        "title": title,
        "slug": "",
        "description": "",
        "duration": "",
        "position": "0",
        "access": "members",
        **extra,
    }


def _errors(response) -> str:
    form = response.context["adminform"].form
    return str(form.errors)


def test_staff_upload_a_file_and_it_is_stored_and_queued_for_transcoding(
    staff_client, media_root, django_capture_on_commit_callbacks, monkeypatch
):
    clip = clip_make(media_root / "talk.mp4")
    queued: list[int] = []
    monkeypatch.setattr("videos.tasks.video_transcode_task.delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True), open(clip, "rb") as handle:
        response = staff_client.post(ADD_URL, upload_form(handle))

    assert response.status_code == 302, _errors(response)
    video = Video.objects.get()
    assert (video.provider, video.ladder_state, video.is_published) == ("file", "queued", False)
    assert video.external_id.startswith("upload:")
    assert video.slug == "uploaded-talk"
    assert (media_root / "media" / video.source.name).read_bytes() == clip.read_bytes()
    assert queued == [video.pk]


def test_an_upload_larger_than_the_memory_limit_streams_to_a_temp_file_not_memory(
    staff_client, media_root, settings, monkeypatch
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    seen = []
    original = VideoAdmin.save_model

    def spy(self, request, obj, form, change):
        seen.append(type(form.cleaned_data["source"]))
        original(self, request, obj, form, change)

    monkeypatch.setattr(VideoAdmin, "save_model", spy)
    monkeypatch.setattr("videos.tasks.video_transcode_task.delay", lambda *_: None)
    clip = clip_make(media_root / "talk.mp4")

    with open(clip, "rb") as handle:
        response = staff_client.post(ADD_URL, upload_form(handle))

    assert response.status_code == 302
    assert seen == [TemporaryUploadedFile]


def test_an_upload_cannot_be_published_before_it_is_transcoded(staff_client, media_root):
    response = staff_client.post(ADD_URL, upload_form(SimpleUploadedFile("talk.mp4", b"\x00" * 64), is_published="on"))

    assert response.status_code == 200
    assert "can be published only once its HLS ladder is ready" in _errors(response)
    assert not Video.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"url": "https://youtu.be/dQw4w9WgXcQ"}, "url", "not both"),
        ({"source": ""}, "url", "Paste a video URL, or upload a file."),
        ({"title": ""}, "title", "an uploaded file has none to read"),
        ({"source": SimpleUploadedFile("notes.txt", b"notes")}, "source", "File extension"),
        ({"source": SimpleUploadedFile("empty.mp4", b"")}, "source", "empty"),
    ],
    ids=["url-and-file", "neither", "no-title", "not-a-video-extension", "empty"],
)
def test_a_bad_upload_form_says_what_is_wrong_and_saves_nothing(staff_client, media_root, fields, field, message):
    data = upload_form(SimpleUploadedFile("talk.mp4", b"\x00" * 64))
    data.update(fields)

    response = staff_client.post(ADD_URL, data)

    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors.get(field, "")), _errors(response)
    assert not Video.objects.exists()
    assert not (media_root / "media" / "sources").exists()


def test_a_file_over_the_upload_limit_is_refused(staff_client, media_root, settings):
    settings.MEDIA_UPLOAD_MAX_BYTES = 32

    response = staff_client.post(ADD_URL, upload_form(SimpleUploadedFile("talk.mp4", b"\x00" * 64)))

    assert "larger than the 0 MB allowed" in str(response.context["adminform"].form.errors["source"])
    assert not Video.objects.exists()


def _upload(**fields) -> Video:
    fields.setdefault("external_id", "upload:x")
    made = VideoFactory(provider="file", source="sources/x.mp4", is_published=False, published_at=None, **fields)
    return Video.objects.get(pk=made.pk)


def test_staff_see_the_transcoding_state_in_the_list_and_on_the_change_page(staff_client):
    running = _upload(ladder_state=LadderState.TRANSCODING, ladder_progress=42)
    _upload(external_id="upload:y", ladder_state=LadderState.FAILED, ladder_error="The file has no video track.")
    _upload(external_id="upload:z", ladder_state=LadderState.QUEUED)

    listing = staff_client.get("/admin/videos/video/").content.decode()
    change = staff_client.get(f"/admin/videos/video/{running.pk}/change/").content.decode()

    assert "Transcoding 42 %" in listing
    assert "Failed: The file has no video track." in listing
    assert "Queued" in listing
    assert "Transcoding 42 %" in change
    assert "js/admin/upload_progress.js" in change


def test_the_publish_action_leaves_unfinished_uploads_unpublished_and_says_so(staff_client):
    pending = _upload(ladder_state=LadderState.TRANSCODING)
    ready = _upload(external_id="upload:r", ladder_state=LadderState.READY, ladder_path="hls/1/abc/")

    response = staff_client.post(
        "/admin/videos/video/", {"action": "publish", "_selected_action": [pending.pk, ready.pk]}, follow=True
    )

    text = response.content.decode()
    assert "1 video(s) published." in text
    assert "1 upload(s) left unpublished" in text
    pending.refresh_from_db()
    ready.refresh_from_db()
    assert (pending.is_published, ready.is_published) == (False, True)


def test_staff_queue_a_failed_upload_again(staff_client, django_capture_on_commit_callbacks, monkeypatch):
    failed = _upload(ladder_state=LadderState.FAILED, ladder_error="ffmpeg could not transcode the file.")
    queued: list[int] = []
    monkeypatch.setattr("videos.tasks.video_transcode_task.delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post("/admin/videos/video/", {"action": "transcode", "_selected_action": [failed.pk]})

    failed.refresh_from_db()
    assert (failed.ladder_state, failed.ladder_error, queued) == ("queued", "", [failed.pk])


def test_staff_cancel_queued_and_running_transcodes_and_nothing_else(staff_client):
    running = _upload(ladder_state=LadderState.TRANSCODING, ladder_progress=42)
    queued = _upload(external_id="upload:q", ladder_state=LadderState.QUEUED)
    ready = _upload(external_id="upload:r", ladder_state=LadderState.READY, ladder_path="hls/1/abc/")
    selected = [running.pk, queued.pk, ready.pk]

    response = staff_client.post(
        "/admin/videos/video/", {"action": "transcode_cancel", "_selected_action": selected}, follow=True
    )

    states = dict(Video.objects.filter(pk__in=selected).values_list("pk", "ladder_state"))
    assert states == {running.pk: "cancelled", queued.pk: "cancelled", ready.pk: "ready"}
    assert "2 transcode(s) cancelled" in response.content.decode()
    assert "Cancelled" in staff_client.get(f"/admin/videos/video/{running.pk}/change/").content.decode()


def test_a_member_cannot_cancel_a_transcode_and_a_post_without_csrf_is_refused():
    running = _upload(ladder_state=LadderState.TRANSCODING)
    form = {"action": "transcode_cancel", "_selected_action": [running.pk]}
    member: Any = Client()
    member.force_login(MemberFactory())
    forged: Any = Client(enforce_csrf_checks=True)
    forged.force_login(MemberFactory(is_staff=True, is_superuser=True))

    assert member.post("/admin/videos/video/", form).status_code == 302  # to the admin's login
    assert forged.post("/admin/videos/video/", form).status_code == 403

    running.refresh_from_db()
    assert running.ladder_state == "transcoding"


def test_the_change_page_polls_the_transcoding_status_as_json_for_staff_only(staff_client):
    running = _upload(ladder_state=LadderState.TRANSCODING, ladder_progress=42)
    url = f"/admin/videos/video/{running.pk}/ladder/"
    member: Any = Client()
    member.force_login(MemberFactory())

    answer = staff_client.get(url).json()
    refused = member.get(url)

    assert answer == {"state": "transcoding", "progress": 42, "error": "", "text": "Transcoding 42 %"}
    assert refused.status_code == 302  # a member who is not staff: to the admin's login
    assert "js/admin/ladder_status.js" in staff_client.get(f"/admin/videos/video/{running.pk}/change/").content.decode()
