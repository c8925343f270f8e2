"""What one account can add to what others see: at most what one person really watching could.

Findings 3 and 4 of the integrity issue (docs/ATTACKS.md): fabricated views (any number of session
ids, events up to 30 days old, an unbounded stream) and a clock running ahead (future write
timestamps that survive "mark as unwatched" and account deletion).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from analytics.acceptance import SessionClaims, viewing_session_token_sign
from analytics.cassandra import cassandra_keyspace, cassandra_session
from analytics.rollups import rollups_refresh
from analytics.selectors import video_analytics_get
from analytics.stream import ISSUED_KEY, STREAM
from analytics.viewing import member_ingest_generation_get
from tests.analytics.helpers import drained, now_ms, session_started, stored_state
from tests.conftest import CASSANDRA_DBS, wait_until
from tests.factories import MemberFactory, VideoFactory

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


def resigned(config: dict, user_id: int, *, session_id: str | None = None) -> dict:
    """The page's config with a genuine token, signed now, for `session_id` (default: its own)."""
    session_id = session_id or config["sessionId"]
    claims = SessionClaims(
        user_id=user_id,
        video_id=config["videoId"],
        session_id=uuid.UUID(session_id),
        issued_at_ms=now_ms(),
        generation=member_ingest_generation_get(user_id=user_id),
        members=True,
    )
    return config | {"sessionId": session_id, "token": viewing_session_token_sign(claims=claims)}


def started(config: dict, *, seconds_ago: int) -> dict:
    """The same session as if its first batch had been accepted `seconds_ago`."""
    session_started(config["sessionId"], ms_ago=seconds_ago * 1000)
    return config


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

    # Its first batch starts the session's allowance: at most the slack (15 s), however sliced.
    burst = post(client, body(fresh, range(200)))
    assert burst.status_code == 429
    assert int(burst["Retry-After"]) >= 1
    assert post(client, body(fresh, range(10))).status_code == 202
    assert post(client, body(fresh, range(10, 20))).status_code == 429
    # Seconds already sent add nothing anywhere (same session, same day): they cost nothing.
    assert post(client, body(fresh, range(10))).status_code == 202

    # Started 60 s ago at normal speed: 60 + 15 seconds, not one more.
    minute = started(resigned(fresh, member.pk, session_id=str(uuid.uuid4())), seconds_ago=60)
    statuses = [post(client, body(minute, range(start, start + 10))).status_code for start in range(0, 100, 10)]
    assert statuses == [202] * 7 + [429] * 3
    # At double speed the same minute allows twice as much.
    double = started(resigned(fresh, member.pk, session_id=str(uuid.uuid4())), seconds_ago=60)
    assert post(client, body(double, range(130), rate=2.0)).status_code == 202
    assert len(redis.xrange(STREAM)) == 1 + 1 + 7 + 1


@pytest.mark.django_db
def test_a_hoarded_token_earns_nothing_for_the_time_it_waited(client, member, video, redis):
    client.force_login(member)
    config = tracker_config(client, video)

    # Issued long ago (within the token's life plus the late window) but never used: the allowance
    # starts at the first accepted batch, not at the issue time.
    claims = SessionClaims(
        member.pk,
        video.pk,
        uuid.UUID(config["sessionId"]),
        now_ms() - 9 * 60_000,
        member_ingest_generation_get(user_id=member.pk),
        True,
    )
    hoarded = config | {"token": viewing_session_token_sign(claims=claims)}
    # Its seconds claim times within the token's life: all the hoarder can do is the slack.
    t0 = now_ms() - 8 * 60_000
    assert post(client, body(hoarded, range(120), t0=t0)).status_code == 429
    assert post(client, body(hoarded, range(15), t0=t0)).status_code == 202
    assert post(client, body(hoarded, range(15, 30), t0=t0)).status_code == 429


@pytest.mark.django_db
def test_late_resends_land_only_for_seconds_recorded_while_the_token_was_valid(client, member, video, redis, settings):
    client.force_login(member)
    config = tracker_config(client, video)
    life_ms = settings.WATCH_TOKEN_TTL_SECONDS * 1000
    late_ms = settings.WATCH_LATE_WINDOW_SECONDS * 1000

    def token_issued(ms_ago: int) -> dict:
        claims = SessionClaims(
            member.pk,
            video.pk,
            uuid.UUID(config["sessionId"]),
            now_ms() - ms_ago,
            member_ingest_generation_get(user_id=member.pk),
            True,
        )
        return started(config | {"token": viewing_session_token_sign(claims=claims)}, seconds_ago=1200)

    expired = token_issued(life_ms + 5 * 60_000)  # expired 5 minutes ago: inside the late window
    recorded_while_valid = now_ms() - 6 * 60_000
    assert post(client, body(expired, range(5), t0=recorded_while_valid)).status_code == 202
    after_expiry = post(client, body(expired, range(5, 10), t0=now_ms() - 60_000))
    assert after_expiry.status_code == 400
    assert after_expiry.json()["errors"][0]["field"] == "events.client_ts"

    too_late = token_issued(life_ms + late_ms + 60_000)  # past its life and the late window
    assert post(client, body(too_late, range(10, 15), t0=now_ms() - late_ms)).status_code == 403
    assert redis.xlen(STREAM) == 1


@pytest.mark.django_db
def test_new_sessions_are_capped_over_a_sliding_hour_not_the_clock_hour(client, member, video, redis, monkeypatch):
    client.force_login(member)
    cap = 10
    before_the_hour = (now_ms() // 3_600_000) * 3_600_000 - 10_000
    clock = {"ms": before_the_hour}
    monkeypatch.setattr("analytics.acceptance.time.time", lambda: clock["ms"] / 1000)

    first = [tracker_config(client, video)["sessionId"] for _ in range(cap)]
    clock["ms"] += 14_000  # across the full hour
    after = {tracker_config(client, video)["sessionId"] for _ in range(10)}
    assert after == {first[-1]}
    clock["ms"] = before_the_hour + 3_600_000 + 1000  # an hour after the first ones
    assert tracker_config(client, video)["sessionId"] not in first


@pytest.mark.django_db
def test_a_member_has_a_bounded_number_of_sessions_sending_at_once(client, member, video, redis, settings):
    settings.WATCH_CONCURRENT_SESSIONS = 4
    client.force_login(member)
    base = tracker_config(client, video)
    sessions = [started(resigned(base, member.pk, session_id=str(uuid.uuid4())), seconds_ago=60) for _ in range(5)]

    statuses = [post(client, body(s, [1])).status_code for s in sessions]

    assert statuses == [202, 202, 202, 202, 429]
    # The sessions already playing keep working.
    assert post(client, body(sessions[0], [2])).status_code == 202


@pytest.mark.django_db
def test_past_the_backlog_cap_the_endpoint_answers_503_and_appends_nothing(client, member, video, redis, settings):
    settings.WATCH_STREAM_MAX_BATCHES = 3
    client.force_login(member)
    config = started(tracker_config(client, video), seconds_ago=600)

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
    # The attack of finding 3 (#11): many batches, fresh session ids, events up to 30 days old, and
    # the real session asked for far more seconds than have passed.
    for i in range(60):
        forged = config | {"sessionId": str(uuid.uuid4())}
        statuses = {
            post(client, body(forged, range(200))).status_code,
            post(client, body(config, range(i * 200, i * 200 + 200), t0=now_ms() - (i % 30) * 86_400_000)).status_code,
        }
        assert 202 not in statuses, statuses
    first_batch = None
    for start in range(0, 600, 5):
        response = post(client, body(config, range(start, start + 5)))
        if response.status_code == 202:
            accepted += 5
            first_batch = first_batch or now_ms()
    wait_until(drained, timeout=60)
    rollups_refresh()

    today = datetime.now(tz=UTC).date()
    figures = video_analytics_get(video_id=video.pk, since=today, until=today).range_total
    assert figures.sessions <= 1
    assert figures.views <= 1
    # The one session: at most the seconds that have really passed since its first batch + slack.
    assert first_batch is not None
    elapsed = (now_ms() - first_batch) / 1000
    assert 0 < figures.watch_seconds == accepted <= elapsed + 15


def _fake_clock(monkeypatch, start_ms: int) -> dict:
    """The server's clock (time.time, which the endpoint, the token signer and the Lua call's `now`
    all read) set to `start_ms` and moved by the test: half an hour of attack in seconds. Always in
    the past of the real clock, so the worker's own clock never bounds what it stores."""
    clock = {"ms": start_ms}
    monkeypatch.setattr("analytics.acceptance.time.time", lambda: clock["ms"] / 1000)
    return clock


def _renew(client: Client, token: str):
    return client.post(reverse("analytics:watch-renew"), {"token": token}, content_type="application/json")


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)
def test_hoarded_tokens_spent_in_rotation_add_at_most_what_one_person_could_watch(
    member, celery_worker_process, settings, monkeypatch
):
    """Finding 1 of #19: 40 sessions minted in seconds, aged, then spent four at a time with every
    trick the server might accept (old and renewed tokens, times spread over everything it allows)."""
    settings.WATCH_CONCURRENT_SESSIONS = 4
    settings.WATCH_BATCHES_PER_MINUTE = 1_000_000  # not what is proven here: only the seconds count
    rate = 4.0  # the fastest rate a batch may claim
    videos = [VideoFactory(members_only=False, duration=6 * 3600) for _ in range(4)]
    client = Client()
    client.force_login(member)
    real_start = now_ms()
    clock = _fake_clock(monkeypatch, real_start - 40 * 60_000)
    first_mint = clock["ms"]
    pages = [tracker_config(client, v) for v in videos for _ in range(10)]
    assert len({p["sessionId"] for p in pages}) == 40
    clock["ms"] += 9 * 60_000  # hoard
    skew = settings.WATCH_CLOCK_SKEW_MS
    life = settings.WATCH_TOKEN_TTL_SECONDS * 1000
    late = settings.WATCH_LATE_WINDOW_SECONDS * 1000
    tokens = {p["sessionId"]: [p["token"]] for p in pages}
    issued = {p["token"]: first_mint for p in pages}
    next_second = dict.fromkeys(tokens, 0)
    accepted = 0
    end = first_mint + 31 * 60_000
    step = 0
    while clock["ms"] < end:
        group = pages[(step // 6) * 4 % 40 : (step // 6) * 4 % 40 + 4]  # a new four every 2 minutes
        for page in group:
            sid = page["sessionId"]
            renewed = _renew(client, tokens[sid][-1])
            if renewed.status_code == 200 and renewed.json()["sessionId"] == sid:
                tokens[sid].append(renewed.json()["token"])
                issued[renewed.json()["token"]] = clock["ms"]
            for token in tokens[sid][-2:]:
                # Times spread over the widest window the server could accept for this token.
                lo = max(issued[token], clock["ms"] - late) - skew + 1000
                hi = min(issued[token] + life, clock["ms"]) + skew - 1000
                if hi <= lo:
                    continue
                for _ in range(5):
                    start = next_second[sid]
                    events = [
                        {"position": start + i, "client_ts": lo + (hi - lo) * i // 199, "rate": rate}
                        for i in range(200)
                    ]
                    answer = post(
                        client,
                        page
                        | {"token": token}
                        | {"events": events}
                        | {
                            "video_id": page["videoId"],
                            "session_id": sid,
                        },
                    )
                    if answer.status_code != 202:
                        break
                    accepted += 200
                    next_second[sid] = start + 200
                # Then whatever smaller slice still fits.
                for size in (50, 10, 1):
                    while True:
                        start = next_second[sid]
                        events = [{"position": start + i, "client_ts": hi, "rate": rate} for i in range(size)]
                        answer = post(
                            client, {"video_id": page["videoId"], "session_id": sid, "token": token, "events": events}
                        )
                        if answer.status_code != 202:
                            break
                        accepted += size
                        next_second[sid] = start + size
        clock["ms"] += 20_000
        step += 1
    elapsed = (clock["ms"] - first_mint) / 1000
    monkeypatch.undo()
    wait_until(drained, timeout=120)
    rollups_refresh()

    since = datetime.fromtimestamp(first_mint / 1000, tz=UTC).date()
    today = datetime.now(tz=UTC).date()
    figures = [video_analytics_get(video_id=v.pk, since=since, until=today).range_total for v in videos]
    watched = sum(f.watch_seconds for f in figures)
    cap = settings.WATCH_CONCURRENT_SESSIONS * rate
    # Claims can fall a skew before the first token and after the last request, rounded to minutes.
    slack = (2 * skew / 1000 + 120) * cap
    assert 0 < watched == accepted <= elapsed * cap + slack, (watched, accepted, elapsed * cap + slack)
    assert sum(f.views for f in figures) <= sum(f.sessions for f in figures) <= 40
    for v in videos:
        days_per_session: dict = {}
        for day, session_id in stored_state(member.pk, v.pk)["sessions"]:
            days_per_session.setdefault(session_id, set()).add(day)
        assert all(len(days) == 1 for days in days_per_session.values()), days_per_session


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)
def test_one_session_is_one_view_on_the_day_it_started_whatever_its_events_claim(
    member, celery_worker_process, settings, monkeypatch
):
    """Finding 2 of #19: resent seconds, events dated on other days, a session kept across midnight."""
    video = VideoFactory(members_only=False, duration=600)
    client = Client()
    client.force_login(member)
    day_ms = 86_400_000
    midnight = (now_ms() // day_ms - 1) * day_ms  # yesterday's midnight: always in the past
    clock = _fake_clock(monkeypatch, midnight - 5 * 60_000)
    config = tracker_config(client, video)
    clock["ms"] += 30_000
    assert post(client, body(config, range(10), t0=clock["ms"] - 10_000)).status_code == 202
    # The same seconds resent five times: accepted (an outbox may resend), adding nothing.
    for _ in range(5):
        assert post(client, body(config, range(10), t0=clock["ms"] - 10_000)).status_code == 202
    # Past midnight: the session's seconds still count on the day it started.
    clock["ms"] = midnight + 60_000
    assert post(client, body(config, range(10, 20), t0=clock["ms"] - 10_000)).status_code == 202
    # Events claiming other days are refused, whichever way.
    for t0 in (midnight - 3 * day_ms, midnight - day_ms, midnight + day_ms):
        answer = post(client, body(config, range(20, 25), t0=t0))
        assert answer.status_code == 400, t0
    # Once the session's day has been closed for the late window, the session takes nothing more,
    # and renewing the page's token starts a new session on the new day.
    clock["ms"] = midnight + settings.WATCH_LATE_WINDOW_SECONDS * 1000 + 60_000
    reissued = resigned(config, member.pk)
    closed = post(client, body(reissued, range(20, 25), t0=clock["ms"] - 5_000))
    assert closed.status_code == 409
    renewed = _renew(client, reissued["token"])
    assert renewed.status_code == 200
    assert renewed.json()["sessionId"] != config["sessionId"]
    monkeypatch.undo()
    wait_until(drained, timeout=60)
    rollups_refresh()

    first_day = datetime.fromtimestamp((midnight - day_ms) / 1000, tz=UTC).date()
    analytics = video_analytics_get(video_id=video.pk, since=first_day, until=datetime.now(tz=UTC).date())
    total = analytics.range_total
    assert (total.sessions, total.views, total.watch_seconds) == (1, 1, 20)
    started_on = datetime.fromtimestamp((midnight - 5 * 60_000) / 1000, tz=UTC).date()
    assert [d.day for d in analytics.days if d.views] == [started_on]
    assert list(stored_state(member.pk, video.pk)["sessions"]) == [(started_on, uuid.UUID(config["sessionId"]))]


@pytest.mark.django_db
def test_unconfirmed_members_get_no_viewing_session(client, video, redis):
    unconfirmed = MemberFactory(confirmed=False)
    client.force_login(unconfirmed)

    assert tracker_config(client, video) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "status"),
    [({"members_only": True}, 403), ({"is_unavailable": True}, 410), ({"is_published": False}, 404)],
)
def test_a_token_stops_recording_once_staff_tighten_the_videos_access(client, member, redis, change, status):
    video = VideoFactory(members_only=False, duration=600)
    client.force_login(member)
    config = started(tracker_config(client, video), seconds_ago=300)
    assert post(client, body(config, range(5))).status_code == 202

    for field, value in change.items():
        setattr(video, field, value)
    video.save()

    assert post(client, body(config, range(5, 10))).status_code == status
    assert redis.xlen(STREAM) == 1


@pytest.mark.django_db
def test_positions_are_bounded_while_the_duration_is_unknown(client, member, redis, settings):
    video = VideoFactory(members_only=False, duration=None)
    client.force_login(member)
    config = started(tracker_config(client, video), seconds_ago=300)
    limit = settings.WATCH_UNKNOWN_DURATION_MAX_SECONDS

    refused = post(client, body(config, [86_400]))
    assert refused.status_code == 400
    assert refused.json()["errors"][0] == {"field": "events.position", "reason": f"must be at most {limit}"}
    assert post(client, body(config, [limit])).status_code == 202
    assert redis.xlen(STREAM) == 1


@pytest.mark.django_db
def test_the_open_page_renews_its_token_for_the_same_session(client, member, video, redis):
    client.force_login(member)
    config = tracker_config(client, video)

    renewed = _renew(client, config["token"])

    assert renewed.status_code == 200
    assert renewed.json()["sessionId"] == config["sessionId"]
    assert renewed.json()["token"] != config["token"]
    assert post(client, body(config | {"token": renewed.json()["token"]}, range(5))).status_code == 202
    # Another member cannot renew it; nor can the member once logged out.
    other = Client()
    stranger: Any = MemberFactory()
    other.force_login(stranger)
    assert _renew(other, config["token"]).status_code == 403
    client.post(reverse("account_logout"))
    client.force_login(member)
    assert _renew(client, config["token"]).status_code == 403


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
    from analytics.acceptance import WatchBatch, watch_batch_enqueue
    from analytics.drain import watch_stream_drain

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


@pytest.mark.django_db
def test_renewing_while_redis_is_down_is_a_503_not_a_500(client, member, video, redis, settings):
    from analytics import stream

    client.force_login(member)
    config = tracker_config(client, video)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    stream._client.cache_clear()
    try:
        answer = _renew(client, config["token"])
    finally:
        stream._client.cache_clear()

    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"


@pytest.mark.django_db
def test_loads_that_played_nothing_give_their_place_up_once_their_token_expired(client, member, video, redis, settings):
    # The counting rule of a viewing session (analytics.admin.DEFINITIONS): one load that played;
    # past the cap a load continues the latest session, but loads that never played (and whose
    # page can no longer play: token expired) do not count, so later plays stay separate.
    settings.WATCH_TOKEN_TTL_SECONDS = 1
    client.force_login(member)
    cap = settings.WATCH_SESSIONS_PER_VIDEO_PER_HOUR
    idle = [tracker_config(client, video)["sessionId"] for _ in range(cap)]
    played = tracker_config(client, video)
    assert played["sessionId"] == idle[-1]  # at the cap, young unplayed loads still hold their places

    time.sleep(1.1)
    plays = []
    for _ in range(3):
        config = tracker_config(client, video)
        assert post(client, body(config, range(5))).status_code == 202
        plays.append(config["sessionId"])
    assert len(set(plays)) == 3
    assert not set(plays) & set(idle)

    # Played sessions keep their places: once the cap is full of them, a load continues the latest.
    for _ in range(cap - 3):
        config = tracker_config(client, video)
        session_started(config["sessionId"], ms_ago=0)
    time.sleep(1.1)
    latest = tracker_config(client, video)["sessionId"]
    assert tracker_config(client, video)["sessionId"] == latest
    assert redis.zcard(ISSUED_KEY.format(user_id=member.pk, video_id=video.pk)) == cap


def test_the_definition_on_the_staff_pages_states_the_same_rule():
    from django.conf import settings

    from analytics.admin import DEFINITIONS

    meaning = dict(DEFINITIONS)["Viewing session"]
    assert f"at most {settings.WATCH_SESSIONS_PER_VIDEO_PER_HOUR} sessions of a video in any 60 minutes" in meaning
    assert "loads alone never merge later plays" in meaning
