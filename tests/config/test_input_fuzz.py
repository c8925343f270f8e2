"""Every client value is hostile: fuzzed bodies of every JSON endpoint and query strings of every
public page never get a 5xx, and a refused body changes nothing (finding 6, docs/ATTACKS.md).

The watch endpoint has its own shape-aware fuzz (tests/analytics/test_watch_endpoint_fuzz.py); here
every JSON endpoint gets arbitrary JSON, hostile raw bytes and the classic 500-finders, and every
public page gets arbitrary query strings.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.stream import STREAM, stream_client
from tests.factories import PlaylistFactory, VideoFactory
from videos.models import Video, VideoDurationVote, VideoPlaybackProblem

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
HOSTILE_BODIES = [
    b"[" * 5000 + b"]" * 5000,  # deeper than any parser's recursion limit
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    json.dumps({f"k{i:x}": i for i in range(1500)}).encode(),  # many unknown keys
    b"\xff\xfe\x00garbage",
    b'{"kind": "duration", "seconds": 1e999}',
    b'{"kind": "duration", "seconds": 0.4}',
    b'{"kind": "unavailable", "code": 123456789012345678901234567890}',
    b'{"video_id": 1' + b"0" * 5000 + b"}",
    b"",
]
CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
]


@pytest.fixture
def site(db):
    video = VideoFactory(members_only=False, duration=600, slug="fuzz-clip")
    PlaylistFactory(slug="fuzz-list")
    return video


def json_endpoints(video) -> list[str]:
    return ["/api/watch/", "/api/watch/beacon/", f"/videos/{video.pk}/report/"]


def snapshot(video) -> tuple:
    video.refresh_from_db()
    return (
        stream_client().xlen(STREAM),
        video.duration,
        video.is_unavailable,
        VideoDurationVote.objects.count(),
        VideoPlaybackProblem.objects.count(),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=[f"hostile{i}" for i in range(len(HOSTILE_BODIES))])
def test_hostile_bodies_get_a_4xx_with_a_message_on_every_json_endpoint(member, site, body, content_type):
    client = Client()
    client.force_login(member)
    before = snapshot(site)
    for url in json_endpoints(site):
        response = client.generic("POST", url, body, content_type=content_type)

        assert 400 <= response.status_code < 500, (url, response.status_code)
        assert response.json()["error"], url
        assert len(response.content) < 16 * 1024, url
    assert snapshot(site) == before


@pytest.mark.django_db
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values, anonymous=st.booleans())
def test_any_json_on_any_json_endpoint_is_never_a_5xx_and_a_refusal_changes_nothing(member, site, body, anonymous):
    client = Client()
    if not anonymous:
        client.force_login(member)
    for url in json_endpoints(site):
        before = snapshot(site)

        response = client.post(url, json.dumps(body, allow_nan=True), content_type="application/json")

        assert response.status_code < 500, (url, body)
        if response.status_code >= 400:
            assert snapshot(site) == before, (url, body)


query_values = st.text(max_size=40) | st.integers().map(str) | st.just("9" * 5000) | st.just("1h" * 20)


@pytest.mark.django_db
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(
        ["/", "/watch/fuzz-clip/", "/playlists/fuzz-list/", "/accounts/login/", "/accounts/signup/", "/missing/"]
    ),
    query=st.dictionaries(st.sampled_from(["q", "page", "t", "list", "next", "x"]), query_values, max_size=4),
    anonymous=st.booleans(),
)
def test_public_pages_never_answer_5xx_whatever_the_query_string(member, site, path, query, anonymous):
    client = Client()
    if not anonymous:
        client.force_login(member)

    response = client.get(path, query)

    assert response.status_code < 500, (path, query)
    assert Video.objects.filter(pk=site.pk, duration=600).exists()
