"""Staff curate the catalogue in Django admin from pasted URLs."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from config.formatting import clock
from tests.factories import MemberFactory, PlaylistFactory, PlaylistItemFactory, VideoFactory
from videos.models import Video, VideoPlaybackProblem
from videos.services import video_playback_problem_record

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/videos/video/add/"


@pytest.fixture
def staff_client(client):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    return client


def add_form(url: str, title: str = "Pasted video", **extra) -> dict:
    return {
        "url": url,
        "title": title,
        "slug": "",
        "description": "",
        "duration": "",
        "position": "0",
        "access": "members",
        "is_published": "on",
        **extra,
    }


def test_staff_add_a_video_by_pasting_its_url_and_members_see_it_in_the_catalogue(staff_client):
    response = staff_client.post(ADD_URL, add_form("https://youtu.be/dQw4w9WgXcQ?t=42", title="Never gonna"))

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    video = Video.objects.get()
    assert (video.provider, video.external_id, video.slug) == ("youtube", "dQw4w9WgXcQ", "never-gonna")
    assert video.source_url == "https://youtu.be/dQw4w9WgXcQ?t=42"
    assert video.published_at is not None
    staff_client.logout()
    catalogue = staff_client.get(reverse("videos:catalogue")).content.decode()
    assert "Never gonna" in catalogue


def test_the_same_video_cannot_be_added_twice(staff_client):
    VideoFactory(provider="youtube", external_id="dQw4w9WgXcQ", title="Already here")

    response = staff_client.post(ADD_URL, add_form("https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=share"))

    assert response.status_code == 200
    assert "already in the catalogue" in str(response.context["adminform"].form.errors["url"])
    assert Video.objects.count() == 1


def test_a_vimeo_video_is_a_duplicate_of_its_unlisted_link(staff_client):
    VideoFactory(provider="vimeo", external_id="76979871")

    response = staff_client.post(ADD_URL, add_form("https://vimeo.com/76979871/8272103f6e"))

    assert "already in the catalogue" in str(response.context["adminform"].form.errors["url"])


def test_an_unsupported_url_is_refused_with_what_is_accepted(staff_client):
    response = staff_client.post(ADD_URL, add_form("https://www.dailymotion.com/video/x8abcd"))

    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors["url"])
    assert "not a supported video host" in errors
    assert "vimeo.com" in errors
    assert not Video.objects.exists()


def test_the_database_refuses_a_duplicate_source_too():
    from django.db import IntegrityError

    VideoFactory(provider="wistia", external_id="e4a27b971d")
    with pytest.raises(IntegrityError):
        VideoFactory(provider="wistia", external_id="e4a27b971d")


def test_a_member_who_is_not_staff_gets_the_admin_login(client):
    client.force_login(MemberFactory())

    response = client.get(ADD_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_an_anonymous_visitor_gets_the_admin_login(client):
    response = client.get("/admin/videos/video/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_video_list_shows_thumbnail_provider_duration_and_flags(staff_client):
    VideoFactory(
        title="Listed", provider="youtube", external_id="dQw4w9WgXcQ", duration=635, card_image="thumbnails/cards/1-ab"
    )

    html = staff_client.get("/admin/videos/video/").content.decode()

    # The card the server made from the provider's thumbnail, served by us; never hotlinked.
    assert "/media/thumbnails/cards/1-ab-640.jpg" in html
    assert "i.ytimg.com" not in html
    assert "10:35" in html
    assert "YouTube" in html
    assert "column-status_flags" in html
    assert "Published<br>Members only" in html


def test_staff_filter_the_list_to_unavailable_videos(staff_client):
    VideoFactory(title="Gone", is_unavailable=True)
    VideoFactory(title="Fine")

    response = staff_client.get("/admin/videos/video/", {"unavailable": "yes"})

    assert [v.title for v in response.context["cl"].result_list] == ["Gone"]


def test_staff_search_the_list_by_title(staff_client):
    VideoFactory(title="Sourdough basics")
    VideoFactory(title="Knife skills")

    response = staff_client.get("/admin/videos/video/", {"q": "sourdough"})

    assert [v.title for v in response.context["cl"].result_list] == ["Sourdough basics"]


def test_bulk_publish_and_unpublish(staff_client):
    drafts = VideoFactory.create_batch(2, is_published=False, published_at=None)
    ids = [str(v.pk) for v in drafts]

    staff_client.post("/admin/videos/video/", {"action": "publish", "_selected_action": ids})
    assert Video.objects.filter(is_published=True, published_at__isnull=False).count() == 2

    staff_client.post("/admin/videos/video/", {"action": "unpublish", "_selected_action": ids})
    assert not Video.objects.filter(is_published=True).exists()


def test_the_change_page_previews_the_player(staff_client):
    video = VideoFactory(provider="vimeo", external_id="76979871")

    html = staff_client.get(f"/admin/videos/video/{video.pk}/change/").content.decode()

    assert "data-watchpoint-player" in html
    assert 'data-provider="vimeo"' in html
    assert "js/players/index.js" in html


def test_a_playlist_change_page_edits_its_ordered_videos_inline(staff_client):
    playlist = PlaylistFactory()
    PlaylistItemFactory(playlist=playlist, video=VideoFactory(title="Inline lesson"))

    response = staff_client.get(f"/admin/videos/playlist/{playlist.pk}/change/")

    assert response.status_code == 200
    assert "items-TOTAL_FORMS" in response.content.decode()
    assert "Inline lesson" in response.content.decode()


# Finding 8: this URL was accepted and its "host" copied into the CSP header as a new directive.
def test_a_file_url_that_would_inject_into_the_csp_header_is_refused(staff_client):
    url = "https://cdn.example.com; script-src-elem 'unsafe-inline' *; x/clip.mp4"

    response = staff_client.post(ADD_URL, add_form(url))

    assert response.status_code == 200
    assert "may not contain" in str(response.context["adminform"].form.errors["url"])
    assert not Video.objects.exists()


# Finding 5: players only report problems; staff read the count and decide.
def test_staff_see_how_many_members_could_not_play_a_video_and_mark_it_unavailable(staff_client):
    video = VideoFactory.create(title="Flaky")
    quiet = VideoFactory.create(title="Fine")
    for member in MemberFactory.create_batch(3):
        video_playback_problem_record(video=video, user=member, code="150")
    # A fourth member's report from two days ago is not "in the last 24 h".
    video_playback_problem_record(video=video, user=MemberFactory.create(), code="150")
    VideoPlaybackProblem.objects.filter(pk=VideoPlaybackProblem.objects.latest("pk").pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )

    listing = staff_client.get("/admin/videos/video/").content.decode()
    change = staff_client.get(f"/admin/videos/video/{video.pk}/change/").content.decode()

    assert listing.count("could not play this") == 1
    assert "3 members could not play this in the last 24 h" in listing
    assert "3 members could not play this in the last 24 h" in change
    assert not Video.objects.get(pk=video.pk).is_unavailable

    staff_client.post("/admin/videos/video/", {"action": "mark_unavailable", "_selected_action": [str(video.pk)]})
    video.refresh_from_db()
    assert video.is_unavailable
    assert video.unavailable_code == "staff"
    assert not Video.objects.get(pk=quiet.pk).is_unavailable


# Finding 9: thumbnails were checked by extension only (SVG/HTML named .png and 30 MB were stored).
@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def image_bytes(fmt: str, size=(64, 36), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt, **save)
    return out.getvalue()


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><script>fetch('/admin/')</script></html>"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (SVG, "must be a JPEG, PNG or WebP image"),
        (HTML, "must be a JPEG, PNG or WebP image"),
        (image_bytes("GIF"), "must be a JPEG, PNG or WebP image"),
        (image_bytes("PNG")[:60], "must be a JPEG, PNG or WebP image"),
        (image_bytes("PNG") + b"\0" * (30 * 1024 * 1024), "larger than 5 MB"),
        (image_bytes("PNG", size=(5000, 5000)), "at most 4096 by 4096 pixels"),
        (image_bytes("PNG", size=(4097, 10)), "at most 4096 by 4096 pixels"),
    ],
    ids=["svg", "html", "gif", "truncated", "30MB", "5000x5000", "4097-wide"],
)
def test_a_thumbnail_that_is_not_an_acceptable_image_is_refused_and_nothing_is_stored(
    staff_client, media_root, content, error
):
    upload = SimpleUploadedFile("thumb.png", content, content_type="image/png")

    response = staff_client.post(ADD_URL, add_form("https://youtu.be/dQw4w9WgXcQ", thumbnail=upload))

    assert response.status_code == 200
    assert error in str(response.context["adminform"].form.errors["thumbnail"])
    assert not Video.objects.exists()
    assert stored_files(media_root) == []


def test_a_thumbnail_with_html_appended_is_stored_re_encoded_without_it(staff_client, media_root):
    polyglot = image_bytes("PNG") + b"<html><script>alert(1)</script></html>"
    upload = SimpleUploadedFile("thumb.png", polyglot, content_type="image/png")

    response = staff_client.post(ADD_URL, add_form("https://youtu.be/dQw4w9WgXcQ", thumbnail=upload))

    assert response.status_code == 302
    video = Video.objects.get()
    stored = video.thumbnail.read()
    assert stored.endswith(b"IEND\xaeB`\x82")
    assert b"<script" not in stored
    assert Image.open(io.BytesIO(stored)).size == (64, 36)
    assert [p.name for p in stored_files(media_root)] == [str(video.thumbnail.name).rsplit("/", 1)[1]]


def test_a_jpeg_thumbnail_loses_its_exif_and_trailing_bytes_and_keeps_its_format(staff_client, media_root):
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS latitude
    jpeg = image_bytes("JPEG", exif=exif.tobytes(), comment=b"a comment") + b"<?php system($_GET['c']); ?>"
    video = VideoFactory()
    form = {
        "title": video.title,
        "slug": video.slug,
        "description": "",
        "duration": "600",
        "position": "0",
        "access": "members",
        "is_published": "on",
        "published_at_0": "2026-01-01",
        "published_at_1": "00:00:00",
        # Named .png, really a JPEG: stored as what it is.
        "thumbnail": SimpleUploadedFile("camera.png", jpeg, content_type="image/png"),
    }

    response = staff_client.post(f"/admin/videos/video/{video.pk}/change/", form)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    video.refresh_from_db()
    assert video.thumbnail.name.endswith(".jpg")
    stored = video.thumbnail.read()
    assert stored.endswith(b"\xff\xd9")
    for leftover in (b"SecretCam", b"a comment", b"<?php", b"Exif"):
        assert leftover not in stored
    reopened = Image.open(io.BytesIO(stored))
    assert reopened.format == "JPEG"
    assert not reopened.getexif()


# --- Facts read by the server (tests/videos/test_facts.py has the reads themselves) ---------------

from tests.videos.standins import StandIn, vimeo_answer  # noqa: E402
from tests.videos.standins import standin_fixture as standin_fixture  # noqa: E402  (the `standin` fixture)


def test_an_empty_title_is_filled_from_oembed_and_the_facts_are_queued(
    staff_client, standin: StandIn, monkeypatch, django_capture_on_commit_callbacks
):
    from videos import tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.video_facts_refresh_task, "delay", queued.append)
    standin.oembed["https://vimeo.com/76979871"] = vimeo_answer(standin, title="From Vimeo")

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(ADD_URL, add_form("https://vimeo.com/76979871?t=1m5s", title=""))

    assert response.status_code == 302, response.content.decode()[:2000]
    video = Video.objects.get(external_id="76979871")
    assert (video.title, video.slug) == ("From Vimeo", "from-vimeo")
    # The link's t= becomes the default start.
    assert video.start_seconds == 65
    assert queued == [video.pk]


def test_an_empty_title_without_an_oembed_answer_is_a_clear_error(staff_client, standin: StandIn):
    standin.oembed["https://vimeo.com/76979871"] = 503

    response = staff_client.post(ADD_URL, add_form("https://vimeo.com/76979871", title=""))

    assert response.status_code == 200
    assert "Enter a title: the provider&#x27;s could not be read" in response.content.decode()
    assert not Video.objects.exists()


def test_a_file_url_that_404s_is_refused_at_once(staff_client, standin: StandIn):
    response = staff_client.post(ADD_URL, add_form(standin.url("/media/missing.mp4"), title="Missing"))

    assert response.status_code == 200
    assert "The file answered 404: check the link. (nothing was saved)" in response.content.decode()
    assert not Video.objects.exists()


def test_the_change_page_and_list_say_why_the_facts_could_not_be_read(staff_client):
    video = VideoFactory(title="Broken", facts_error="oEmbed: vimeo.com did not answer within 10 s.")

    change = staff_client.get(f"/admin/videos/video/{video.pk}/change/").content.decode()
    listing = staff_client.get("/admin/videos/video/").content.decode()

    for html in (change, listing):
        assert "Could not read: oEmbed: vimeo.com did not answer within 10 s." in html


def test_the_admin_index_lists_unavailable_published_videos(staff_client):
    VideoFactory(title="Dead link", is_unavailable=True, unavailable_code="oembed-404")
    VideoFactory(title="Dead draft", is_unavailable=True, is_published=False)
    VideoFactory(title="Fine video")

    html = staff_client.get("/admin/").content.decode()

    assert "Unavailable videos" in html
    assert "Dead link" in html
    assert "oembed-404" in html
    assert "Dead draft" not in html
    assert "Fine video" not in html


def test_the_admin_index_has_no_warning_when_all_play(staff_client):
    VideoFactory()

    assert "Unavailable videos" not in staff_client.get("/admin/").content.decode()


# --- External file URLs, honest (issue #21 part 6) ------------------------------------------------

from tests.videos.standins import SAMPLE_MP4  # noqa: E402


def test_saving_an_external_file_reads_its_facts_at_once_and_says_what_is_known(staff_client, standin: StandIn):
    standin.files["/media/clip.mp4"] = SAMPLE_MP4

    response = staff_client.post(ADD_URL, add_form(standin.url("/media/clip.mp4"), title="Clip"), follow=True)

    video = Video.objects.get(title="Clip")
    assert video.duration == 6
    assert video.facts_checked_at is not None
    assert not video.facts_error
    shown = [str(m) for m in response.context["messages"]]
    assert any(m.startswith(f"Facts read from the file: duration {clock(video.duration)}, ") for m in shown), shown


def test_a_file_whose_facts_cannot_be_read_is_saved_with_a_clear_warning(staff_client, standin: StandIn):
    standin.files["/media/fake.mp4"] = b"<html>not a video</html>"

    response = staff_client.post(ADD_URL, add_form(standin.url("/media/fake.mp4"), title="Fake"), follow=True)

    video = Video.objects.get(title="Fake")
    assert video.duration is None
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith("The file's facts could not be read: ")
    assert "its duration is unknown" in warnings[0]


def test_the_change_page_lets_the_preview_play_an_external_file_and_only_there(staff_client):
    video = VideoFactory(provider="file", external_id="https://cdn.example.com/v/clip.mp4")
    other = VideoFactory(provider="youtube")

    header = staff_client.get(f"/admin/videos/video/{video.pk}/change/")["Content-Security-Policy"]

    assert "media-src 'self' blob: https://cdn.example.com;" in header
    assert "connect-src 'self' https://cdn.example.com;" in header
    for url in (f"/admin/videos/video/{other.pk}/change/", "/admin/videos/video/"):
        assert "cdn.example.com" not in staff_client.get(url)["Content-Security-Policy"]


@pytest.mark.parametrize(("typed", "seconds"), [("10:35", 635), ("1:01:40", 3700), ("90:00", 5400), ("42", 42)])
def test_staff_enter_a_duration_as_minutes_and_seconds(staff_client, typed, seconds):
    response = staff_client.post(ADD_URL, add_form("https://www.youtube.com/watch?v=dQw4w9WgXcQ", duration=typed))

    assert response.status_code == 302, response.content.decode()[:3000]
    video = Video.objects.get()
    assert video.duration == seconds
    shown = staff_client.get(f"/admin/videos/video/{video.pk}/change/").content.decode()
    assert f'name="duration" value="{clock(seconds)}"' in shown


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("1:2", "Enter a duration as m:ss or h:mm:ss (for example 10:35 or 1:01:40)."),
        ("1:75:00", "Enter a duration as m:ss or h:mm:ss (for example 10:35 or 1:01:40)."),
        ("ten minutes", "Enter a duration as m:ss or h:mm:ss (for example 10:35 or 1:01:40)."),
        ("-5", "Enter a duration as m:ss or h:mm:ss (for example 10:35 or 1:01:40)."),
        ("25:00:00", "A duration is at most 24:00:00."),
    ],
)
def test_a_duration_that_is_not_a_time_is_refused_with_the_expected_form(staff_client, typed, error):
    response = staff_client.post(ADD_URL, add_form("https://www.youtube.com/watch?v=dQw4w9WgXcQ", duration=typed))

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Video.objects.exists()
