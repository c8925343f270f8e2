"""Reading back what the pipeline stored, straight from Cassandra, for assertions."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from django.test import Client
from django.urls import reverse
from redis.exceptions import ResponseError

from analytics.acceptance import SessionClaims, viewing_session_token_sign
from analytics.cassandra import cassandra_keyspace, cassandra_session
from analytics.stream import GROUP, SESSION_KEY, STREAM, stream_client
from analytics.viewing import member_ingest_generation_get


def now_ms() -> int:
    return int(time.time() * 1000)


def batch_body(video_id: int, session_id: uuid.UUID, positions, *, t0: int, rate: float = 1.0) -> dict:
    return {
        "video_id": video_id,
        "session_id": str(session_id),
        "events": [{"position": p, "client_ts": t0 + i * 1000, "rate": rate} for i, p in enumerate(positions)],
    }


def signed(body: dict, user_id: int, *, issued_at_ms: int | None = None, started: bool = True) -> dict:
    """`body` with a genuine viewing-session token for its member, video and session id, as the
    watch page issues it (just before the body's first event). With `started`, the session is made
    to have begun SESSION_AGE_MS ago (as if its first batch had been accepted then), so the
    playable-seconds bound does not get in the way of tests about something else."""
    if issued_at_ms is None:
        events = body.get("events")
        events = events if isinstance(events, list) else []
        times = [e["client_ts"] for e in events if isinstance(e, dict) and isinstance(e.get("client_ts"), int)]
        issued_at_ms = min([now_ms(), *times]) - 1000
    claims = SessionClaims(
        user_id=user_id,
        video_id=body["video_id"],
        session_id=uuid.UUID(body["session_id"]),
        issued_at_ms=issued_at_ms,
        generation=member_ingest_generation_get(user_id=user_id),
        members=True,
    )
    if started:
        session_started(claims.session_id, ms_ago=SESSION_AGE_MS)
    return body | {"token": viewing_session_token_sign(claims=claims)}


# Within the late window, so the session's day is still open whatever the time of day.
SESSION_AGE_MS = 20 * 60_000


def session_started(session_id: uuid.UUID | str, *, ms_ago: int) -> None:
    """Make a viewing session look as if its first batch had been accepted `ms_ago` (its allowance
    then covers that much wall-clock time); a no-op for a session that already started."""
    stream_client().hsetnx(SESSION_KEY.format(session_id=session_id), "start", now_ms() - ms_ago)


def post(client: Client, body: dict) -> int:
    """POST a batch as the tracker would (with its page's token unless the body carries one)."""
    if "token" not in body and {"video_id", "session_id"} <= body.keys():
        body = signed(body, int(client.session["_auth_user_id"]))
    return client.post(reverse("analytics:watch-batch"), body, content_type="application/json").status_code


def stored_state(user_id: int, video_id: int) -> dict:
    """Every row the pipeline keeps for one member and video, in comparable form."""
    session = cassandra_session()
    ks = cassandra_keyspace()
    days = [r.day for r in session.execute(f"SELECT day FROM {ks}.member_watch_days WHERE user_id = %s", (user_id,))]
    events = []
    for day in sorted(set(days)):
        events += [
            tuple(r)
            for r in session.execute(
                f"SELECT video_id, session_id, position, client_ts, rate FROM {ks}.watch_events "
                "WHERE user_id = %s AND day = %s",
                (user_id, day),
            )
            if r.video_id == video_id
        ]
    sessions = {}
    for day in sorted(set(days)):
        for r in session.execute(
            f"SELECT session_id, seconds FROM {ks}.video_sessions WHERE video_id = %s AND day = %s AND user_id = %s",
            (video_id, day, user_id),
        ):
            sessions[(day, r.session_id)] = frozenset(r.seconds or ())
    row = session.execute(
        f"SELECT position, last_watched, watched_buckets FROM {ks}.member_videos WHERE user_id = %s AND video_id = %s",
        (user_id, video_id),
    ).one()
    buckets = session.execute(
        f"SELECT seconds FROM {ks}.member_video_coverage WHERE user_id = %s AND video_id = %s", (user_id, video_id)
    )
    return {
        "events": sorted(events),
        "sessions": sessions,
        "position": row.position if row else None,
        "coverage": frozenset(second for bucket in buckets for second in bucket.seconds or ()),
        "watched": sum(row.watched_buckets.values()) if row and row.watched_buckets else None,
    }


def event_count(user_id: int, video_id: int) -> int:
    return len(stored_state(user_id, video_id)["events"])


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def pending() -> int:
    """Stream entries delivered to a worker and not yet acknowledged."""
    try:
        return int(stream_client().xpending(STREAM, GROUP)["pending"])
    except ResponseError:  # NOGROUP: no worker has created the consumer group yet
        return 0


def drained() -> bool:
    """Nothing queued and nothing taken but unacknowledged: every accepted batch is stored."""
    return stream_client().xlen(STREAM) == 0 and pending() == 0
