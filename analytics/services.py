"""Writes of the analytics app: accept watch batches (web) and store them in Cassandra (workers)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

from cassandra import RequestValidationException
from cassandra.query import BatchStatement, BatchType
from django.conf import settings
from django.core import signing
from redis.exceptions import RedisError

from analytics.cassandra import BatchPacker, cassandra_execute_all, cassandra_prepared, cassandra_session
from analytics.models import COVERAGE_BUCKET_SECONDS, VIDEO_MEMBER_SHARDS
from analytics.schemas import MAX_PLAYBACK_RATE, MAX_POSITION, WatchBatchIn
from analytics.selectors import watched_seconds_sum
from analytics.stream import (
    ACTIVE_KEY,
    BUDGET_KEY,
    COUNTS_DUE_KEY,
    COUNTS_FIRST_KEY,
    ERASED_KEY,
    GENERATION_KEY,
    GROUP,
    ISSUED_KEY,
    KICK_KEY,
    LATEST_KEY,
    RATE_KEY,
    SECONDS_KEY,
    SESSION_KEY,
    STREAM,
    enqueue_script,
    group_ensure,
    issue_script,
    stream_client,
)
from analytics.stream import (
    DEAD_LETTERS as DEAD_LETTERS,
)

logger = logging.getLogger(__name__)

# (position in seconds, client event time in ms since the epoch, playback rate)
EventTuple = tuple[int, int, float]

# Positions may run one second past the known duration (players round the last frame up).
DURATION_SLACK_SECONDS = 1


@dataclass(frozen=True)
class WatchBatch:
    user_id: int
    video_id: int
    session_id: uuid.UUID
    events: tuple[EventTuple, ...]
    # Server time (ms) when the endpoint accepted the batch: no stored time may be later than this.
    # None for trusted synthetic traffic and entries queued before the field existed (the drain's
    # clock bounds those).
    accepted_ms: int | None = None
    # The epoch-day number of the batch's viewing session, fixed by the server when the session's
    # first batch was accepted (analytics.stream._ENQUEUE_LUA appends it to a member's entry):
    # every row the batch feeds lands on that day. None for trusted synthetic traffic, whose days
    # come from its event times.
    day: int | None = None

    def to_json(self) -> str:
        fields: list[Any] = [self.user_id, self.video_id, str(self.session_id), self.events]
        if self.accepted_ms is not None:
            fields.append(self.accepted_ms)
            if self.day is not None:
                fields.append(self.day)
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> WatchBatch:
        """Raises ValueError (or KeyError/TypeError) for an entry that is not a storable batch: the
        drain sets those aside, so nothing that reaches the driver can fail on the data's values."""
        user_id, video_id, session_id, events, *rest = json.loads(raw)
        batch = cls(
            int(user_id),
            int(video_id),
            uuid.UUID(session_id),
            tuple((int(p), int(t), float(r)) for p, t, r in events),
            int(rest[0]) if rest else None,
            int(rest[1]) if len(rest) > 1 else None,
        )
        if not (0 < batch.user_id < 2**63 and 0 < batch.video_id < 2**63 and 0 <= (batch.day or 0) < 2**31) or not all(
            0 <= p <= MAX_POSITION and 0 <= t < 2**53 and 0 < r <= MAX_PLAYBACK_RATE for p, t, r in batch.events
        ):
            raise ValueError("a value is outside what the tables can hold")
        return batch


class Enqueued(Enum):
    QUEUED = 0
    QUEUED_WAKE_DRAIN = 1
    RATE_LIMITED = -1
    BACKLOG_FULL = -2
    REVOKED = -3
    TOO_MANY_SESSIONS = -4
    FASTER_THAN_PLAYABLE = -5
    SESSION_DAY_CLOSED = -6
    MEMBER_BUDGET_SPENT = -7


@dataclass(frozen=True)
class EnqueueOutcome:
    status: Enqueued
    retry_after_seconds: int = 0


# --- Web side: viewing sessions -------------------------------------------------------------------

TOKEN_SALT = "analytics.viewing-session.v3"  # noqa: S105 (a signing salt, not a secret)


@dataclass(frozen=True)
class ViewingSession:
    """What the watch page hands the tracker: the session's id, its signed token and issue time."""

    session_id: uuid.UUID
    token: str
    issued_at_ms: int


@dataclass(frozen=True)
class SessionClaims:
    """A verified token: which member, video and viewing session it binds, when this token was
    signed, under which generation of the member's tokens (analytics.stream.GENERATION_KEY), and
    whether it was issued for a members-only video (access granted to a confirmed member)."""

    user_id: int
    video_id: int
    session_id: uuid.UUID
    issued_at_ms: int
    generation: int
    members: bool = False


def viewing_session_token_sign(*, claims: SessionClaims) -> str:
    return signing.dumps(
        {
            "u": claims.user_id,
            "v": claims.video_id,
            "s": str(claims.session_id),
            "t": claims.issued_at_ms,
            "g": claims.generation,
            "m": int(claims.members),
        },
        salt=TOKEN_SALT,
        compress=False,
    )


def viewing_session_token_read(*, token: str, max_age_seconds: int | None = None) -> SessionClaims | None:
    """The claims of a genuine token signed at most `max_age_seconds` ago (default: its life plus the
    late window, when an outbox may still resend what was recorded under it); None for anything
    else (forged, old, malformed)."""
    if max_age_seconds is None:
        max_age_seconds = settings.WATCH_TOKEN_TTL_SECONDS + settings.WATCH_LATE_WINDOW_SECONDS
    try:
        raw = signing.loads(token, salt=TOKEN_SALT, max_age=max_age_seconds)
        return SessionClaims(
            user_id=int(raw["u"]),
            video_id=int(raw["v"]),
            session_id=uuid.UUID(raw["s"]),
            issued_at_ms=int(raw["t"]),
            generation=int(raw["g"]),
            members=bool(raw["m"]),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def viewing_session_start(*, user_id: int, video_id: int, members_only: bool) -> ViewingSession:
    """A server-issued viewing session for one watch page load of a confirmed member.

    A member gets at most WATCH_SESSIONS_PER_VIDEO_PER_HOUR new sessions of one video in any 60
    minutes (a sliding window); past that, the page gets a fresh token for their latest session of
    the video, so reloading cannot mint views. If Redis is down the token is still signed (the page
    works; its batches wait in the tracker's outbox until the endpoint takes them again).
    """
    now_ms = int(time.time() * 1000)
    session_id = uuid.uuid4()
    try:
        generation, latest = issue_script()(
            keys=[
                GENERATION_KEY.format(user_id=user_id),
                ISSUED_KEY.format(user_id=user_id, video_id=video_id),
                LATEST_KEY.format(user_id=user_id, video_id=video_id),
            ],
            args=[settings.WATCH_SESSIONS_PER_VIDEO_PER_HOUR, now_ms, 3_600_000, str(session_id)],
        )
    except RedisError:
        logger.warning("viewing session issued without Redis (its batches will wait for it)")
        generation, latest = 0, b""
    if latest:
        session_id = uuid.UUID(latest.decode())
    claims = SessionClaims(user_id, video_id, session_id, now_ms, int(generation), members_only)
    return ViewingSession(session_id, viewing_session_token_sign(claims=claims), now_ms)


def viewing_session_renew(*, user_id: int, claims: SessionClaims, members_only: bool) -> ViewingSession:
    """A fresh token for the member's open watch page (the tracker renews while the page is visible).

    `claims` are the page's current token's, already read and found to be this member's; the caller
    has checked the member may still watch the video. The same session while its day is open; once
    the session's day has ended (a page left open across midnight) a new session, so no session
    ever adds watching to a day other than the one it started on. Raises BatchRefused (403) when the
    member's tokens were revoked (logout, password change).
    """
    if claims.user_id != user_id:
        raise BatchRefused(403, "token missing, expired or not yours; reload the page")
    if claims.generation != member_ingest_generation_get(user_id=user_id):
        raise BatchRefused(403, "this page's tracking token was revoked (logged out?); reload the page")
    start_ms = session_start_get(session_id=claims.session_id)
    now_ms = int(time.time() * 1000)
    if start_ms is not None and start_ms // DAY_MS != now_ms // DAY_MS:
        return viewing_session_start(user_id=user_id, video_id=claims.video_id, members_only=members_only)
    renewed = SessionClaims(user_id, claims.video_id, claims.session_id, now_ms, claims.generation, members_only)
    return ViewingSession(claims.session_id, viewing_session_token_sign(claims=renewed), now_ms)


def session_start_get(*, session_id: uuid.UUID) -> int | None:
    """When the session's first batch was accepted (ms, server clock), or None before that."""
    start = stream_client().hget(SESSION_KEY.format(session_id=session_id), "start")
    return None if start is None else int(start)


def member_ingest_revoke(*, user_id: int) -> None:
    """Refuse every ingest token the member holds (logout, password change, deactivation, erasure)."""
    stream_client().incr(GENERATION_KEY.format(user_id=user_id))


def member_ingest_generation_get(*, user_id: int) -> int:
    return int(stream_client().get(GENERATION_KEY.format(user_id=user_id)) or 0)


# --- Web side: accepting a batch ------------------------------------------------------------------


@dataclass
class BatchRefused(Exception):
    """A batch the endpoint refuses: nothing of it was queued."""

    status: int
    message: str
    errors: list[dict[str, str]] = field(default_factory=list)
    retry_after_seconds: int = 0


# What the Lua call's refusals mean to the member's tracker (429/503 are kept and retried).
_REFUSALS = {
    Enqueued.RATE_LIMITED: (429, "too many batches; slow down and retry"),
    Enqueued.BACKLOG_FULL: (503, "tracking is catching up; keep the batch and retry"),
    Enqueued.REVOKED: (403, "this page's tracking token was revoked (logged out?); reload the page"),
    Enqueued.TOO_MANY_SESSIONS: (429, "too many videos playing at once on this account"),
    Enqueued.FASTER_THAN_PLAYABLE: (429, "more seconds than this viewing session could have played yet"),
    Enqueued.SESSION_DAY_CLOSED: (409, "this viewing session's day has ended; renew the token for a new session"),
    Enqueued.MEMBER_BUDGET_SPENT: (429, "more seconds than this account could have watched in that minute"),
}


@dataclass(frozen=True)
class VideoLimits:
    """What accepting a batch needs to know about its video, from the catalogue snapshot."""

    video_id: int
    duration: int | None
    members_only: bool = False
    available: bool = True


def watch_batch_accept(
    *, user_id: int, video: VideoLimits, batch: WatchBatchIn, now_ms: int | None = None
) -> EnqueueOutcome:
    """Check a member's batch against its viewing session and queue it; raises BatchRefused.

    The caller has found the video published (the catalogue snapshot). Here: the token binds this
    member, video and session (no batch goes under someone else's session); the video's access has
    not tightened since the token was issued, and it is still available; every event lies within
    the token's life and the late window (± WATCH_CLOCK_SKEW_MS, server clock); positions fit the
    video's duration (or the longest a video can be, while it is unknown); then one Lua call applies
    the member's rate, the token generation, the backlog cap, the concurrent-sessions cap, the
    session's playable seconds, its day, and the member's per-minute budget, and appends.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    claims = viewing_session_token_read(token=batch.token or "")
    too_old = now_ms - (settings.WATCH_TOKEN_TTL_SECONDS + settings.WATCH_LATE_WINDOW_SECONDS) * 1000
    if (
        claims is None
        or claims.issued_at_ms < too_old
        or (claims.user_id, claims.video_id, claims.session_id) != (user_id, video.video_id, batch.session_id)
    ):
        raise BatchRefused(403, "token missing, expired or not for this member, video and session")
    if not video.available:
        raise BatchRefused(410, "this video is no longer available")
    if video.members_only and not claims.members:
        raise BatchRefused(403, "this video is now for members only; reload the page")
    skew = settings.WATCH_CLOCK_SKEW_MS
    # Seconds recorded while the token was valid, and never older than the late window: an outbox
    # resend still lands, a hoarded token or a made-up past does not.
    earliest = max(claims.issued_at_ms, now_ms - settings.WATCH_LATE_WINDOW_SECONDS * 1000) - skew
    latest = min(claims.issued_at_ms + settings.WATCH_TOKEN_TTL_SECONDS * 1000, now_ms) + skew
    if any(not earliest <= e.client_ts <= latest for e in batch.events):
        raise BatchRefused(
            400,
            "invalid watch batch",
            [{"field": "events.client_ts", "reason": "must lie within the page's token life and the late window"}],
        )
    if video.duration is not None:
        limit = video.duration + DURATION_SLACK_SECONDS
    else:
        limit = settings.WATCH_UNKNOWN_DURATION_MAX_SECONDS
    if any(e.position > limit for e in batch.events):
        raise BatchRefused(
            400, "invalid watch batch", [{"field": "events.position", "reason": f"must be at most {limit}"}]
        )
    outcome = watch_batch_enqueue(
        batch=WatchBatch(
            user_id=user_id,
            video_id=video.video_id,
            session_id=batch.session_id,
            events=tuple((e.position, e.client_ts, e.rate) for e in batch.events),
            accepted_ms=now_ms,
        ),
        claims=claims,
        now_ms=now_ms,
    )
    if outcome.status in _REFUSALS:
        status, message = _REFUSALS[outcome.status]
        raise BatchRefused(status, message, retry_after_seconds=outcome.retry_after_seconds)
    return outcome


def watch_batch_enqueue(
    *, batch: WatchBatch, claims: SessionClaims | None, now_ms: int | None = None
) -> EnqueueOutcome:
    """Append a batch to the durable stream (one Redis round trip, no Cassandra).

    With `claims` (a member's batch) every per-member check of _ENQUEUE_LUA applies and the entry
    carries its session's day; `claims=None` is trusted synthetic traffic (bench, traffic
    generator), bounded only by the backlog cap, its days taken from its event times.
    Raises redis.exceptions.ConnectionError / TimeoutError when Redis is unreachable.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    session_id = str(claims.session_id) if claims else "-"
    keys = [
        STREAM,
        RATE_KEY.format(user_id=batch.user_id),
        KICK_KEY,
        GENERATION_KEY.format(user_id=batch.user_id),
        ACTIVE_KEY.format(user_id=batch.user_id),
        SECONDS_KEY.format(session_id=session_id),
        SESSION_KEY.format(session_id=session_id),
        BUDGET_KEY.format(user_id=batch.user_id),
    ]
    late_ms = settings.WATCH_LATE_WINDOW_SECONDS * 1000
    args: list[Any] = [
        batch.to_json(),
        settings.WATCH_BATCHES_PER_MINUTE if claims else 0,
        60,
        settings.WATCH_DRAIN_WAKE_MS,
        settings.WATCH_STREAM_MAX_BATCHES,
        claims.generation if claims else 0,
        now_ms,
        late_ms,
        max(rate for _, _, rate in batch.events),
        settings.WATCH_PLAY_SLACK_SECONDS,
        settings.WATCH_CONCURRENT_SESSIONS,
        settings.WATCH_ACTIVE_WINDOW_MS,
        session_id,
        SESSION_STATE_TTL_SECONDS,
        member_minute_budget_seconds(),
        DAY_MS,
    ]
    if claims:
        # Each event claims the minute of its (server-bounded) time: the member's budget is charged
        # there, so seconds cannot be piled onto minutes nobody was watching in.
        for position, event_ts, _ in batch.events:
            args += [position, min(event_ts, now_ms) // 60_000]
    code, retry_after = enqueue_script()(keys=keys, args=args)
    return EnqueueOutcome(Enqueued(int(code)), int(retry_after))


def member_minute_budget_seconds() -> int:
    """Seconds of watching one member's sessions together may claim in one minute of wall-clock
    time: every session they may run at once, each at the fastest rate a player may report."""
    return settings.WATCH_CONCURRENT_SESSIONS * MAX_PLAYBACK_RATE * 60


# A session's state and seconds bitmap outlive its last batch by a day: its day is closed by then
# (batches are refused past its end plus the late window), so nothing can use them after.
SESSION_STATE_TTL_SECONDS = 26 * 3600


# --- Worker side ----------------------------------------------------------------------------------

INSERT_EVENT = (
    "INSERT INTO {ks}.watch_events (user_id, day, video_id, session_id, position, client_ts, rate) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INSERT_MEMBER_DAY = "INSERT INTO {ks}.member_watch_days (user_id, day, video_id) VALUES (?, ?, ?)"
UPDATE_RESUME = (
    "UPDATE {ks}.member_videos USING TIMESTAMP ? SET position = ?, last_watched = ?, session_id = ?, hidden = false "
    "WHERE user_id = ? AND video_id = ?"
)
ADD_COVERAGE = (
    "UPDATE {ks}.member_video_coverage SET seconds = seconds + ? WHERE user_id = ? AND video_id = ? AND bucket = ?"
)
# Only the rows the round touched are counted (Cassandra 5.0's collection_count, by the node): the
# cost per batch does not grow with how much of the video the member had watched (MemberVideoCoverage).
SELECT_BUCKET_COUNTS = (
    "SELECT video_id, bucket, collection_count(seconds) AS watched FROM {ks}.member_video_coverage "
    "WHERE user_id = ? AND (video_id, bucket) IN ?"
)
UPDATE_WATCHED = (
    "UPDATE {ks}.member_videos USING TIMESTAMP ? SET watched_buckets = watched_buckets + ? "
    "WHERE user_id = ? AND video_id = ?"
)
ADD_SESSION_SECONDS = (
    "UPDATE {ks}.video_sessions SET seconds = seconds + ? "
    "WHERE video_id = ? AND day = ? AND user_id = ? AND session_id = ?"
)
INSERT_CHANGE = "INSERT INTO {ks}.video_changes (minute, video_id, day) VALUES (?, ?, ?)"
ADD_VIDEO_MEMBER = (
    "UPDATE {ks}.video_members SET seconds = seconds + ? WHERE video_id = ? AND shard = ? AND user_id = ?"
)


def watch_batches_store(*, batches: Iterable[WatchBatch]) -> int:
    """Store batches in every table the pipeline feeds; returns the number of distinct events.

    Idempotent and order-independent: replaying any subset of batches, in any order, leaves the same
    state (cells keyed by member/day/video/session/second, set unions, client-time timestamps).
    Batches are merged first, then every table's rows go out in UNLOGGED batches of rows with the
    same replicas (BatchPacker): the driver's cost is per request, so a round of hundreds of
    batches costs about one request per ROWS_PER_BATCH rows, not one per member or per row.
    Raises the driver's exception if any write fails; the caller then retries the whole call.
    """
    events: dict[tuple[int, int], dict[tuple[int, uuid.UUID, int], tuple[int, float]]] = defaultdict(dict)
    coverage: dict[tuple[int, int], set[int]] = defaultdict(set)
    sessions: dict[tuple[int, int, int, uuid.UUID], set[int]] = defaultdict(set)
    newest: dict[tuple[int, int], tuple[int, int, uuid.UUID]] = {}
    # Server time rules the database: no stored time (cell timestamps, `client_ts`, `last_watched`,
    # the day) is later than when the batch was accepted, nor than this drain's clock. A browser
    # clock running ahead cannot pin a position that a later clear or erasure (server time) would
    # then fail to remove. Client time still orders positions within the accepted window.
    # Times stay integers (ms since the epoch; the driver encodes an int timestamp as is) and days
    # epoch-day numbers until bound: no datetime object per event.
    drain_now_ms = int(time.time() * 1000)
    for batch in batches:
        user_id, video_id, session_id = batch.user_id, batch.video_id, batch.session_id
        key = (user_id, video_id)
        bound = drain_now_ms if batch.accepted_ms is None else min(batch.accepted_ms, drain_now_ms)
        covered = coverage[key]
        best = newest.get(key)
        # A batch's events almost always share one day: look its partitions up when the day changes,
        # not per event (the session key's UUID hash was a tenth of this loop's cost).
        current_day = -1
        cells: dict[tuple[int, uuid.UUID, int], tuple[int, float]] = {}
        session_seconds: set[int] = set()
        for position, event_ts, rate in batch.events:
            client_ts = event_ts if event_ts < bound else bound
            day = client_ts // DAY_MS if batch.day is None else batch.day
            if day != current_day:
                current_day = day
                cells = events[(user_id, day)]
                session_seconds = sessions[(video_id, day, user_id, session_id)]
            cell = (video_id, session_id, position)
            # A second replayed with another client time: keep the later one, deterministically.
            previous = cells.get(cell)
            if previous is None or (client_ts, rate) > previous:
                cells[cell] = (client_ts, rate)
            covered.add(position)
            session_seconds.add(position)
            candidate = (client_ts, position, session_id)
            if best is None or candidate > best:
                best = candidate
        if best is not None:
            newest[key] = best
    if not events:
        return 0

    day_of = _day_cache()
    # Rows go out packed by replica set (BatchPacker): on one node a round of a thousand members'
    # batches is ~100 requests, not one or more per member.
    packer = BatchPacker(max_rows=ROWS_PER_BATCH, max_elements=SET_ELEMENTS_PER_BATCH)
    insert_event = cassandra_prepared(INSERT_EVENT)
    insert_member_day = cassandra_prepared(INSERT_MEMBER_DAY)
    # A member's day index, coverage rows and resume positions: all partitioned by the member alone.
    by_member: dict[int, list[tuple[Any, tuple[Any, ...], int]]] = defaultdict(list)
    stored = 0
    for (user_id, day_n), cells in events.items():
        day = day_of(day_n)
        stored += len(cells)
        packer.rows(
            [
                (insert_event, (user_id, day, video_id, session_id, position, client_ts, rate), 0)
                for (video_id, session_id, position), (client_ts, rate) in cells.items()
            ]
        )
        by_member[user_id] += [
            (insert_member_day, (user_id, day, video_id), 1) for video_id in {v for v, _, _ in cells}
        ]
    add_coverage = cassandra_prepared(ADD_COVERAGE)
    buckets = _coverage_rows((user_id, video_id, secs) for (user_id, video_id), secs in coverage.items())
    for (user_id, video_id, bucket), secs in buckets.items():
        by_member[user_id].append((add_coverage, (secs, user_id, video_id, bucket), len(secs)))
    update_resume = cassandra_prepared(UPDATE_RESUME)
    for (user_id, video_id), (client_ts, position, session_id) in newest.items():
        by_member[user_id].append(
            (update_resume, (client_ts * 1000, position, client_ts, session_id, user_id, video_id), 1)
        )
    for rows in by_member.values():
        packer.rows(rows)
    minute = int(time.time() // 60)
    insert_change = cassandra_prepared(INSERT_CHANGE)
    changed = {(video_id, day_n) for (video_id, day_n, _, _) in sessions}
    packer.rows([(insert_change, (minute, video_id, day_of(day_n)), 1) for video_id, day_n in changed])
    add_session = cassandra_prepared(ADD_SESSION_SECONDS)
    by_video_day: dict[tuple[int, int], list[tuple[Any, tuple[Any, ...], int]]] = defaultdict(list)
    for (video_id, day_n, user_id, session_id), secs in sessions.items():
        by_video_day[(video_id, day_n)].append(
            (add_session, (secs, video_id, day_of(day_n), user_id, session_id), len(secs))
        )
    for rows in by_video_day.values():
        packer.rows(rows)
    # The all-time rollups' per-member coverage by video (analytics.models.VideoMember), one
    # partition per (video, shard).
    add_video_member = cassandra_prepared(ADD_VIDEO_MEMBER)
    by_shard: dict[tuple[int, int], list[tuple[Any, tuple[Any, ...], int]]] = defaultdict(list)
    for (user_id, video_id), secs in coverage.items():
        shard = user_id % VIDEO_MEMBER_SHARDS
        by_shard[(video_id, shard)].append((add_video_member, (secs, video_id, shard, user_id), len(secs)))
    for rows in by_shard.values():
        packer.rows(rows)
    packer.execute()
    watched_counts_schedule(buckets=list(buckets))
    return stored


def _coverage_rows(
    coverage: Iterable[tuple[int, int, Iterable[int]]],
) -> dict[tuple[int, int, int], set[int]]:
    """(member, video, seconds) → the seconds of each member_video_coverage row they fall in."""
    rows: dict[tuple[int, int, int], set[int]] = defaultdict(set)
    for user_id, video_id, seconds in coverage:
        for second in seconds:
            rows[(user_id, video_id, second // COVERAGE_BUCKET_SECONDS)].add(second)
    return rows


DAY_MS = 86_400_000
# Per UNLOGGED batch: at most this many rows, and this many set elements over its set-union rows,
# so a batch stays far under Cassandra's 50 KiB default failure threshold whatever the sets hold
# (a session's seconds: up to 200 per batch). Batches reach ~20 KiB: over the 5 KiB default
# *warning*, so etc/cassandra/cassandra.yaml.in warns at 32 KiB (set the same on a managed ring).
ROWS_PER_BATCH = 100
SET_ELEMENTS_PER_BATCH = 800


def _day_cache() -> Any:
    days: dict[int, date] = {}
    epoch = date(1970, 1, 1).toordinal()

    def day_of(number: int) -> date:
        found = days.get(number)
        if found is None:
            found = days[number] = date.fromordinal(epoch + number)
        return found

    return day_of


# A grown row's recount waits until the member has stopped growing it for the quiet period, and
# at most the longest wait after it first grew: a member watching on is recounted once per
# longest wait, and ~quiet seconds after they stop (when they look at the bars). KEYS: 1 due rows
# (sorted set, score = due time in ms), 2 when each waiting row first grew (hash). ARGV: 1 now,
# 2 quiet period, 3 longest wait (ms), 4... the rows.
_SCHEDULE = """
local now, quiet, longest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV do
  local row = ARGV[i]
  local first = tonumber(redis.call('HGET', KEYS[2], row))
  if not first then
    first = now
    redis.call('HSET', KEYS[2], row, now)
  end
  redis.call('ZADD', KEYS[1], math.min(now + quiet, first + longest), row)
end
"""
# Claim the recounts that are due: read and remove them in one step, so a row grown again while
# its recount runs is added back (as newly grown) and recounted later, never lost.
_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then
  redis.call('ZREM', KEYS[1], unpack(due))
  redis.call('HDEL', KEYS[2], unpack(due))
end
return due
"""
COUNTS_CLAIM_LIMIT = 2000  # rows per claim (Lua's unpack takes a few thousand values at most)


def watched_counts_schedule(*, buckets: list[tuple[int, int, int]], now_ms: int | None = None) -> None:
    """Have the watched counts of these grown coverage rows recounted: at once when
    WATCH_COUNT_REFRESH_SECONDS is 0, else once a row has not grown for that many seconds, or
    WATCH_COUNT_REFRESH_MAX_SECONDS after it first grew, whichever comes first."""
    if not buckets:
        return
    quiet = settings.WATCH_COUNT_REFRESH_SECONDS
    if not quiet:
        _watched_counts_refresh(buckets=buckets)
        return
    longest = max(quiet, settings.WATCH_COUNT_REFRESH_MAX_SECONDS)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    rows = [f"{u}:{v}:{b}" for u, v, b in buckets]
    stream_client().eval(_SCHEDULE, 2, COUNTS_DUE_KEY, COUNTS_FIRST_KEY, now_ms, quiet * 1000, longest * 1000, *rows)


def watched_counts_refresh_due(*, client: Any, now_ms: int | None = None) -> int:
    """Recount the coverage rows whose recount is due by `now_ms` (default: now; erased members'
    are dropped); returns how many. On a failure the claimed rows go back, due at once, and the
    error is raised."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    claimed = client.eval(_CLAIM_DUE, 2, COUNTS_DUE_KEY, COUNTS_FIRST_KEY, now_ms, COUNTS_CLAIM_LIMIT)
    if not claimed:
        return 0
    buckets = [tuple(int(part) for part in member.split(b":")) for member in claimed]
    erased = _erased_members(client, {u for u, _, _ in buckets})
    try:
        _watched_counts_refresh(buckets=[(u, v, b) for u, v, b in buckets if u not in erased])
    except Exception:
        client.zadd(COUNTS_DUE_KEY, dict.fromkeys(claimed, 0), nx=True)
        raise
    return len(buckets)


def _watched_counts_refresh(*, buckets: list[tuple[int, int, int]]) -> None:
    # Each bucket's count is written with the time of the read that produced it: of two workers
    # racing, the later read has seen the other's union, and its count wins (see MemberVideo). One
    # read and one batch of writes per member (both tables are partitioned by member); the read
    # touches only the (video, bucket) rows this round grew.
    select = cassandra_prepared(SELECT_BUCKET_COUNTS)
    read_at = int(time.time() * 1_000_000)
    rows_of: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for user_id, video_id, bucket in buckets:
        rows_of[user_id].append((video_id, bucket))
    members = list(rows_of)
    reads = cassandra_execute_all([(select, (u, rows_of[u])) for u in members])
    update = cassandra_prepared(UPDATE_WATCHED)
    packer = BatchPacker(max_rows=ROWS_PER_BATCH, max_elements=SET_ELEMENTS_PER_BATCH)
    for user_id, result in zip(members, reads, strict=True):
        counts: dict[int, dict[int, int]] = defaultdict(dict)
        for row in result:
            counts[row.video_id][row.bucket] = row.watched or 0
        packer.rows([(update, (read_at, by_bucket, user_id, v), len(by_bucket)) for v, by_bucket in counts.items()])
    packer.execute()


SELECT_LEGACY_COVERAGE = "SELECT user_id, video_id, seconds FROM {ks}.member_videos"
CLEAR_LEGACY_COVERAGE = "DELETE seconds, watched FROM {ks}.member_videos WHERE user_id = ? AND video_id = ?"


def member_coverage_migrate(*, chunk: int = 200) -> int:
    """Move coverage stored before member_video_coverage existed (one set per video in
    member_videos.seconds, its size in `watched`) into bucket rows and counts; returns the rows moved.

    Idempotent and safe while drains run (set unions; each count written with the time of its
    read): a run stopped halfway is finished by running it again. The old set is deleted only
    after its seconds are in the buckets.
    """
    add_coverage, clear = cassandra_prepared(ADD_COVERAGE), cassandra_prepared(CLEAR_LEGACY_COVERAGE)
    moved = 0
    pending: list[Any] = []

    def flush() -> None:
        buckets = _coverage_rows((row.user_id, row.video_id, row.seconds) for row in pending)
        _run([(add_coverage, (secs, *key)) for key, secs in buckets.items()])
        _watched_counts_refresh(buckets=list(buckets))
        _run([(clear, (row.user_id, row.video_id)) for row in pending])
        pending.clear()

    for row in cassandra_session().execute(cassandra_prepared(SELECT_LEGACY_COVERAGE)):
        if not row.seconds:
            continue
        pending.append(row)
        moved += 1
        if len(pending) >= chunk:
            flush()
    if pending:
        flush()
    return moved


def _run(statements: Sequence[tuple[Any, Sequence[Any]]]) -> None:
    cassandra_execute_all(statements)


@dataclass(frozen=True)
class DrainResult:
    batches: int
    events: int
    more: bool


def watch_stream_drain(*, consumer: str, budget_seconds: float, count: int = 1000) -> DrainResult:
    """Move batches from the stream into Cassandra until it is empty or the time budget is spent.

    Order of sources each round: this consumer's own pending entries (a retry after a failed write),
    then entries another consumer left idle past WATCH_CLAIM_IDLE_SECONDS (it died mid-write), then
    new entries. Entries are XACKed and XDELed only after their Cassandra writes succeed (or after
    they were set aside in the dead-letter stream); batches of an erased member are dropped.
    """
    client = stream_client()
    group_ensure(client)
    deadline = time.monotonic() + budget_seconds
    claim_idle_ms = int(settings.WATCH_CLAIM_IDLE_SECONDS * 1000)
    total_batches = total_events = 0
    # Entries left pending because the dead-letter stream is full: skipped for the rest of this call
    # (the next drain tries them again), so they cannot wedge the stream.
    stuck_after = "0"
    while True:
        entries = _own_pending(client, consumer, count, after=stuck_after)
        entries = entries or _claim_stale(client, consumer, claim_idle_ms, count) or _read_new(client, consumer, count)
        if not entries:
            watched_counts_refresh_due(client=client)
            return DrainResult(total_batches, total_events, more=False)
        parsed: list[tuple[Any, WatchBatch]] = []
        done: list[Any] = []
        kept: list[Any] = []
        for entry_id, fields in entries:
            if not fields:  # deleted after delivery (already stored by another consumer)
                done.append(entry_id)
                continue
            try:
                parsed.append((entry_id, WatchBatch.from_json(fields[b"b"])))
            except (KeyError, ValueError, TypeError):  # not our payload shape: the data, not our code
                (done if _dead_letter(client, entry_id, fields, "malformed entry") else kept).append(entry_id)
        erased = _erased_members(client, {batch.user_id for _, batch in parsed})
        done += [entry_id for entry_id, batch in parsed if batch.user_id in erased]
        parsed = [(entry_id, batch) for entry_id, batch in parsed if batch.user_id not in erased]
        batches = [batch for _, batch in parsed]
        try:
            total_events += watch_batches_store(batches=batches)
            done += [entry_id for entry_id, _ in parsed]
        except UNSTORABLE:
            # Cassandra (or the driver's encoder) refuses something in this round, and retrying cannot
            # help: store the batches one by one so only the refused ones are set aside, instead of
            # blocking the stream forever.
            stored, set_aside, left = _store_each_or_dead_letter(client, parsed)
            total_events += stored
            done += set_aside
            kept += left
        total_batches += len(batches)
        if done:
            pipe = client.pipeline(transaction=False)
            pipe.xack(STREAM, GROUP, *done)
            pipe.xdel(STREAM, *done)
            pipe.execute()
        if kept:
            stuck_after = max(kept, key=_entry_order)
        watched_counts_refresh_due(client=client)
        if time.monotonic() > deadline:
            return DrainResult(total_batches, total_events, more=True)


# Errors that retrying the same batch can never fix (as opposed to a node being down): Cassandra
# refusing the statement. Values are checked when an entry is read (WatchBatch.from_json), so a
# TypeError or ValueError from the driver here means a bug in our code: it must fail the task loudly
# and leave the batch pending, not send every batch to the dead letters.
UNSTORABLE = (RequestValidationException,)


def _entry_order(entry_id: Any) -> tuple[int, int]:
    ms, _, seq = (entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)).partition("-")
    return int(ms), int(seq or 0)


def _erased_members(client: Any, user_ids: set[int]) -> set[int]:
    if not user_ids:
        return set()
    ordered = sorted(user_ids)
    flags = client.mget([ERASED_KEY.format(user_id=u) for u in ordered])
    return {u for u, flag in zip(ordered, flags, strict=True) if flag}


def _dead_letter(client: Any, entry_id: Any, fields: Any, reason: str) -> bool:
    """Keep an entry that can never be stored where an operator can inspect and replay it
    (`manage.py watch_dead_letters`). False when the dead-letter stream is full: the entry then
    stays pending in the main stream (nothing is dropped) and an error is logged for the alert."""
    if client.xlen(DEAD_LETTERS) >= settings.WATCH_DEAD_LETTERS_MAX:
        logger.critical(
            "dead-letter stream %s is full (%s entries): entry %s stays pending; "
            "inspect and replay or delete with manage.py watch_dead_letters",
            DEAD_LETTERS,
            settings.WATCH_DEAD_LETTERS_MAX,
            entry_id,
        )
        return False
    logger.error("watch stream entry %s set aside in %s: %s", entry_id, DEAD_LETTERS, reason)
    payload = fields.get(b"b", b"") if isinstance(fields, dict) else b""
    client.xadd(DEAD_LETTERS, {"id": entry_id, "b": payload, "reason": reason[:500]})
    return True


def _store_each_or_dead_letter(client: Any, parsed: list[tuple[Any, WatchBatch]]) -> tuple[int, list[Any], list[Any]]:
    """Store one by one; returns (events stored, entries done, entries left pending)."""
    stored = 0
    done: list[Any] = []
    left: list[Any] = []
    for entry_id, batch in parsed:
        try:
            stored += watch_batches_store(batches=[batch])
            done.append(entry_id)
        except UNSTORABLE as exc:
            (done if _dead_letter(client, entry_id, {b"b": batch.to_json().encode()}, repr(exc)) else left).append(
                entry_id
            )
    return stored, done, left


def watch_dead_letters_list(*, count: int = 100) -> list[tuple[str, dict[str, str]]]:
    """The oldest dead letters: (dead-letter id, {"id": original entry, "reason": ..., "b": payload})."""
    entries: Any = stream_client().xrange(DEAD_LETTERS, count=count)
    return [
        (entry_id.decode(), {k.decode(): v.decode(errors="replace") for k, v in fields.items()})
        for entry_id, fields in entries
    ]


def watch_dead_letters_replay(*, ids: list[str]) -> int:
    """Put dead letters back on the main stream (after the cause was fixed); returns how many.

    Each is re-appended and removed from the dead letters in one transaction, so a crash cannot
    lose or duplicate one (a duplicate would be harmless anyway: every write is idempotent).
    """
    client = stream_client()
    replayed = 0
    for dead_id in ids:
        found: Any = client.xrange(DEAD_LETTERS, min=dead_id, max=dead_id)
        if not found or not found[0][1].get(b"b"):
            continue
        pipe = client.pipeline(transaction=True)
        pipe.xadd(STREAM, {"b": found[0][1][b"b"]})
        pipe.xdel(DEAD_LETTERS, dead_id)
        pipe.execute()
        replayed += 1
    return replayed


def watch_dead_letters_delete(*, ids: list[str]) -> int:
    return int(stream_client().xdel(DEAD_LETTERS, *ids)) if ids else 0


def _own_pending(client: Any, consumer: str, count: int, *, after: str = "0") -> list[Any]:
    response = client.xreadgroup(GROUP, consumer, {STREAM: after}, count=count)
    return list(response[0][1]) if response else []


def _claim_stale(client: Any, consumer: str, idle_ms: int, count: int) -> list[Any]:
    _, claimed, *_ = client.xautoclaim(STREAM, GROUP, consumer, min_idle_time=idle_ms, start_id="0-0", count=count)
    return list(claimed)


def _read_new(client: Any, consumer: str, count: int) -> list[Any]:
    response = client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count)
    return list(response[0][1]) if response else []


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# --- Member actions -------------------------------------------------------------------------------

HIDE = "UPDATE {ks}.member_videos SET hidden = true WHERE user_id = ? AND video_id = ?"
MARK_WATCHED = "UPDATE {ks}.member_videos SET marked_watched = true WHERE user_id = ? AND video_id = ?"
FORGET = "DELETE FROM {ks}.member_videos WHERE user_id = ? AND video_id = ?"
FORGET_COVERAGE = "DELETE FROM {ks}.member_video_coverage WHERE user_id = ? AND video_id = ?"


def member_video_hide(*, user_id: int, video_id: int) -> None:
    """Remove a video from the member's continue-watching row (until they watch it again)."""
    _run([(cassandra_prepared(HIDE), (user_id, video_id))])


def member_video_mark_watched(*, user_id: int, video_id: int) -> None:
    _run([(cassandra_prepared(MARK_WATCHED), (user_id, video_id))])


def member_video_mark_unwatched(*, user_id: int, video_id: int) -> None:
    """Forget the member's position and coverage of the video (raw events stay for analytics)."""
    _run([(cassandra_prepared(statement), (user_id, video_id)) for statement in (FORGET, FORGET_COVERAGE)])


# --- Member data: export and erasure (registered with accounts' member-data registry) ------------

SELECT_DAYS = "SELECT day, video_id FROM {ks}.member_watch_days WHERE user_id = ?"
SELECT_DAY_EVENTS = (
    "SELECT video_id, session_id, position, client_ts, rate FROM {ks}.watch_events WHERE user_id = ? AND day = ?"
)
SELECT_STATE = (
    "SELECT video_id, position, last_watched, watched_buckets, hidden, marked_watched "
    "FROM {ks}.member_videos WHERE user_id = ?"
)
DELETE_DAY_EVENTS = "DELETE FROM {ks}.watch_events WHERE user_id = ? AND day = ?"
DELETE_SESSIONS = "DELETE FROM {ks}.video_sessions WHERE video_id = ? AND day = ? AND user_id = ?"
DELETE_STATE = "DELETE FROM {ks}.member_videos WHERE user_id = ?"
DELETE_COVERAGE = "DELETE FROM {ks}.member_video_coverage WHERE user_id = ?"
DELETE_DAYS = "DELETE FROM {ks}.member_watch_days WHERE user_id = ?"
DELETE_VIDEO_MEMBER = "DELETE FROM {ks}.video_members WHERE video_id = ? AND shard = ? AND user_id = ?"


def member_watch_data_export(*, user_id: int) -> dict[str, Any]:
    """Everything Watchpoint stores about a member's watching: positions and per-session history,
    each video named by its title and its page's path on the site (deleted videos: null)."""
    from videos.selectors import video_links_in_bulk

    session = cassandra_session()
    state = list(session.execute(cassandra_prepared(SELECT_STATE), (user_id,)))
    days = sorted({row.day for row in session.execute(cassandra_prepared(SELECT_DAYS), (user_id,))})
    history: dict[tuple[str, int, str], list[int]] = defaultdict(list)
    for day in days:
        for row in session.execute(cassandra_prepared(SELECT_DAY_EVENTS), (user_id, day)):
            history[(str(day), row.video_id, str(row.session_id))].append(row.position)
    links = video_links_in_bulk(video_ids=sorted({r.video_id for r in state} | {v for _, v, _ in history}))

    def named(video_id: int) -> dict[str, Any]:
        title, url = links.get(video_id, (None, None))
        return {"video_id": video_id, "title": title, "url": url}

    return {
        "videos": [
            named(row.video_id)
            | {
                "resume_position_seconds": row.position,
                "last_watched": row.last_watched.isoformat() if row.last_watched else None,
                "seconds_watched": watched_seconds_sum(buckets=row.watched_buckets),
                "removed_from_continue_watching": bool(row.hidden),
                "marked_watched": bool(row.marked_watched),
            }
            for row in state
        ],
        "history": [
            {"day": day} | named(video_id) | {"viewing_session": sid, "seconds": sorted(positions)}
            for (day, video_id, sid), positions in sorted(history.items())
        ],
    }


# While an erasure is under way (and only then): the anonymous id its rows are re-keyed to, so a
# retry after a failure half-way keeps one anonymous member (the funnel and distinct counts need
# that). Deleted when the erasure completes; expires with ERASED_KEY at worst.
ANONYMOUS_KEY = "wp:watch:erasing:{user_id}"
SELECT_MEMBER_SESSIONS = (
    "SELECT session_id, seconds, TTL(seconds) AS ttls FROM {ks}.video_sessions "
    "WHERE video_id = ? AND day = ? AND user_id = ?"
)
SELECT_VIDEO_MEMBER_COVERAGE = (
    "SELECT seconds, TTL(seconds) AS ttls FROM {ks}.video_members WHERE video_id = ? AND shard = ? AND user_id = ?"
)
ANON_SESSION_SECONDS = (
    "UPDATE {ks}.video_sessions USING TTL ? SET seconds = seconds + ? "
    "WHERE video_id = ? AND day = ? AND user_id = ? AND session_id = ?"
)
ANON_VIDEO_MEMBER = (
    "UPDATE {ks}.video_members USING TTL ? SET seconds = seconds + ? WHERE video_id = ? AND shard = ? AND user_id = ?"
)
ANON_DAY_MEMBER = (
    "INSERT INTO {ks}.video_day_members (video_id, day, user_id, coverage, seconds) VALUES (?, ?, ?, ?, ?) USING TTL ?"
)
DELETE_DAY_MEMBER = "DELETE FROM {ks}.video_day_members WHERE video_id = ? AND day = ? AND user_id = ?"


def anonymous_member_id_new(*, user_id: int) -> int:
    """A random negative id in the same video_members shard as `user_id`, unrelated to it otherwise.

    Real ids are positive, so the two never collide; the shard is kept so that re-keying a member's
    coverage row stays inside one partition (one atomic, isolated batch). 2^59 values per shard.
    """
    import secrets

    shard = user_id % VIDEO_MEMBER_SHARDS
    anonymous = -VIDEO_MEMBER_SHARDS * (secrets.randbelow(2**59) + 1) + shard
    return anonymous


def _by_ttl(seconds: Iterable[int], ttls: Iterable[int | None] | None) -> dict[int, set[int]]:
    # Each set element carries its own TTL (from when it was last written), listed in the set's
    # order; copies keep it, so re-keyed rows expire when the originals would have. None: no TTL.
    ordered = list(seconds)
    groups: dict[int, set[int]] = defaultdict(set)
    for second, ttl in zip(ordered, list(ttls) if ttls is not None else [None] * len(ordered), strict=True):
        groups[int(ttl or 0)].add(second)
    return groups


def _rekey_statements(*, user_id: int, anonymous: int, day_rows: list[Any]) -> list[tuple[Any, Sequence[Any]]]:
    """One batch per partition that moves the member's rollup inputs to `anonymous` and deletes them.

    Each batch touches one partition key (video_sessions and video_day_members share (video_id,
    day); the two video_members rows share their shard), so it applies atomically and in isolation:
    a retry finds either the original rows (nothing done) or none (done), never both halves.
    """
    from analytics.selectors import coverage_bitmap

    pairs = sorted({(row.video_id, row.day) for row in day_rows})
    videos = sorted({video_id for video_id, _ in pairs})
    shard = user_id % VIDEO_MEMBER_SHARDS
    select_sessions = cassandra_prepared(SELECT_MEMBER_SESSIONS)
    select_coverage = cassandra_prepared(SELECT_VIDEO_MEMBER_COVERAGE)
    reads = cassandra_execute_all(
        [(select_sessions, (v, d, user_id)) for v, d in pairs]
        + [(select_coverage, (v, shard, user_id)) for v in videos]
    )
    results = [list(result) for result in reads]
    session_ids: dict[uuid.UUID, uuid.UUID] = defaultdict(uuid.uuid4)  # fresh, unlinkable session ids
    statements: list[tuple[Any, Sequence[Any]]] = []
    for (video_id, day), rows in zip(pairs, results[: len(pairs)], strict=True):
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        covered: set[int] = set()
        longest = 0
        for row in rows:
            for ttl, seconds in _by_ttl(row.seconds or (), row.ttls).items():
                batch.add(
                    cassandra_prepared(ANON_SESSION_SECONDS),
                    (ttl, seconds, video_id, day, anonymous, session_ids[row.session_id]),
                )
                covered |= seconds
                longest = max(longest, ttl)
        if covered:
            batch.add(
                cassandra_prepared(ANON_DAY_MEMBER),
                (video_id, day, anonymous, coverage_bitmap(covered), len(covered), longest),
            )
        batch.add(cassandra_prepared(DELETE_SESSIONS), (video_id, day, user_id))
        batch.add(cassandra_prepared(DELETE_DAY_MEMBER), (video_id, day, user_id))
        statements.append((batch, ()))
    for video_id, rows in zip(videos, results[len(pairs) :], strict=True):
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        for row in rows:
            for ttl, seconds in _by_ttl(row.seconds or (), row.ttls).items():
                batch.add(cassandra_prepared(ANON_VIDEO_MEMBER), (ttl, seconds, video_id, shard, anonymous))
        batch.add(cassandra_prepared(DELETE_VIDEO_MEMBER), (video_id, shard, user_id))
        statements.append((batch, ()))
    return statements


# The oldest day a batch still queued in the stream can carry: sessions write only to the day they
# started, and no later than its end plus the late window; a week more covers a drain outage.
QUEUED_DAYS_MAX = 8


def member_watch_data_erase(*, user_id: int) -> None:
    """Delete every row of the member in every analytics table, keeping staff figures unchanged.

    First the member's tokens are revoked and the drain told to drop their batches still queued, so
    nothing lands after the deletes; raw partitions are deleted for every day a queued batch could
    still carry (QUEUED_DAYS_MAX), not only the days the index already lists.

    History stays: the rollups' inputs (video_sessions, video_members, video_day_members) are
    re-keyed to a random negative id with fresh session ids, in the same partition batch that
    deletes the originals, so the figures, and a `rollups_rebuild`, stay what they were. Nothing
    links that id to the member once the erasure has finished: it is not derived from the member's
    id and is kept (in Redis, ANONYMOUS_KEY) only until then. What identifies the member goes:
    raw per-second events (client times, rates), resume state, the day index.
    """
    client = stream_client()
    member_ingest_revoke(user_id=user_id)
    keep = QUEUED_DAYS_MAX * 86400
    client.set(ERASED_KEY.format(user_id=user_id), "1", ex=keep)
    anonymous_key = ANONYMOUS_KEY.format(user_id=user_id)
    client.set(anonymous_key, anonymous_member_id_new(user_id=user_id), ex=keep, nx=True)
    stored = client.get(anonymous_key)
    if stored is None:  # expired between the two calls: only if the erasure was retried days later
        raise RuntimeError("the erasure's anonymous id expired; retry the erasure")
    anonymous = int(stored)
    session = cassandra_session()
    day_rows = list(session.execute(cassandra_prepared(SELECT_DAYS), (user_id,)))
    _run(_rekey_statements(user_id=user_id, anonymous=anonymous, day_rows=day_rows))
    minute = int(time.time() // 60)
    statements: list[tuple[Any, Sequence[Any]]] = []
    today = datetime.now(tz=UTC).date()
    recent = {today - timedelta(days=n) for n in range(-1, QUEUED_DAYS_MAX + 1)}
    for day in {row.day for row in day_rows} | recent:
        statements.append((cassandra_prepared(DELETE_DAY_EVENTS), (user_id, day)))
    for row in day_rows:
        # The figures do not change; the recomputation rewrites the day's member rows all the same.
        statements.append((cassandra_prepared(INSERT_CHANGE), (minute, row.video_id, row.day)))
    statements.append((cassandra_prepared(DELETE_STATE), (user_id,)))
    statements.append((cassandra_prepared(DELETE_COVERAGE), (user_id,)))
    _run(statements)
    # Last: the index is what a retry would walk if anything above failed.
    _run([(cassandra_prepared(DELETE_DAYS), (user_id,))])
    client.delete(anonymous_key)
