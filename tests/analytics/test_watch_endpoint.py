"""Input validation of the watch endpoint: bad bodies get a 4xx with a reason and enqueue nothing."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from django.urls import reverse

from analytics.services import WatchBatch
from analytics.stream import STREAM, stream_client
from tests.analytics.helpers import signed
from tests.factories import VideoFactory

URL = "/api/watch/"


def now_ms() -> int:
    return int(time.time() * 1000)


def good_body(video_id: int) -> dict:
    return {
        "video_id": video_id,
        "session_id": str(uuid.uuid4()),
        "events": [{"position": 5, "client_ts": now_ms(), "rate": 1.0}],
    }


class Stream:
    """The real Redis stream the endpoint appends to (tests have a Redis database of their own)."""

    def __init__(self):
        self.client = stream_client()
        self.client.flushdb()

    def batches(self) -> list[WatchBatch]:
        entries: Any = self.client.xrange(STREAM)
        return [WatchBatch.from_json(fields[b"b"]) for _, fields in entries]

    def is_empty(self) -> bool:
        return self.client.xlen(STREAM) == 0


@pytest.fixture
def enqueued():
    return Stream()


def test_the_url_is_named():
    assert reverse("analytics:watch-batch") == URL


@pytest.mark.django_db
def test_an_anonymous_post_gets_401_and_enqueues_nothing(client, video, enqueued):
    response = client.post(URL, good_body(video.pk), content_type="application/json")

    assert response.status_code == 401
    assert "log in" in response.json()["error"]
    assert enqueued.is_empty()


def send(client, user, body, url=URL):
    """POST `body` with its page's token, as the tracker does (the token binds member, video, session)."""
    data = body if isinstance(body, str) else json.dumps(body if "token" in body else signed(body, user.pk))
    return client.post(url, data, content_type="application/json")


@pytest.mark.django_db
def test_a_good_batch_is_enqueued_for_the_sessions_member(client, member, video, enqueued):
    client.force_login(member)

    response = send(client, member, good_body(video.pk))

    assert response.status_code == 202
    (batch,) = enqueued.batches()
    assert (batch.user_id, batch.video_id, batch.events[0][0]) == (member.pk, video.pk, 5)


@pytest.mark.django_db
def test_a_user_id_in_the_body_is_refused_never_used(client, member, video, enqueued):
    client.force_login(member)

    response = send(client, member, good_body(video.pk) | {"user_id": 999})

    assert response.status_code == 400
    assert enqueued.is_empty()


RAW = '{"video_id": VID, "session_id": "SID", "events": [EVENT]}'
BAD_BODIES = {
    "not json": "{not json",
    "a list": json.dumps([1, 2]),
    "video id as string": {"video_id": "1"},
    "missing events": {"events": None},
    "no events": {"events": []},
    "negative position": {"events": [{"position": -1, "client_ts": "NOW"}]},
    "float position": {"events": [{"position": 1.5, "client_ts": "NOW"}]},
    # Python's json accepts NaN/Infinity literals; the schema must still refuse them.
    "NaN position": RAW.replace("EVENT", '{"position": NaN, "client_ts": NOW}'),
    "NaN rate": RAW.replace("EVENT", '{"position": 1, "client_ts": NOW, "rate": NaN}'),
    "infinite rate": RAW.replace("EVENT", '{"position": 1, "client_ts": NOW, "rate": Infinity}'),
    "position past the duration": {"events": [{"position": 602, "client_ts": "NOW"}]},
    "client time in the future": {"events": [{"position": 1, "client_ts": "FUTURE"}]},
    "too many events": {"events": [{"position": i, "client_ts": "NOW"} for i in range(201)]},
    "rate faster than any player": {"events": [{"position": 1, "client_ts": "NOW", "rate": 8}]},
    "session id not a uuid": {"session_id": "abc"},
    "session id not v4": {"session_id": str(uuid.uuid1())},
    "unknown field": {"extra": 1},
}


def render(template, video_id: int, user_id: int) -> str:
    now, future = now_ms(), now_ms() + 3600_000
    if isinstance(template, str):
        return template.replace("VID", str(video_id)).replace("SID", str(uuid.uuid4())).replace("NOW", str(now))
    body = good_body(video_id) | template
    if "session_id" not in template:
        body = signed(body, user_id)
    if isinstance(body.get("events"), list):
        body["events"] = [
            e | {"client_ts": {"NOW": now, "FUTURE": future}.get(e.get("client_ts"), e.get("client_ts"))}
            for e in body["events"]
        ]
    return json.dumps(body)


@pytest.mark.django_db
@pytest.mark.parametrize("case", BAD_BODIES)
def test_a_bad_body_gets_400_with_a_reason_and_enqueues_nothing(client, member, video, enqueued, case):
    client.force_login(member)

    response = client.post(URL, render(BAD_BODIES[case], video.pk, member.pk), content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]
    assert enqueued.is_empty()


@pytest.mark.django_db
def test_an_unknown_or_unpublished_video_gets_404_and_enqueues_nothing(client, member, enqueued):
    client.force_login(member)
    draft = VideoFactory(is_published=False)

    for video_id in (draft.pk, draft.pk + 1000):
        response = send(client, member, good_body(video_id))
        assert response.status_code == 404
    assert enqueued.is_empty()


@pytest.mark.django_db
def test_a_get_is_refused(client, member):
    client.force_login(member)
    assert client.get(URL).status_code == 405


@pytest.mark.django_db
def test_past_the_members_rate_the_endpoint_answers_429_and_enqueues_nothing_more(
    client, member, video, enqueued, settings
):
    settings.WATCH_BATCHES_PER_MINUTE = 3
    client.force_login(member)

    statuses = [send(client, member, good_body(video.pk)).status_code for _ in range(5)]

    assert statuses == [202, 202, 202, 429, 429]
    assert len(enqueued.batches()) == 3


@pytest.mark.django_db
def test_when_redis_is_unreachable_the_endpoint_answers_503(client, member, video, settings):
    from analytics import stream

    client.force_login(member)
    body = signed(good_body(video.pk), member.pk)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    stream._client.cache_clear()
    stream._enqueue_script.cache_clear()

    response = send(client, member, body)

    assert response.status_code == 503
    assert "retry" in response.json()["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", [URL, URL + "beacon/"])
def test_a_batch_needs_the_pages_signed_token_for_this_member_video_and_session(client, member, video, enqueued, url):
    from analytics.services import viewing_session_start
    from tests.factories import MemberFactory

    client.force_login(member)
    viewing = viewing_session_start(user_id=member.pk, video_id=video.pk, members_only=True)
    body = good_body(video.pk) | {"session_id": str(viewing.session_id)}
    other_member = viewing_session_start(user_id=MemberFactory().pk, video_id=video.pk, members_only=True)
    public = VideoFactory(members_only=False)
    other_video = viewing_session_start(user_id=member.pk, video_id=public.pk, members_only=False)

    refused = [
        body,  # no token
        body | {"token": viewing.token + "x"},  # forged
        body | {"session_id": str(uuid.uuid4()), "token": viewing.token},  # another session
        body | {"session_id": str(other_member.session_id), "token": other_member.token},  # another member's
        body | {"session_id": str(other_video.session_id), "token": other_video.token},  # another video's
    ]
    for bad in refused:
        assert client.post(url, bad, content_type="application/json").status_code == 403
    assert enqueued.is_empty()

    response = client.post(url, body | {"token": viewing.token}, content_type="application/json")

    assert response.status_code == 202
    assert len(enqueued.batches()) == 1
