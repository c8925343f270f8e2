"""What one account can add to what others see: at most what one person really watching could.

Findings 3 and 4 of the integrity issue (docs/ATTACKS.md): fabricated views (any number of session
ids, events up to 30 days old, an unbounded stream) and a clock running ahead (future write
timestamps that survive "mark as unwatched" and account deletion).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from analytics.cassandra import cassandra_keyspace, cassandra_session
from analytics.rollups import rollups_refresh
from analytics.selectors import video_analytics_get
from analytics.services import SessionClaims, member_ingest_generation_get, viewing_session_token_sign
from analytics.stream import STREAM
from tests.analytics.helpers import drained, now_ms, stored_state
from tests.conftest import CASSANDRA_DBS, wait_until

URL = "/api/watch/"


def tracker_config(client: Client, video) -> dict:
    """The viewing session the watch page issues, read from the page like the tracker does."""
    html = client.get(video.get_absolute_url()).content.decode()
    found = re.search(r'<script id="watch-tracker-config" type="application/json">(.*?)</script>', html, re.S)
    assert found, "the watch page has no tracker config"
    return json.loads(found.group(1))


def body(config: dict, positions, *, t0: int | None = None, rate: float = 1.0) -> dict:
    t0 = now_ms() if t0 is None else t0
    return {
        "video_id": config["videoId"],
        "session_id": config["sessionId"],
        "token": config["token"],
        "events": [{"position": p, "client_ts": t0 + i, "rate": rate} for i, p in enumerate(positions)],
    }


def backdated(config: dict, user_id: int, *, seconds_ago: int) -> dict:
    """The same session as if the page had been issued `seconds_ago` (a real token, signed by us)."""
    claims = SessionClaims(
        user_id=user_id,
        video_id=config["videoId"],
        session_id=uuid.UUID(config["sessionId"]),
        issued_at_ms=now_ms() - seconds_ago * 1000,
        generation=member_ingest_generation_get(user_id=user_id),
    )
    return config | {"token": viewing_session_token_sign(claims=claims)}


def post(client: Client, data: dict):
    return client.post(URL, data, content_type="application/json")


@pytest.mark.django_db
def test_reloading_the_watch_page_mints_at_most_the_hourly_cap_of_new_sessions(client, member, video, redis, settings):
    client.force_login(member)

    cap = settings.WATCH_SESSIONS_PER_VIDEO_PER_HOUR
    sessions = [tracker_config(client, video)["sessionId"] for _ in range(cap + 5)]

    assert len(set(sessions)) == cap
    # Past the cap the page hands out the latest session again (same id, same issue time).
    assert set(sessions[cap - 1 :]) == {sessions[-1]}


@pytest.mark.django_db
@pytest.mark.parametrize("offset_ms", [-30 * 86_400_000, -5 * 60_000, 5 * 60_000])
def test_events_before_the_page_was_issued_or_after_now_are_refused(client, member, video, redis, offset_ms):
    client.force_login(member)
    config = tracker_config(client, video)

    response = post(client, body(config, [1, 2], t0=now_ms() + offset_ms))

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "events.client_ts"
    assert redis.xlen(STREAM) == 0


@pytest.mark.django_db
def test_a_session_cannot_send_more_seconds_than_wall_clock_time_allows(client, member, video, redis, settings):
    client.force_login(member)
    fresh = tracker_config(client, video)

    # Just issued: at most the slack (15 s) of seconds, however they are sliced.
    burst = post(client, body(fresh, range(200)))
    assert burst.status_code == 429
    assert int(burst["Retry-After"]) >= 1
    assert post(client, body(fresh, range(10))).status_code == 202
    assert post(client, body(fresh, range(10, 20))).status_code == 429
    # Seconds already sent (a retry, a re-watch) cost nothing.
    assert post(client, body(fresh, range(10))).status_code == 202

    # Issued 60 s ago at normal speed: 60 + 15 seconds, not one more.
    minute = backdated(fresh, member.pk, seconds_ago=60) | {"sessionId": str(uuid.uuid4())}
    minute = backdated(minute, member.pk, seconds_ago=60)
    statuses = [post(client, body(minute, range(start, start + 10))).status_code for start in range(0, 100, 10)]
    assert statuses == [202] * 7 + [429] * 3
    # At double speed the same minute allows twice as much.
    double = backdated(fresh | {"sessionId": str(uuid.uuid4())}, member.pk, seconds_ago=60)
    assert post(client, body(double, range(130), rate=2.0)).status_code == 202
    assert len(redis.xrange(STREAM)) == 1 + 1 + 7 + 1


@pytest.mark.django_db
def test_a_member_has_a_bounded_number_of_sessions_sending_at_once(client, member, video, redis, settings):
    settings.WATCH_CONCURRENT_SESSIONS = 4
    client.force_login(member)
    base = tracker_config(client, video)
    sessions = [backdated(base | {"sessionId": str(uuid.uuid4())}, member.pk, seconds_ago=60) for _ in range(5)]

    statuses = [post(client, body(s, [1])).status_code for s in sessions]

    assert statuses == [202, 202, 202, 202, 429]
    # The sessions already playing keep working.
    assert post(client, body(sessions[0], [2])).status_code == 202


@pytest.mark.django_db
def test_past_the_backlog_cap_the_endpoint_answers_503_and_appends_nothing(client, member, video, redis, settings):
    settings.WATCH_STREAM_MAX_BATCHES = 3
    client.force_login(member)
    config = backdated(tracker_config(client, video), member.pk, seconds_ago=600)

    statuses = [post(client, body(config, [i])) for i in range(5)]

    assert [r.status_code for r in statuses] == [202, 202, 202, 503, 503]
    assert int(statuses[-1]["Retry-After"]) > 0
    assert redis.xlen(STREAM) == 3


@pytest.mark.django_db
def test_logging_out_revokes_the_pages_token_at_once(member, video, redis):
    client = Client()
    client.force_login(member)
    config = tracker_config(client, video)
    assert post(client, body(config, [1])).status_code == 202

    client.post(reverse("account_logout"))
    client.force_login(member)

    assert post(client, body(config, [2])).status_code == 403
    assert post(client, body(tracker_config(client, video), [3])).status_code == 202


@pytest.mark.django_db
def test_a_password_change_revokes_the_members_tokens(client, member, video, redis):
    client.force_login(member)
    config = tracker_config(client, video)

    member.set_password("a new long passphrase 42")
    member.save()
    client.force_login(member)  # the old session ended with the password (Django's session hash)

    assert post(client, body(config, [1])).status_code == 403


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)
def test_whatever_one_account_sends_it_adds_at_most_one_person_watching(member, video, celery_worker_process):
    client = Client()
    client.force_login(member)
    config = tracker_config(client, video)  # the only session the server issued
    accepted = 0
    # The attack of finding 3: many batches, fresh session ids, events up to 30 days old, and the
    # real session asked for far more seconds than have passed.
    for i in range(60):
        forged = config | {"sessionId": str(uuid.uuid4())}
        statuses = {
            post(client, body(forged, range(200))).status_code,
            post(client, body(config, range(i * 200, i * 200 + 200), t0=now_ms() - (i % 30) * 86_400_000)).status_code,
        }
        assert 202 not in statuses, statuses
    for start in range(0, 600, 5):
        response = post(client, body(config, range(start, start + 5)))
        accepted += 5 if response.status_code == 202 else 0
    wait_until(drained, timeout=60)
    rollups_refresh()

    today = datetime.now(tz=UTC).date()
    figures = video_analytics_get(video_id=video.pk, since=today, until=today).range_total
    assert figures.sessions <= 1
    assert figures.views <= 1
    # The one session: at most the seconds that have really passed since the page was issued + slack.
    elapsed = (now_ms() - config["issuedAt"]) / 1000
    assert 0 < figures.watch_seconds == accepted <= elapsed + 15


def _writetimes(user_id: int, video_id: int) -> list[int]:
    row = (
        cassandra_session()
        .execute(
            f"SELECT WRITETIME(position) AS p, WRITETIME(last_watched) AS l, WRITETIME(hidden) AS h "
            f"FROM {cassandra_keyspace()}.member_videos WHERE user_id = %s AND video_id = %s",
            (user_id, video_id),
        )
        .one()
    )
    return [row.p, row.l, row.h] if row else []


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)
def test_a_clock_running_ahead_cannot_pin_progress_past_a_clear(member, video, celery_worker_process):
    client = Client()
    client.force_login(member)
    config = tracker_config(client, video)
    ahead = now_ms() + 55_000  # within the accepted skew: a browser clock a minute fast
    before_post = now_ms()

    assert post(client, body(config, range(5), t0=ahead)).status_code == 202
    wait_until(drained, timeout=60)

    # Every cell timestamp is the server's, not the browser's.
    stamps = _writetimes(member.pk, video.pk)
    assert stamps
    assert all(before_post * 1000 <= t <= now_ms() * 1000 for t in stamps), stamps
    client.post(reverse("analytics:member-video-action", args=[video.pk, "unwatched"]))

    assert _writetimes(member.pk, video.pk) == []
    assert "resumePosition" in tracker_config(client, video)
    assert tracker_config(client, video)["resumePosition"] is None


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)
def test_account_deletion_leaves_nothing_even_after_future_dated_events(member, video, celery_worker_process):
    from accounts.services import member_account_delete

    client = Client()
    client.force_login(member)
    config = tracker_config(client, video)
    assert post(client, body(config, range(5), t0=now_ms() + 55_000)).status_code == 202
    wait_until(drained, timeout=60)
    assert stored_state(member.pk, video.pk)["events"]
    user_id = member.pk

    member_account_delete(user=member)

    assert stored_state(user_id, video.pk) == {
        "events": [],
        "sessions": {},
        "position": None,
        "coverage": frozenset(),
        "watched": None,
    }
    ks = cassandra_keyspace()
    for table in ("member_videos", "member_video_coverage"):
        assert not list(cassandra_session().execute(f"SELECT * FROM {ks}.{table} WHERE user_id = %s", (user_id,)))


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_batches_of_an_erased_member_still_queued_are_dropped_by_the_drain(member, video, redis):
    from accounts.services import member_account_delete
    from analytics.services import WatchBatch, watch_batch_enqueue, watch_stream_drain

    user_id = member.pk
    t0 = now_ms() - 10_000
    watch_batch_enqueue(
        batch=WatchBatch(user_id, video.pk, uuid.uuid4(), tuple((p, t0 + p, 1.0) for p in range(5))), claims=None
    )

    member_account_delete(user=member)
    result = watch_stream_drain(consumer="test:erase", budget_seconds=10)

    assert result.events == 0
    assert redis.xlen(STREAM) == 0
    assert stored_state(user_id, video.pk)["events"] == []
