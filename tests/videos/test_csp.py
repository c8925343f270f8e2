"""The Content-Security-Policy: exactly the providers' frame and script origins and our own files."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import VideoFactory

pytestmark = pytest.mark.django_db

EXPECTED = (
    "default-src 'self'; "
    "script-src 'self' https://www.youtube.com https://player.vimeo.com https://fast.wistia.com; "
    "frame-src https://www.youtube-nocookie.com https://player.vimeo.com https://fast.wistia.net; "
    "img-src 'self' data: https://i.ytimg.com; "
    "media-src 'self' blob:; "
    "connect-src 'self'; "
    "worker-src 'self' blob:; "
    "style-src 'self'; "
    "font-src 'self'; "
    "object-src 'none'; "
    "base-uri 'self'; "
    "form-action 'self'; "
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
