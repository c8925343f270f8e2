"""The watch page of an uploaded video plays its ladder through a URL signed for the member's
session; Django's stand-in for nginx (development and tests only) checks it the same way."""

from __future__ import annotations

import re
import time
from html import unescape

import pytest
from allauth.core import ratelimit
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from redis.exceptions import ConnectionError as RedisConnectionError

from analytics.viewing import viewing_session_start
from tests.factories import MemberFactory, PlaylistFactory, PlaylistItemFactory, VideoFactory
from tests.videos.test_page_context import tracker_config
from videos.media import ladder_request_check, ladder_url_sign

pytestmark = pytest.mark.django_db

LADDER = "hls/7/0123456789ab/"


@pytest.fixture
def ladder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    default_storage.save(f"{LADDER}master.m3u8", ContentFile(b"#EXTM3U\n0/index.m3u8\n"))
    default_storage.save(f"{LADDER}0/seg_00000.ts", ContentFile(b"G" * 376))
    return VideoFactory(
        provider="file", external_id="upload:a", source="sources/a.mp4", ladder_path=LADDER, ladder_state="ready"
    )


def _player_url(client, video) -> str:
    html = client.get(video.get_absolute_url()).content.decode()
    found = re.search(r'data-external-id="([^"]*)"', html)
    assert found, "no player on the page"
    return unescape(found.group(1))


def test_the_watch_page_plays_the_ladder_through_a_url_signed_for_the_members_session(client, ladder):
    client.force_login(MemberFactory())

    url = _player_url(client, ladder)

    assert url.startswith("/hls/")
    assert url.endswith("/7/0123456789ab/master.m3u8")
    session = client.cookies["sessionid"].value
    assert ladder_request_check(path=url.removeprefix("/hls/"), session_key=session, now=time.time()) == (
        f"{LADDER}master.m3u8"
    )
    assert ladder_request_check(path=url.removeprefix("/hls/"), session_key="another", now=time.time()) is None


def test_an_upload_without_a_ladder_has_no_media_url(client, ladder):
    ladder.ladder_path = ""
    ladder.is_published = False
    ladder.save()
    client.force_login(MemberFactory(is_staff=True))

    assert _player_url(client, ladder) == ""


def test_the_stand_in_serves_the_session_its_files_with_nginxs_headers(client, ladder):
    client.force_login(MemberFactory())
    url = _player_url(client, ladder)

    master = client.get(url)
    segment = client.get(url.replace("master.m3u8", "0/seg_00000.ts"))

    assert (master.status_code, master["Content-Type"]) == (200, "application/vnd.apple.mpegurl")
    assert master["Cache-Control"] == "private, max-age=60"
    assert (segment.status_code, segment["Content-Type"]) == (200, "video/mp2t")
    assert segment["Cache-Control"] == "private, max-age=31536000, immutable"


def test_the_stand_in_refuses_another_session_an_expired_link_and_is_off_unless_enabled(client, ladder, settings):
    client.force_login(MemberFactory())
    url = _player_url(client, ladder)
    expired = ladder_url_sign(ladder_path=LADDER, session_key=client.cookies["sessionid"].value, expires=1)

    assert client.get(expired).status_code == 403
    client.cookies["sessionid"] = "someone-else"
    assert client.get(url).status_code == 403
    settings.MEDIA_SERVE_FROM_DJANGO = False
    assert client.get(url).status_code == 404


def test_the_admin_preview_of_an_upload_plays_from_a_url_signed_for_the_staff_session(client, ladder):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))

    html = client.get(f"/admin/videos/video/{ladder.pk}/change/").content.decode()

    found = re.search(r'data-external-id="(/hls/[^"]+)"', html)
    assert found, "no preview player"
    session = client.cookies["sessionid"].value
    assert ladder_request_check(
        path=unescape(found.group(1)).removeprefix("/hls/"), session_key=session, now=time.time()
    )


def test_the_admin_preview_of_an_upload_waits_for_its_ladder(client, ladder):
    ladder.ladder_path = ""
    ladder.is_published = False
    ladder.save()
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))

    html = client.get(f"/admin/videos/video/{ladder.pk}/change/").content.decode()

    assert "The preview plays once the transcoding is ready." in html


def test_the_watch_page_of_an_upload_allows_media_from_its_own_origin_only(client, ladder):
    # nginx serves the ladder on the site's origin (local files and S3 alike): the policy names
    # no other media or connect source.
    client.force_login(MemberFactory())

    policy = client.get(ladder.get_absolute_url())["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["media-src"] == "'self' blob:"
    assert directives["connect-src"] == "'self'"


def _expires(url: str) -> int:
    found = re.match(r"^/hls/[A-Za-z0-9_-]{22}/([0-9]+)/", url)
    assert found, url
    return int(found.group(1))


def test_a_copied_ladder_url_stops_within_minutes_however_long_the_video(client, ladder, settings):
    # A three-hour video: the URL must not last three hours (anyone handed a copy with the cookie
    # could keep fetching); the open page renews it instead (next test).
    ladder.duration = 3 * 3600
    ladder.save()
    settings.MEDIA_URL_TTL_SECONDS = 600
    client.force_login(MemberFactory())

    before = int(time.time())
    url = _player_url(client, ladder)

    assert before + 600 <= _expires(url) <= int(time.time()) + 600
    session = client.cookies["sessionid"].value
    path = url.removeprefix("/hls/")
    assert ladder_request_check(path=path, session_key=session, now=before + 599) is not None
    assert ladder_request_check(path=path, session_key=session, now=time.time() + 601) is None


def _media_url(client, video, **extra):
    return client.post(reverse("videos:media-url", args=[video.slug]), **extra)


def test_the_player_gets_a_ladder_url_freshly_signed_for_its_session(client, ladder, settings, monkeypatch):
    ladder.duration = 3 * 3600
    ladder.save()
    client.force_login(MemberFactory())
    first = _player_url(client, ladder)
    later = time.time() + 300
    monkeypatch.setattr(time, "time", lambda: later)

    answer = _media_url(client, ladder)

    assert answer.status_code == 200, answer.content
    assert answer["Cache-Control"] == "no-store"
    fresh = answer.json()["url"]
    assert _expires(fresh) == int(later) + settings.MEDIA_URL_TTL_SECONDS > _expires(first)
    # At least this long left: the expiry is a whole second.
    assert answer.json()["expiresIn"] == settings.MEDIA_URL_TTL_SECONDS - 1
    # The same ladder, signed for this browser session only.
    assert fresh.split("/", 4)[4] == first.split("/", 4)[4]
    session = client.cookies["sessionid"].value
    assert ladder_request_check(path=fresh.removeprefix("/hls/"), session_key=session, now=later + 1)
    assert ladder_request_check(path=fresh.removeprefix("/hls/"), session_key="another", now=later + 1) is None


def test_a_url_asked_for_with_another_sessions_cookie_is_useless_to_the_first(client, ladder):
    member = MemberFactory.create()
    client.force_login(member)
    other = Client()
    other.force_login(member)  # the same member in another browser: another session

    theirs = _media_url(other, ladder).json()["url"]

    path = theirs.removeprefix("/hls/")
    assert ladder_request_check(path=path, session_key=other.cookies["sessionid"].value, now=time.time())
    assert ladder_request_check(path=path, session_key=client.cookies["sessionid"].value, now=time.time()) is None


def test_a_visitor_watching_a_public_upload_gets_fresh_urls_without_a_tracker(client, ladder):
    ladder.access = "public"
    ladder.save()
    page = client.get(ladder.get_absolute_url()).content.decode()
    assert tracker_config(page) is None
    assert 'data-media-url-endpoint="/videos/' in page

    answer = _media_url(client, ladder)

    assert answer.status_code == 200, answer.content
    # No session: signed for the empty cookie, which nginx compares with the visitor's (none).
    url = answer.json()["url"]
    assert ladder_request_check(path=url.removeprefix("/hls/"), session_key="", now=time.time())


@pytest.mark.parametrize(
    ("who", "case", "status", "message"),
    [
        ("visitor", "members-only", 401, "log in"),
        ("unconfirmed", "members-only", 403, "confirm your email"),
        ("member", "paid without the plan", 403, "plan"),
        ("member", "dripped item not open", 403, "not opened"),
        ("member", "unpublished", 404, "no such video"),
    ],
)
def test_the_media_url_is_refused_where_the_watch_page_is(client, ladder, who, case, status, message):
    if who != "visitor":
        client.force_login(MemberFactory(confirmed=who == "member"))
    ladder.access = "paid" if "paid" in case else "members"
    ladder.is_published = case != "unpublished"
    ladder.save()
    if "dripped" in case:
        PlaylistItemFactory(playlist=PlaylistFactory(), video=ladder, position=1, drip_days=3)

    answer = _media_url(client, ladder)

    assert answer.status_code == status, answer.content
    assert message in answer.json()["error"]
    assert answer["Cache-Control"] == "no-store"
    # The watch page refuses the same person.
    assert client.get(ladder.get_absolute_url()).status_code == (404 if status == 404 else 403)


def test_the_media_url_is_refused_for_an_unavailable_video_a_hosted_one_and_an_unknown_slug(client, ladder):
    client.force_login(MemberFactory())
    hosted = VideoFactory()
    ladder.is_unavailable = True
    ladder.save()

    gone = _media_url(client, ladder)
    not_upload = _media_url(client, hosted)
    unknown = client.post(reverse("videos:media-url", args=["never-made"]))

    assert (gone.status_code, gone.json()["error"]) == (410, "this video is no longer available")
    assert not_upload.status_code == 404
    assert "not an upload" in not_upload.json()["error"]
    assert (unknown.status_code, unknown.json()["error"]) == (404, "no such video")


def test_staff_get_a_url_for_an_unpublished_upload_they_preview(client, ladder):
    ladder.is_published = False
    ladder.save()
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    preview = client.get(f"/admin/videos/video/{ladder.pk}/change/").content.decode()
    assert f'data-media-url-endpoint="/videos/{ladder.slug}/media-url/"' in preview

    assert _media_url(client, ladder).status_code == 200


def test_the_media_url_needs_a_post_with_the_csrf_token(ladder):
    client = Client(enforce_csrf_checks=True)
    client.force_login(MemberFactory.create())
    page = client.get(ladder.get_absolute_url()).content.decode()
    token = re.search(r'data-csrf-token="([^"]+)"', page)
    assert token

    assert client.get(reverse("videos:media-url", args=[ladder.slug])).status_code == 405
    assert _media_url(client, ladder).status_code == 403
    assert _media_url(client, ladder, headers={"X-CSRFToken": token.group(1)}).status_code == 200


def test_a_client_asking_in_a_loop_is_cut_but_redis_being_down_stops_no_player(client, ladder, settings, monkeypatch):
    cache.clear()
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "media_url": "2/m/ip"}
    client.force_login(MemberFactory())
    try:
        assert [_media_url(client, ladder).status_code for _ in range(2)] == [200, 200]
        limited = _media_url(client, ladder)
        assert limited.status_code == 429
        assert limited["Retry-After"] == "60"
        assert "too many" in limited.json()["error"]

        def down(*args, **kwargs):
            raise RedisConnectionError("Redis is down")

        monkeypatch.setattr(ratelimit, "consume", down)
        assert _media_url(client, ladder).status_code == 200
    finally:
        cache.clear()


def test_a_token_renewal_carries_no_media_url_even_for_an_upload(client, ladder):
    member = MemberFactory()
    client.force_login(member)
    token = viewing_session_start(user_id=member.pk, video_id=ladder.pk, members_only=True).token

    renewed = client.post(reverse("analytics:watch-renew"), {"token": token}, content_type="application/json")

    assert renewed.status_code == 200, renewed.content
    assert "mediaUrl" not in renewed.json()


def test_the_page_tells_the_player_how_long_its_url_works_and_the_tracker_keeps_the_tokens_cadence(
    client, ladder, settings
):
    # The player renews its own URL (a third of this); the tracker renews its token for the token.
    settings.WATCH_TOKEN_TTL_SECONDS = 600
    settings.MEDIA_URL_TTL_SECONDS = 60
    client.force_login(MemberFactory())

    page = client.get(ladder.get_absolute_url()).content.decode()

    assert 'data-media-url-life="59"' in page
    assert tracker_config(page)["renewEveryMs"] == 200_000
