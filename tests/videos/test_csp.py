"""The Content-Security-Policy: exactly the providers' frame and script origins and our own files."""

from __future__ import annotations

import pytest
from django.urls import reverse

from config.csp import BadSource, csp_source_validate, policy_header
from tests.factories import VideoFactory

INJECTION = "https://cdn.example.com; script-src-elem 'unsafe-inline' *; x/clip.mp4"

pytestmark = pytest.mark.django_db

EXPECTED = (
    "default-src 'self'; "
    "script-src 'self' https://www.youtube.com https://player.vimeo.com https://fast.wistia.com; "
    "frame-src https://www.youtube-nocookie.com https://player.vimeo.com https://fast.wistia.net; "
    # No provider image host: thumbnails are uploaded or downloaded by the server (videos/facts.py).
    "img-src 'self' data:; "
    "media-src 'self' blob:; "
    "connect-src 'self'; "
    "worker-src 'self' blob:; "
    "style-src 'self'; "
    "font-src 'self'; "
    "object-src 'none'; "
    "base-uri 'self'; "
    "form-action 'self' https://checkout.stripe.com https://billing.stripe.com; "
    "frame-ancestors 'none'"
)


def test_every_page_sends_the_exact_policy(client):
    video = VideoFactory(members_only=False)

    for url in (reverse("videos:catalogue"), video.get_absolute_url(), "/no-such-page/"):
        assert client.get(url)["Content-Security-Policy"] == EXPECTED


def test_a_self_hosted_file_on_another_origin_is_allowed_for_its_own_page_only(client):
    video = VideoFactory(members_only=False, provider="file", external_id="https://cdn.example.com/v/a.m3u8")

    header = client.get(video.get_absolute_url())["Content-Security-Policy"]

    assert "media-src 'self' blob: https://cdn.example.com;" in header
    assert "connect-src 'self' https://cdn.example.com;" in header
    assert client.get(reverse("videos:catalogue"))["Content-Security-Policy"] == EXPECTED


def test_a_file_served_by_the_site_needs_no_extra_origin(client):
    video = VideoFactory(members_only=False, provider="file", external_id="/static/video/sample.mp4")

    assert client.get(video.get_absolute_url())["Content-Security-Policy"] == EXPECTED


def test_the_referrer_policy_lets_youtube_embeds_play(client):
    assert client.get(reverse("videos:catalogue"))["Referrer-Policy"] == "strict-origin-when-cross-origin"


# Finding 8: a stored file URL's "host" was copied into media-src/connect-src, adding a directive.
def test_a_bad_file_url_already_in_the_database_cannot_add_a_directive(client):
    video = VideoFactory(members_only=False, provider="file", external_id=INJECTION)

    header = client.get(video.get_absolute_url())["Content-Security-Policy"]

    assert header == EXPECTED
    assert "script-src-elem" not in header
    assert "unsafe-inline" not in header


@pytest.mark.parametrize(
    "source",
    [
        "https://cdn.example.com; script-src-elem 'unsafe-inline' *; x",
        "https://cdn.example.com script-src *",
        "https://cdn.example.com,https://evil.example",
        "https://cdn.example.com/path",
        "https://user@cdn.example.com",
        "https://cdn.example.com:99999",
        "https://[::zz]",
        "'unsafe-inline'",
        "*",
        "data:",
        "javascript://x",
        "https://cdn.example.com\n",
    ],
)
def test_policy_header_refuses_a_source_that_is_not_scheme_host_port(source):
    with pytest.raises(BadSource):
        csp_source_validate(source)

    assert policy_header(media_sources=[source]) == EXPECTED


def test_policy_header_keeps_good_sources_beside_a_refused_one():
    header = policy_header(media_sources=["https://evil.example; script-src *", "https://CDN.example.com:8443"])

    assert "media-src 'self' blob: https://cdn.example.com:8443;" in header
    assert "evil" not in header
    assert csp_source_validate("https://[2001:db8::1]:443") == "https://[2001:db8::1]:443"
