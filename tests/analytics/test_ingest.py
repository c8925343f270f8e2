"""The watch-batch endpoint over real HTTP: config.wsgi.application (the dispatcher gunicorn serves)
on a local server thread. It keeps every property of the Django endpoint without a SQL query, a
session or the CSRF middleware: the signed viewing-session token is the credential."""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from django.db.backends import utils as db_utils
from django.test import Client
from django.urls import reverse

from analytics.acceptance import WatchBatch
from analytics.stream import STREAM, stream_client
from analytics.viewing import viewing_session_start
from tests.analytics.helpers import batch_body, now_ms, signed
from tests.factories import MemberFactory, VideoFactory
from videos.selectors import video_published_snapshot_clear

pytestmark = pytest.mark.django_db(transaction=True)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    from config.wsgi import application

    stream_client().flushdb()
    video_published_snapshot_clear()
    httpd: WSGIServer = make_server("127.0.0.1", 0, application, handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", httpd.server_port
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)
    video_published_snapshot_clear()


@pytest.fixture
def sql() -> Iterator[list[str]]:
    """Every SQL statement any thread runs while the test does (the server thread included)."""
    statements: list[str] = []
    original = db_utils.CursorWrapper._execute_with_wrappers

    def counting(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        statements.append(sql)
        return original(self, sql, *args, **kwargs)

    db_utils.CursorWrapper._execute_with_wrappers = counting
    yield statements
    db_utils.CursorWrapper._execute_with_wrappers = original


def send(
    server: tuple[str, int],
    body: Any,
    *,
    path: str = "/api/watch/",
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
    conn = http.client.HTTPConnection(server[0], server[1], timeout=10)
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, (json.loads(raw) if raw else {}), response


def queued() -> list[WatchBatch]:
    entries: Any = stream_client().xrange(STREAM)
    return [WatchBatch.from_json(fields[b"b"]) for _, fields in entries]


def fresh(video_id: int, user_id: int, *, start: int = 0) -> dict[str, Any]:
    return signed(batch_body(video_id, uuid.uuid4(), range(start, start + 10), t0=now_ms() - 10_000), user_id)


def test_an_accepted_batch_costs_no_sql_query(server, sql, member, video):
    assert send(server, fresh(video.pk, member.pk))[0] == 202  # loads the catalogue snapshot once
    sql.clear()

    statuses = [send(server, fresh(video.pk, member.pk))[0] for _ in range(5)]

    assert statuses == [202] * 5
    assert sql == []
    assert len(queued()) == 6
    assert {(b.user_id, b.video_id) for b in queued()} == {(member.pk, video.pk)}


def test_the_beacon_path_is_served_the_same_way(server, sql, member, video):
    status, body, _ = send(server, fresh(video.pk, member.pk), path="/api/watch/beacon/")

    assert (status, body) == (202, {"accepted": 10})
    assert len(queued()) == 1


def test_without_a_token_the_answer_is_401_and_nothing_is_queued(server, member, video):
    body = batch_body(video.pk, uuid.uuid4(), range(10), t0=now_ms() - 10_000)

    status, answer, _ = send(server, body)

    assert status == 401
    assert "log in" in answer["error"]
    assert queued() == []


def test_a_forged_or_misbound_token_is_refused(server, member, video):
    other = VideoFactory(members_only=False, duration=600)
    good = fresh(video.pk, member.pk)
    bad = [
        good | {"token": good["token"][:-2] + "xx"},  # forged signature
        good | {"token": "not-a-token"},
        good | {"video_id": other.pk},  # another video under this video's token
        good | {"session_id": str(uuid.uuid4())},  # another session
    ]

    assert [send(server, body)[0] for body in bad] == [403, 403, 403, 403]
    assert queued() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_cross_site_request_is_refused_even_with_a_genuine_token(server, member, video, headers):
    status, _, _ = send(server, fresh(video.pk, member.pk), headers=headers)

    assert status == 403
    assert queued() == []


def test_a_same_origin_request_is_accepted(server, member, video):
    host, port = server
    headers = {"Origin": f"http://{host}:{port}", "Sec-Fetch-Site": "same-origin"}

    assert send(server, fresh(video.pk, member.pk), headers=headers)[0] == 202


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"])
def test_what_a_cross_site_form_can_send_is_refused(server, member, video, content_type):
    # A form (or a no-CORS fetch) from another site can only send these types, and no token of ours.
    status, _, _ = send(server, json.dumps(fresh(video.pk, member.pk)), headers={"Content-Type": content_type})

    assert status == 415
    assert queued() == []


def test_a_revoked_token_is_refused_at_once_after_logout(server, member, video):
    client = Client()
    client.force_login(member)
    viewing = viewing_session_start(user_id=member.pk, video_id=video.pk, members_only=True)
    body = batch_body(video.pk, viewing.session_id, [1], t0=viewing.issued_at_ms + 1000) | {"token": viewing.token}
    assert send(server, body)[0] == 202

    client.logout()

    later = batch_body(video.pk, viewing.session_id, [2], t0=viewing.issued_at_ms + 2000) | {"token": viewing.token}
    status, answer, _ = send(server, later)
    assert status == 403
    assert "revoked" in answer["error"]
    assert len(queued()) == 1


def test_an_unpublished_or_unknown_video_gets_404(server, member):
    draft = VideoFactory(is_published=False, members_only=False)

    for video_id in (draft.pk, draft.pk + 1000):
        status, _, _ = send(server, fresh(video_id, member.pk))
        assert status == 404
    assert queued() == []


def test_unpublishing_reaches_the_endpoint_within_the_cache_period(server, member, video, settings):
    settings.CATALOGUE_SNAPSHOT_SECONDS = 0
    assert send(server, fresh(video.pk, member.pk))[0] == 202

    video.is_published = False
    video.save(update_fields=["is_published"])

    assert send(server, fresh(video.pk, member.pk, start=20))[0] == 404
    assert len(queued()) == 1


def test_positions_past_the_duration_and_times_outside_the_session_get_400(server, member, video):
    past_end = signed(batch_body(video.pk, uuid.uuid4(), [video.duration + 2], t0=now_ms()), member.pk)
    future = signed(batch_body(video.pk, uuid.uuid4(), [1], t0=now_ms() + 3_600_000), member.pk)

    assert [send(server, body)[0] for body in (past_end, future)] == [400, 400]
    assert queued() == []


def test_bad_bodies_get_4xx_without_reaching_the_stream(server, member, video):
    too_large = json.dumps(fresh(video.pk, member.pk) | {"pad": "x" * 17_000})

    assert send(server, "{not json")[0] == 400
    assert send(server, fresh(video.pk, member.pk) | {"user_id": 1})[0] == 400
    assert send(server, too_large)[0] == 413
    assert queued() == []


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
    body = batch_body(video_id, uuid.uuid4(), [5], t0=now) | template
    if "session_id" not in template:
        body = signed(body, user_id)
    if isinstance(body.get("events"), list):
        body["events"] = [
            e | {"client_ts": {"NOW": now, "FUTURE": future}.get(e.get("client_ts"), e.get("client_ts"))}
            for e in body["events"]
        ]
    return json.dumps(body)


@pytest.mark.parametrize("case", BAD_BODIES)
def test_a_bad_body_gets_400_with_a_reason_and_enqueues_nothing(server, member, video, case):
    status, answer, _ = send(server, render(BAD_BODIES[case], video.pk, member.pk))

    assert status == 400, answer
    assert answer["error"]
    assert queued() == []


def test_the_url_names_the_watch_page_reverses_are_the_paths_served_ahead_of_django(settings):
    paths = {reverse("analytics:watch-batch"), reverse("analytics:watch-beacon")}

    assert paths == {"/api/watch/", "/api/watch/beacon/"}
    assert paths <= set(settings.ROUTES_AHEAD_OF_DJANGO)


@pytest.mark.parametrize("path", ["/api/watch/", "/api/watch/beacon/"])
def test_through_djangos_own_routing_the_token_is_the_credential_as_ahead_of_django(member, video, path):
    # Django's test client (and ASGI) reach the same endpoint: no session needed, same answers.
    stream_client().flushdb()
    client = Client(enforce_csrf_checks=True)

    accepted = client.post(path, fresh(video.pk, member.pk), content_type="application/json")
    forged = fresh(video.pk, member.pk)
    refused = client.post(path, forged | {"token": forged["token"][:-2] + "xx"}, content_type="application/json")

    assert (accepted.status_code, accepted.json()) == (202, {"accepted": 10})
    assert accepted["Cache-Control"] == "no-store"
    assert refused.status_code == 403
    assert len(queued()) == 1


def test_past_the_members_rate_the_answer_is_429_with_retry_after(server, member, video, settings):
    settings.WATCH_BATCHES_PER_MINUTE = 2

    answers = [send(server, fresh(video.pk, member.pk, start=10 * i)) for i in range(3)]

    assert [status for status, _, _ in answers] == [202, 202, 429]
    assert int(answers[2][2].getheader("Retry-After") or 0) >= 1
    assert len(queued()) == 2


def test_when_redis_is_unreachable_the_answer_is_503(server, member, video, settings):
    from analytics import acceptance, stream

    body = fresh(video.pk, member.pk)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    stream._client.cache_clear()
    acceptance._enqueue_script.cache_clear()

    status, _, response = send(server, body)

    assert status == 503
    assert response.getheader("Retry-After") == "5"


def test_a_get_gets_405(server):
    status, _, response = send(server, "", method="GET")

    assert status == 405
    assert response.getheader("Allow") == "POST"


def test_every_other_path_is_still_django(server):
    conn = http.client.HTTPConnection(server[0], server[1], timeout=10)
    conn.request("GET", "/accounts/login/")
    response = conn.getresponse()
    page = response.read()
    conn.close()

    assert response.status == 200
    assert b"<form" in page
    assert "text/html" in (response.getheader("Content-Type") or "")


def test_a_members_only_video_needs_only_the_token_which_the_watch_page_issues_to_those_who_may_watch(server, video):
    # The token is the proof of the right to a members-only video (analytics/ingest.py): the watch
    # page issues one only with Access.WATCH, which members-only videos grant to confirmed members.
    from videos.selectors import Access, video_access_get

    members_only: Any = VideoFactory(members_only=True, duration=600)
    confirmed: Any = MemberFactory()
    unconfirmed: Any = MemberFactory(confirmed=False)
    access = [video_access_get(user=m, slug=members_only.slug) for m in (confirmed, unconfirmed)]
    assert [a.access if a else None for a in access] == [Access.WATCH, Access.CONFIRM_EMAIL]

    assert send(server, fresh(members_only.pk, confirmed.pk))[0] == 202
