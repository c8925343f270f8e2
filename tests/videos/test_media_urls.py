"""The watch page of an uploaded video plays its ladder through a URL signed for the member's
session; Django's stand-in for nginx (development and tests only) checks it the same way."""

from __future__ import annotations

import re
import time
from html import unescape

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from analytics.viewing import viewing_session_start
from tests.factories import MemberFactory, VideoFactory
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


def test_each_token_renewal_hands_the_open_page_a_freshly_signed_ladder_url(client, ladder, settings, monkeypatch):
    ladder.duration = 3 * 3600
    ladder.save()
    member = MemberFactory()
    client.force_login(member)
    first = _player_url(client, ladder)
    token = viewing_session_start(user_id=member.pk, video_id=ladder.pk, members_only=False).token
    later = time.time() + 300
    monkeypatch.setattr(time, "time", lambda: later)

    renewed = client.post(reverse("analytics:watch-renew"), {"token": token}, content_type="application/json")

    assert renewed.status_code == 200, renewed.content
    fresh = renewed.json()["mediaUrl"]
    assert _expires(fresh) == int(later) + settings.MEDIA_URL_TTL_SECONDS > _expires(first)
    # The same ladder, signed for this browser session only.
    assert fresh.split("/", 4)[4] == first.split("/", 4)[4]
    session = client.cookies["sessionid"].value
    assert ladder_request_check(path=fresh.removeprefix("/hls/"), session_key=session, now=later + 1)
    assert ladder_request_check(path=fresh.removeprefix("/hls/"), session_key="another", now=later + 1) is None


def test_a_renewal_for_a_video_without_a_ladder_carries_no_media_url(client, settings):
    member = MemberFactory()
    video = VideoFactory(members_only=False)
    client.force_login(member)
    token = viewing_session_start(user_id=member.pk, video_id=video.pk, members_only=False).token

    renewed = client.post(reverse("analytics:watch-renew"), {"token": token}, content_type="application/json")

    assert renewed.status_code == 200
    assert "mediaUrl" not in renewed.json()


def test_the_open_page_renews_before_its_ladder_url_expires_even_when_that_is_before_its_token(
    client, ladder, settings
):
    # Each renewal brings the fresh ladder URL: renewals a third of the token's life apart would
    # let a shorter-lived URL expire in between, and hls.js never retries a refused (403) request.
    settings.WATCH_TOKEN_TTL_SECONDS = 600
    settings.MEDIA_URL_TTL_SECONDS = 60
    client.force_login(MemberFactory())
    other = VideoFactory(members_only=False)

    upload = tracker_config(client.get(ladder.get_absolute_url()).content.decode())
    hosted = tracker_config(client.get(other.get_absolute_url()).content.decode())

    assert upload["renewEveryMs"] == 20_000
    assert hosted["renewEveryMs"] == 200_000
