"""The server reads video facts (oEmbed, ffprobe/ffmpeg) and decides availability itself."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image

from tests.factories import MemberFactory, PlaylistFactory, PlaylistItemFactory, VideoFactory
from tests.videos.standins import SAMPLE_MP4, vimeo_answer, wistia_answer, youtube_answer
from tests.videos.standins import standin_fixture as standin_fixture  # the `standin` fixture
from videos import tasks
from videos.models import Video
from videos.selectors import playlist_catalogue_list, playlist_video_list, video_catalogue_list
from videos.services import video_facts_refresh as _refresh
from videos.services import video_playback_problem_record

pytestmark = pytest.mark.django_db


def video_facts_refresh(*, video_id: int, with_image: bool | None = None) -> Video:
    video = _refresh(video_id=video_id, with_image=with_image)
    assert video is not None
    return video


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_a_vimeo_video_gets_its_duration_author_and_cards_from_oembed(standin):
    standin.oembed["https://vimeo.com/76979871"] = vimeo_answer(standin)
    video = VideoFactory(provider="vimeo", external_id="76979871", duration=None)

    refreshed = video_facts_refresh(video_id=video.pk)

    assert refreshed.duration == 62
    assert refreshed.author_name == "Vimeo Staff"
    assert refreshed.facts_error == ""
    assert refreshed.facts_checked_at is not None
    for width in (320, 640):
        for ext, fmt in (("webp", "WEBP"), ("jpg", "JPEG")):
            with default_storage.open(f"{refreshed.card_image}-{width}.{ext}") as file:
                image = Image.open(io.BytesIO(file.read()))
                assert (image.format, image.width, image.height) == (fmt, width, width * 9 // 16)
    # Served by us: the card URL is under MEDIA_URL, not the provider's host.
    assert str(refreshed.thumbnail_url).startswith("/media/thumbnails/cards/")


def test_an_unlisted_vimeo_video_is_asked_for_with_its_hash(standin):
    standin.oembed["https://vimeo.com/76979871/8272103f6e"] = vimeo_answer(standin, duration=30)
    video = VideoFactory(provider="vimeo", external_id="76979871:8272103f6e", duration=None)

    assert video_facts_refresh(video_id=video.pk).duration == 30


def test_a_known_duration_is_kept_and_youtube_gives_none(standin):
    standin.oembed["https://home.wistia.com/medias/e4a27b971d"] = wistia_answer(standin)
    standin.oembed["https://www.youtube.com/watch?v=aqz-KE-bpKQ"] = youtube_answer(standin)
    wistia = VideoFactory(provider="wistia", external_id="e4a27b971d", duration=100)
    youtube = VideoFactory(provider="youtube", external_id="aqz-KE-bpKQ", duration=None)

    assert video_facts_refresh(video_id=wistia.pk).duration == 100
    refreshed = video_facts_refresh(video_id=youtube.pk)
    assert refreshed.duration is None
    assert refreshed.author_name == "Blender"
    assert refreshed.card_image


def test_a_removed_youtube_video_becomes_unavailable_and_a_later_success_clears_it(standin):
    video = VideoFactory(provider="youtube", external_id="gone0000000")

    refreshed = video_facts_refresh(video_id=video.pk)
    assert refreshed.is_unavailable is True
    assert refreshed.unavailable_code == "oembed-404"
    assert "removed, is private" in refreshed.facts_error
    assert video not in video_catalogue_list()

    standin.oembed["https://www.youtube.com/watch?v=gone0000000"] = youtube_answer(standin)
    refreshed = video_facts_refresh(video_id=video.pk)
    assert refreshed.is_unavailable is False
    assert refreshed.facts_error == ""
    assert video in video_catalogue_list()


@pytest.mark.parametrize("status", [401, 403])
def test_private_or_unembeddable_means_unavailable(standin, status):
    standin.oembed["https://vimeo.com/123456789"] = status
    video = VideoFactory(provider="vimeo", external_id="123456789")

    assert video_facts_refresh(video_id=video.pk).unavailable_code == f"oembed-{status}"


def test_a_provider_outage_is_an_error_not_unavailability(standin):
    standin.oembed["https://vimeo.com/123456789"] = 503
    video = VideoFactory(provider="vimeo", external_id="123456789")

    refreshed = video_facts_refresh(video_id=video.pk)

    assert refreshed.is_unavailable is False
    assert "503" in refreshed.facts_error


def test_a_staff_flag_is_not_cleared_by_the_server(standin):
    standin.oembed["https://www.youtube.com/watch?v=aqz-KE-bpKQ"] = youtube_answer(standin)
    video = VideoFactory(provider="youtube", external_id="aqz-KE-bpKQ", is_unavailable=True, unavailable_code="staff")

    assert video_facts_refresh(video_id=video.pk).is_unavailable is True


def test_a_self_hosted_file_is_probed_over_https_with_a_poster_frame(standin):
    standin.files["/media/clip.mp4"] = SAMPLE_MP4
    video = VideoFactory(provider="file", external_id=standin.url("/media/clip.mp4"), duration=None)

    refreshed = video_facts_refresh(video_id=video.pk)

    assert refreshed.facts_error == ""
    assert (refreshed.duration, refreshed.width, refreshed.height) == (6, 320, 180)
    assert refreshed.video_codec == "h264"
    assert refreshed.card_image
    with default_storage.open(f"{refreshed.card_image}-640.jpg") as file:
        assert Image.open(file).size == (640, 360)
    # ffprobe and ffmpeg read the file through Range requests (HEAD first, by our own guard).
    assert ("HEAD", "/media/clip.mp4") in standin.requests


def test_a_missing_file_is_unavailable(standin):
    video = VideoFactory(provider="file", external_id=standin.url("/media/missing.mp4"))

    refreshed = video_facts_refresh(video_id=video.pk)

    assert (refreshed.is_unavailable, refreshed.unavailable_code) == (True, "file-404")
    assert "404" in refreshed.facts_error


def test_a_file_that_is_not_a_video_is_unavailable(standin):
    standin.files["/media/fake.mp4"] = b"<html>not a video</html>"
    video = VideoFactory(provider="file", external_id=standin.url("/media/fake.mp4"))

    assert video_facts_refresh(video_id=video.pk).unavailable_code == "unreadable"


def test_the_sites_own_static_clip_is_probed_from_disk():
    video = VideoFactory(provider="file", external_id="/static/video/sample.mp4", duration=None)
    missing = VideoFactory(provider="file", external_id="/static/video/missing.mp4")

    assert video_facts_refresh(video_id=video.pk, with_image=False).duration == 6
    assert video_facts_refresh(video_id=missing.pk).unavailable_code == "file-404"


def test_an_unavailable_video_leaves_the_catalogue_search_and_playlists(standin):
    playlist: Any = PlaylistFactory()
    gone: Any = PlaylistItemFactory(playlist=playlist, video=VideoFactory(title="Gone", provider="youtube")).video
    kept: Any = PlaylistItemFactory(playlist=playlist, video=VideoFactory(title="Kept", provider="youtube")).video
    standin.oembed[f"https://www.youtube.com/watch?v={kept.external_id}"] = youtube_answer(standin)

    call_command("videos_refresh", "--all", stdout=io.StringIO())

    assert list(video_catalogue_list()) == [kept]
    assert list(video_catalogue_list(search="Gone")) == []
    assert playlist_video_list(playlist=playlist) == [kept]
    assert playlist_catalogue_list().get(pk=playlist.pk).video_count == 1
    assert Video.objects.get(pk=gone.pk).is_unavailable


def test_the_beat_job_queues_one_check_per_published_video(monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(tasks.video_facts_refresh_task, "delay", queued.append)
    published = VideoFactory()
    VideoFactory(is_published=False)

    assert tasks.video_availability_check_all_task() == 1
    assert queued == [published.pk]


def test_playback_problem_reports_trigger_one_recheck_per_window(monkeypatch, django_capture_on_commit_callbacks):
    cache.clear()
    queued: list[int] = []
    monkeypatch.setattr(tasks.video_facts_refresh_task, "delay", queued.append)
    video: Any = VideoFactory()

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            member: Any = MemberFactory()
            video_playback_problem_record(video=video, user=member, code="150")

    assert queued == [video.pk]
    assert Video.objects.get(pk=video.pk).is_unavailable is False


def test_the_refresh_command_names_what_it_could_not_read(standin):
    video = VideoFactory(provider="vimeo", external_id="123456789", slug="dead")
    out = io.StringIO()

    call_command("videos_refresh", "dead", stdout=out)

    assert f"{video.pk} dead: unavailable (The provider answered 404" in out.getvalue()
