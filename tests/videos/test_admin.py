"""Staff curate the catalogue in Django admin from pasted URLs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

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
        "members_only": "on",
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
    VideoFactory(title="Listed", provider="youtube", external_id="dQw4w9WgXcQ", duration=635)

    html = staff_client.get("/admin/videos/video/").content.decode()

    assert "https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg" in html
    assert "10:35" in html
    assert "YouTube" in html
    for column in ("column-is_published", "column-members_only", "column-is_unavailable"):
        assert column in html


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
