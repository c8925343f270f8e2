"""The server reads video facts (oEmbed, ffprobe/ffmpeg) and decides availability itself."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image

from tests.factories import MemberFactory, PlaylistFactory, PlaylistItemFactory, VideoFactory
from tests.videos.standins import (
    ROOT,
    SAMPLE_HLS_SEGMENTS,
    SAMPLE_MP4,
    StandIn,
    hls_master_playlist,
    hls_media_playlist,
    vimeo_answer,
    wistia_answer,
    youtube_answer,
)
from tests.videos.standins import standin_fixture as standin_fixture  # the `standin` fixture
from videos import facts, tasks
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
    # Downloaded once by our own guard (its first VIDEO_FILE_FETCH_MAX_BYTES), then read from disk.
    assert standin.requests.count(("GET", "/media/clip.mp4")) == 1


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


# --- Every hop of a file or HLS stream goes through the guard; ffprobe/ffmpeg read local copies ----


def ffmpeg_make(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", *arguments], check=True)


@pytest.fixture(scope="module")
def other_clip(tmp_path_factory) -> dict[str, bytes]:
    """A 160x90 clip, as MP4 and as an MPEG-TS segment: what a host we must not read serves. If its
    dimensions are ever stored, a fetch reached it."""
    directory = tmp_path_factory.mktemp("other-clip")
    clips = {}
    for ext in ("mp4", "ts"):
        path = directory / f"other.{ext}"
        ffmpeg_make("-f", "lavfi", "-i", "testsrc=size=160x90:rate=10", "-t", "2", "-c:v", "libx264", str(path))
        clips[ext] = path.read_bytes()
    return clips


@pytest.fixture(scope="module")
def moov_at_end_clip(tmp_path_factory) -> bytes:
    """The sample clip re-muxed without faststart: its index (moov) after the media data."""
    path = tmp_path_factory.mktemp("moov-at-end") / "end.mp4"
    ffmpeg_make("-i", str(ROOT / "static" / "video" / "sample.mp4"), "-c", "copy", str(path))
    data = path.read_bytes()
    assert data.index(b"moov") > data.index(b"mdat")
    return data


def elsewhere(standin: StandIn, path: str) -> str:
    """The stand-in under another name (localhost): a host the video's own host does not allow,
    which resolves to an address a fetch could reach (as an internal host name would)."""
    return standin.url(path).replace("https://127.0.0.1:", "https://localhost:")


def hls_serve(standin: StandIn, *, variant: str = "/hls/media.m3u8", segments: list[str] | None = None) -> str:
    """A master playlist → `variant` → `segments` (default: the sample's three, relative)."""
    standin.files["/hls/master.m3u8"] = hls_master_playlist([variant])
    standin.files["/hls/media.m3u8"] = hls_media_playlist(segments or [f"sample-0{i}.ts" for i in range(3)])
    for i, segment in enumerate(SAMPLE_HLS_SEGMENTS):
        standin.files[f"/hls/sample-0{i}.ts"] = segment
    return standin.url("/hls/master.m3u8")


def nothing_stored(video: Video) -> bool:
    return (video.duration, video.width, video.height, video.video_codec, video.card_image) == (
        None,
        None,
        None,
        "",
        "",
    )


def test_a_file_that_redirects_to_another_host_on_get_only_is_refused_and_nothing_is_stored(standin, other_clip):
    standin.files["/internal/clip.mp4"] = other_clip["mp4"]
    standin.get_redirects["/media/clip.mp4"] = elsewhere(standin, "/internal/clip.mp4")
    video = VideoFactory(provider="file", external_id=standin.url("/media/clip.mp4"), duration=None)

    refreshed = video_facts_refresh(video_id=video.pk, with_image=True)

    assert refreshed.facts_error == "File: localhost is not a host we fetch from here."
    assert nothing_stored(refreshed)
    assert refreshed.is_unavailable is False
    assert standin.count("/internal/") == 0


def test_the_admin_says_why_a_redirected_file_was_not_read(standin, other_clip, client):
    standin.files["/internal/clip.mp4"] = other_clip["mp4"]
    standin.get_redirects["/media/clip.mp4"] = elsewhere(standin, "/internal/clip.mp4")
    video = VideoFactory(provider="file", external_id=standin.url("/media/clip.mp4"))
    video_facts_refresh(video_id=video.pk)
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))

    html = client.get(f"/admin/videos/video/{video.pk}/change/").content.decode()

    assert "Could not read: File: localhost is not a host we fetch from here." in html


def test_an_hls_stream_is_read_through_the_guard_from_its_first_segment(standin):
    video = VideoFactory(provider="file", external_id=hls_serve(standin), duration=None)

    refreshed = video_facts_refresh(video_id=video.pk, with_image=True)

    assert refreshed.facts_error == ""
    # The duration is the playlist's EXTINF sum; the rest is read from the first segment alone.
    assert (refreshed.duration, refreshed.width, refreshed.height, refreshed.video_codec) == (6, 320, 180, "h264")
    assert refreshed.card_image
    assert [path for _, path in standin.requests] == ["/hls/master.m3u8", "/hls/media.m3u8", "/hls/sample-00.ts"]


@pytest.mark.parametrize("hop", ["variant playlist", "segment"])
def test_an_hls_stream_with_a_hop_on_another_host_is_refused_and_nothing_is_stored(standin, other_clip, hop):
    standin.files["/internal/media.m3u8"] = hls_media_playlist([elsewhere(standin, "/internal/0.ts")])
    standin.files["/internal/0.ts"] = other_clip["ts"]
    if hop == "variant playlist":
        url = hls_serve(standin, variant=elsewhere(standin, "/internal/media.m3u8"))
    else:
        url = hls_serve(standin, segments=[elsewhere(standin, "/internal/0.ts")])
    video = VideoFactory(provider="file", external_id=url, duration=None)

    refreshed = video_facts_refresh(video_id=video.pk, with_image=True)

    assert refreshed.facts_error == f"HLS {hop}: localhost is not a host we fetch from here."
    assert nothing_stored(refreshed)
    assert standin.count("/internal/") == 0


def test_a_playlist_swapped_after_a_clean_check_is_refused_at_the_next_check(standin, other_clip):
    video = VideoFactory(provider="file", external_id=hls_serve(standin), duration=None)
    first = video_facts_refresh(video_id=video.pk, with_image=True)
    assert first.facts_error == ""
    # The host swaps the playlist after it passed (the re-check runs hourly and on members' reports).
    standin.files["/internal/0.ts"] = other_clip["ts"]
    standin.files["/hls/media.m3u8"] = hls_media_playlist([elsewhere(standin, "/internal/0.ts")])

    again = video_facts_refresh(video_id=video.pk, with_image=True)

    assert again.facts_error == "HLS segment: localhost is not a host we fetch from here."
    assert (again.width, again.height, again.card_image) == (320, 180, first.card_image)
    assert standin.count("/internal/") == 0


def test_ffprobe_and_ffmpeg_are_only_ever_given_local_files_and_no_network_protocol(standin, monkeypatch):
    run = subprocess.run
    inputs: list[tuple[str, str, bool]] = []

    def recording(command: list[str], **kwargs: Any) -> Any:
        given = command[command.index("-i") + 1]
        inputs.append((given, command[command.index("-protocol_whitelist") + 1], Path(given).is_file()))
        return run(command, **kwargs)

    monkeypatch.setattr(facts.subprocess, "run", recording)
    standin.files["/media/clip.mp4"] = SAMPLE_MP4
    mp4 = VideoFactory(provider="file", external_id=standin.url("/media/clip.mp4"), duration=None)
    hls = VideoFactory(provider="file", external_id=hls_serve(standin), duration=None)

    assert video_facts_refresh(video_id=mp4.pk, with_image=True).duration == 6
    assert video_facts_refresh(video_id=hls.pk, with_image=True).duration == 6

    assert len(inputs) == 4  # ffprobe and ffmpeg, for each
    for given, protocols, is_file in inputs:
        assert "://" not in given
        assert (protocols, is_file) == ("file", True)


def test_a_large_file_is_read_from_its_first_bytes_only(standin, settings):
    settings.VIDEO_FILE_FETCH_MAX_BYTES = 64 * 1024
    standin.files["/media/clip.mp4"] = SAMPLE_MP4
    video = VideoFactory(provider="file", external_id=standin.url("/media/clip.mp4"), duration=None)

    refreshed = video_facts_refresh(video_id=video.pk, with_image=True)

    assert (refreshed.duration, refreshed.width, refreshed.height) == (6, 320, 180)
    assert refreshed.card_image
    assert standin.ranges == [("/media/clip.mp4", "bytes=0-65535")]


def test_a_file_whose_index_is_at_its_end_is_read_from_its_first_and_last_bytes(standin, settings, moov_at_end_clip):
    settings.VIDEO_FILE_FETCH_MAX_BYTES = 32 * 1024
    standin.files["/media/end.mp4"] = moov_at_end_clip
    video = VideoFactory(provider="file", external_id=standin.url("/media/end.mp4"), duration=None)

    refreshed = video_facts_refresh(video_id=video.pk, with_image=True)

    assert refreshed.facts_error == ""
    assert (refreshed.duration, refreshed.width, refreshed.height, refreshed.video_codec) == (6, 320, 180, "h264")
    assert refreshed.card_image
    assert standin.ranges == [("/media/end.mp4", "bytes=0-32767"), ("/media/end.mp4", "bytes=-32768")]


def test_the_sites_own_hls_stream_is_read_from_disk():
    video = VideoFactory(provider="file", external_id="/static/video/hls/sample.m3u8", duration=None)

    refreshed = video_facts_refresh(video_id=video.pk, with_image=True)

    assert (refreshed.duration, refreshed.width, refreshed.height, refreshed.facts_error) == (6, 320, 180, "")
    assert refreshed.card_image


def test_a_file_that_is_really_a_playlist_naming_local_files_is_unreadable(standin):
    # Read from a local copy with the file protocol allowed, ffmpeg's HLS demuxer would open the
    # files such a "video" names (a local segment here; /etc/passwd rendered as text in the known
    # attack); only the video demuxers are allowed.
    local_segment = ROOT / "static" / "video" / "hls" / "sample-00.ts"
    standin.files["/media/trick.mp4"] = hls_media_playlist([str(local_segment)])
    video = VideoFactory(provider="file", external_id=standin.url("/media/trick.mp4"), duration=None)

    refreshed = video_facts_refresh(video_id=video.pk, with_image=True)

    assert refreshed.unavailable_code == "unreadable"
    assert nothing_stored(refreshed)
