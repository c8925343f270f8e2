"""Who may watch what: gating by membership and confirmation, publication, deep links, playlists."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import MemberFactory, PlaylistFactory, PlaylistItemFactory, VideoFactory

pytestmark = pytest.mark.django_db


def watch_url(video, query: str = "") -> str:
    return reverse("videos:watch", kwargs={"slug": video.slug}) + query


@pytest.fixture
def unconfirmed(db):
    return MemberFactory(confirmed=False)


@pytest.fixture
def confirmed(db):
    return MemberFactory()


@pytest.fixture
def staff(db):
    return MemberFactory(is_staff=True, is_superuser=True)


def as_visitor(client, who):
    if who is not None:
        client.force_login(who)
    return client


@pytest.mark.parametrize("who", ["anonymous", "unconfirmed", "confirmed"])
def test_everyone_can_watch_a_public_video(client, who, request):
    video = VideoFactory(members_only=False)
    user = None if who == "anonymous" else request.getfixturevalue(who)

    response = as_visitor(client, user).get(watch_url(video))

    assert response.status_code == 200
    assert b"data-watchpoint-player" in response.content


def test_a_confirmed_member_can_watch_a_members_only_video(client, confirmed):
    video = VideoFactory(members_only=True)
    client.force_login(confirmed)

    response = client.get(watch_url(video))

    assert response.status_code == 200
    assert b"data-watchpoint-player" in response.content


def test_an_anonymous_visitor_is_asked_to_log_in_or_sign_up_for_a_members_only_video(client):
    video = VideoFactory(members_only=True, title="Secret sauce")

    response = client.get(watch_url(video))

    assert response.status_code == 403
    html = response.content.decode()
    assert "data-watchpoint-player" not in html
    assert "Secret sauce" in html
    assert f'href="{reverse("account_login")}?next=' in html
    assert f'href="{reverse("account_signup")}?next=' in html


def test_an_unconfirmed_member_is_sent_to_confirm_their_email_for_a_members_only_video(client, unconfirmed):
    video = VideoFactory(members_only=True)
    client.force_login(unconfirmed)

    response = client.get(watch_url(video))

    assert response.status_code == 403
    html = response.content.decode()
    assert "data-watchpoint-player" not in html
    assert f'href="{reverse("account_email")}"' in html
    assert "Confirm my email address" in html


@pytest.mark.parametrize("who", ["anonymous", "unconfirmed", "confirmed"])
def test_an_unpublished_video_is_not_found_for_members(client, who, request):
    video = VideoFactory(is_published=False, members_only=False)
    user = None if who == "anonymous" else request.getfixturevalue(who)

    assert as_visitor(client, user).get(watch_url(video)).status_code == 404


def test_staff_can_preview_an_unpublished_video(client, staff):
    video = VideoFactory(is_published=False)
    client.force_login(staff)

    response = client.get(watch_url(video))

    assert response.status_code == 200
    assert b"Not published" in response.content
    assert b"data-watchpoint-player" in response.content


def test_a_missing_video_is_not_found(client):
    assert client.get("/watch/no-such-video/").status_code == 404


def test_the_player_container_carries_what_the_players_and_tracker_need(client):
    video = VideoFactory(members_only=False, provider="youtube", external_id="dQw4w9WgXcQ", duration=212)

    html = client.get(watch_url(video, "?t=1m30s")).content.decode()

    assert f'data-video-id="{video.pk}"' in html
    assert f'data-video-slug="{video.slug}"' in html
    assert 'data-provider="youtube"' in html
    assert 'data-external-id="dQw4w9WgXcQ"' in html
    assert 'data-duration="212"' in html
    assert 'data-start="90"' in html
    assert "js/players/index.js" in html


@pytest.mark.parametrize(("query", "start"), [("?t=90", "90"), ("?t=1m30s", "90"), ("?t=bogus", ""), ("?t=9999", "")])
def test_a_deep_link_starts_inside_the_video(client, query, start):
    video = VideoFactory(members_only=False, duration=600)

    html = client.get(watch_url(video, query)).content.decode()

    assert f'data-start="{start}"' in html


@pytest.mark.parametrize("value", ["1" * 5000, "9" * 40 + "h", "1" * 4000 + "m" + "1" * 4000 + "s"])
def test_an_absurd_deep_link_is_ignored_never_a_server_error(client, value):
    public = VideoFactory(members_only=False, duration=600)
    members_only = VideoFactory(members_only=True, duration=600)

    response = client.get(watch_url(public, f"?t={value}"))

    assert response.status_code == 200
    assert 'data-start=""' in response.content.decode()
    assert client.get(watch_url(members_only, f"?t={value}")).status_code == 403


def test_an_unlisted_vimeo_video_passes_its_hash_to_the_player(client):
    video = VideoFactory(members_only=False, provider="vimeo", external_id="76979871:8272103f6e")

    html = client.get(watch_url(video)).content.decode()

    assert 'data-external-id="76979871"' in html
    assert 'data-vimeo-hash="8272103f6e"' in html


def test_watching_inside_a_playlist_links_the_next_video(client):
    playlist = PlaylistFactory(title="Course")
    first = PlaylistItemFactory(playlist=playlist, position=1, video=VideoFactory(members_only=False)).video
    second = PlaylistItemFactory(playlist=playlist, position=2, video=VideoFactory(members_only=False)).video

    html = client.get(watch_url(first, f"?list={playlist.slug}")).content.decode()

    assert f'data-next-url="{watch_url(second)}?list={playlist.slug}"' in html
    assert "data-auto-advance" in html
    assert "1 of 2" in html


def test_the_last_video_of_a_playlist_has_no_next(client):
    playlist = PlaylistFactory()
    only = PlaylistItemFactory(playlist=playlist, video=VideoFactory(members_only=False)).video

    html = client.get(watch_url(only, f"?list={playlist.slug}")).content.decode()

    assert 'data-next-url=""' in html
    assert "Last video of the playlist" in html


@pytest.mark.parametrize(("query", "start"), [("", "65"), ("?t=10", "10")])
def test_the_videos_default_start_applies_unless_a_deep_link_says_otherwise(client, query, start):
    video = VideoFactory(members_only=False, duration=600, start_seconds=65)

    html = client.get(video.get_absolute_url() + query).content.decode()

    assert f'data-start="{start}"' in html


def test_a_member_following_an_old_link_to_an_unavailable_video_gets_a_notice_not_a_player(client, confirmed):
    video = VideoFactory(title="Gone now", is_unavailable=True, unavailable_code="oembed-404")
    client.force_login(confirmed)

    response = client.get(video.get_absolute_url())

    assert response.status_code == 410
    html = response.content.decode()
    assert "This video is no longer available from its host" in html
    assert "data-watchpoint-player" not in html


def test_staff_still_see_the_player_of_an_unavailable_video_with_a_warning(client, staff):
    video = VideoFactory(is_unavailable=True, unavailable_code="file-404", facts_error="The file answered 404.")
    client.force_login(staff)

    html = client.get(video.get_absolute_url()).content.decode()

    assert "data-watchpoint-player" in html
    assert "Unavailable (file-404: The file answered 404.)" in html
