"""Fuzzed bodies against the watch endpoint: never a 5xx, and never a write on a 4xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.stream import STREAM, stream_client
from tests.analytics.helpers import now_ms

URL = "/api/watch/"
NOW = now_ms()  # fixed per run: hypothesis needs strategies that do not change between examples

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def near_valid_bodies(draw):
    """Bodies shaped like a batch, with any field possibly replaced by something else."""
    event = st.fixed_dictionaries(
        {
            "position": st.integers(-5, 700) | json_values,
            "client_ts": st.integers(NOW - 40 * 86_400_000, NOW + 3_600_000) | json_values,
            "rate": st.floats(allow_nan=True, allow_infinity=True) | json_values,
        }
    )
    body = {
        "video_id": draw(st.sampled_from(["VIDEO"]) | json_values),
        "session_id": draw(st.uuids(version=4).map(str) | st.uuids().map(str) | json_values),
        "events": draw(st.lists(event, max_size=8) | json_values),
    }
    return draw(
        st.just(body) | st.dictionaries(st.sampled_from(["video_id", "session_id", "events", "x"]), json_values)
    )


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=near_valid_bodies() | json_values, raw=st.booleans())
def test_any_body_gets_a_non_5xx_answer_and_a_refusal_writes_nothing(client, member, video, body, raw):
    client.force_login(member)
    if isinstance(body, dict) and body.get("video_id") == "VIDEO":
        body["video_id"] = video.pk
    redis = stream_client()
    before = redis.xlen(STREAM)
    data = json.dumps(body, allow_nan=True)
    if raw:
        data = data[: len(data) // 2]  # truncated JSON

    response = client.post(URL, data, content_type="application/json")

    assert response.status_code < 500
    if response.status_code >= 400:
        assert redis.xlen(STREAM) == before
        assert response.json()["error"]
    else:
        assert response.status_code == 202
        assert redis.xlen(STREAM) == before + 1
