"""Writes of the analytics app: accept watch batches (web) and store them in Cassandra (workers)."""

from __future__ import annotations

import json
import logging
import struct
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from cassandra import RequestValidationException
from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType
from django.conf import settings
from django.core import signing

from analytics.cassandra import cassandra_prepared, cassandra_session
from analytics.models import VIDEO_MEMBER_SHARDS
from analytics.stream import GROUP, KICK_KEY, RATE_KEY, STREAM, enqueue_script, group_ensure, stream_client

logger = logging.getLogger(__name__)

# (position in seconds, client event time in ms since the epoch, playback rate)
EventTuple = tuple[int, int, float]

BEACON_SALT = "analytics.viewing-session"
# Rows per UNLOGGED batch: one partition each; stays under Cassandra's 5 KiB batch warning.
ROWS_PER_BATCH = 100
CONCURRENCY = 128


@dataclass(frozen=True)
class WatchBatch:
    user_id: int
    video_id: int
    session_id: uuid.UUID
    events: tuple[EventTuple, ...]

    def to_json(self) -> str:
        return json.dumps([self.user_id, self.video_id, str(self.session_id), self.events], separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> WatchBatch:
        user_id, video_id, session_id, events = json.loads(raw)
        return cls(
            int(user_id), int(video_id), uuid.UUID(session_id), tuple((int(p), int(t), float(r)) for p, t, r in events)
        )


class Enqueued(Enum):
    QUEUED = "queued"
    QUEUED_WAKE_DRAIN = "wake"
    RATE_LIMITED = "limited"


# --- Web side -------------------------------------------------------------------------------------


def watch_batch_enqueue(*, batch: WatchBatch, rate_limited: bool = True) -> Enqueued:
    """Append a validated batch to the durable stream (one Redis round trip, no Cassandra).

    `rate_limited=False` is for synthetic traffic, which runs faster than any browser may.
    Raises redis.exceptions.ConnectionError / TimeoutError when Redis is unreachable.
    """
    limit = settings.WATCH_BATCHES_PER_MINUTE if rate_limited else 2**62
    result = enqueue_script()(
        keys=[STREAM, RATE_KEY.format(user_id=batch.user_id), KICK_KEY],
        args=[batch.to_json(), limit, 60, settings.WATCH_DRAIN_WAKE_MS],
    )
    return {-1: Enqueued.RATE_LIMITED, 1: Enqueued.QUEUED_WAKE_DRAIN}.get(int(result), Enqueued.QUEUED)


@dataclass(frozen=True)
class ViewingSession:
    session_id: uuid.UUID
    token: str


def viewing_session_start(*, user_id: int, video_id: int) -> ViewingSession:
    """A viewing-session id for one page load, and a signed token binding it to member and video.

    The token authenticates `navigator.sendBeacon` flushes, which cannot carry the CSRF header: a
    cross-site page cannot read it, and it only works for this member, video and session.
    """
    session_id = uuid.uuid4()
    token = signing.dumps({"u": user_id, "v": video_id, "s": str(session_id)}, salt=BEACON_SALT, compress=False)
    return ViewingSession(session_id=session_id, token=token)


def viewing_session_token_valid(*, token: str, user_id: int, video_id: int, session_id: uuid.UUID) -> bool:
    try:
        claims = signing.loads(token, salt=BEACON_SALT, max_age=settings.WATCH_BEACON_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return False
    return bool(claims == {"u": user_id, "v": video_id, "s": str(session_id)})


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
ADD_COVERAGE = "UPDATE {ks}.member_videos SET seconds = seconds + ? WHERE user_id = ? AND video_id = ?"
SELECT_COVERAGE = "SELECT seconds FROM {ks}.member_videos WHERE user_id = ? AND video_id = ?"
UPDATE_WATCHED = "UPDATE {ks}.member_videos USING TIMESTAMP ? SET watched = ? WHERE user_id = ? AND video_id = ?"
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
    Batches are merged first so each partition gets one UNLOGGED batch per ROWS_PER_BATCH rows.
    Raises the driver's exception if any write fails; the caller then retries the whole call.
    """
    events: dict[tuple[int, date], dict[tuple[int, uuid.UUID, int], tuple[int, float]]] = defaultdict(dict)
    coverage: dict[tuple[int, int], set[int]] = defaultdict(set)
    sessions: dict[tuple[int, date, int, uuid.UUID], set[int]] = defaultdict(set)
    newest: dict[tuple[int, int], tuple[int, int, uuid.UUID]] = {}
    for batch in batches:
        key = (batch.user_id, batch.video_id)
        for position, client_ts, rate in batch.events:
            day = _utc(client_ts).date()
            cell = (batch.video_id, batch.session_id, position)
            # A second replayed with another client time: keep the later one, deterministically.
            previous = events[(batch.user_id, day)].get(cell)
            if previous is None or (client_ts, rate) > previous:
                events[(batch.user_id, day)][cell] = (client_ts, rate)
            coverage[key].add(position)
            sessions[(batch.video_id, day, batch.user_id, batch.session_id)].add(position)
            candidate = (client_ts, position, batch.session_id)
            if key not in newest or candidate > newest[key]:
                newest[key] = candidate
    if not events:
        return 0

    insert_event = cassandra_prepared(INSERT_EVENT)
    statements: list[tuple[Any, Sequence[Any]]] = []
    stored = 0
    for (user_id, day), cells in events.items():
        rows = list(cells.items())
        stored += len(rows)
        for start in range(0, len(rows), ROWS_PER_BATCH):
            batch_stmt = BatchStatement(batch_type=BatchType.UNLOGGED)
            for (video_id, session_id, position), (client_ts, rate) in rows[start : start + ROWS_PER_BATCH]:
                batch_stmt.add(insert_event, (user_id, day, video_id, session_id, position, _utc(client_ts), rate))
            statements.append((batch_stmt, ()))
    minute = int(time.time() // 60)
    member_days = {(u, d, v) for (u, d), cells in events.items() for (v, _, _) in cells}
    statements += [(cassandra_prepared(INSERT_MEMBER_DAY), row) for row in member_days]
    statements += [
        (cassandra_prepared(INSERT_CHANGE), (minute, v, d)) for (v, d) in {(v, d) for (_, d, v) in member_days}
    ]
    statements += [
        (cassandra_prepared(ADD_SESSION_SECONDS), (secs, video_id, day, user_id, session_id))
        for (video_id, day, user_id, session_id), secs in sessions.items()
    ]
    statements += [(cassandra_prepared(ADD_COVERAGE), (secs, u, v)) for (u, v), secs in coverage.items()]
    # The all-time rollups' per-member coverage by video (analytics.models.VideoMember).
    statements += [
        (cassandra_prepared(ADD_VIDEO_MEMBER), (secs, v, u % VIDEO_MEMBER_SHARDS, u))
        for (u, v), secs in coverage.items()
    ]
    statements += [
        (cassandra_prepared(UPDATE_RESUME), (client_ts * 1000, position, _utc(client_ts), session_id, u, v))
        for (u, v), (client_ts, position, session_id) in newest.items()
    ]
    _run(statements)
    _watched_counts_refresh(keys=list(coverage))
    return stored


def _watched_counts_refresh(*, keys: list[tuple[int, int]]) -> None:
    # The count is written with the time of the read that produced it: of two workers racing, the
    # later read has seen the other's union, and its count wins (see MemberVideo).
    session = cassandra_session()
    select = cassandra_prepared(SELECT_COVERAGE)
    read_at = int(time.time() * 1_000_000)
    reads = execute_concurrent(session, [(select, k) for k in keys], concurrency=CONCURRENCY, raise_on_first_error=True)
    update = cassandra_prepared(UPDATE_WATCHED)
    writes = []
    for (user_id, video_id), (_, result) in zip(keys, reads, strict=True):
        row = result.one()
        writes.append((update, (read_at, len(row.seconds or ()) if row else 0, user_id, video_id)))
    _run(writes)


def _run(statements: Sequence[tuple[Any, Sequence[Any]]]) -> None:
    execute_concurrent(cassandra_session(), statements, concurrency=CONCURRENCY, raise_on_first_error=True)


@dataclass(frozen=True)
class DrainResult:
    batches: int
    events: int
    more: bool


def watch_stream_drain(*, consumer: str, budget_seconds: float, count: int = 500) -> DrainResult:
    """Move batches from the stream into Cassandra until it is empty or the time budget is spent.

    Order of sources each round: this consumer's own pending entries (a retry after a failed write),
    then entries another consumer left idle past WATCH_CLAIM_IDLE_SECONDS (it died mid-write), then
    new entries. Entries are XACKed and XDELed only after their Cassandra writes succeed.
    """
    client = stream_client()
    group_ensure(client)
    deadline = time.monotonic() + budget_seconds
    claim_idle_ms = int(settings.WATCH_CLAIM_IDLE_SECONDS * 1000)
    total_batches = total_events = 0
    while True:
        entries = _own_pending(client, consumer, count) or _claim_stale(client, consumer, claim_idle_ms, count)
        entries = entries or _read_new(client, consumer, count)
        if not entries:
            return DrainResult(total_batches, total_events, more=False)
        parsed: list[tuple[Any, WatchBatch]] = []
        ids = []
        for entry_id, fields in entries:
            ids.append(entry_id)
            if not fields:  # deleted after delivery (already stored by another consumer)
                continue
            try:
                parsed.append((entry_id, WatchBatch.from_json(fields[b"b"])))
            except (KeyError, ValueError, TypeError):
                _dead_letter(client, entry_id, fields, "malformed entry")
        batches = [batch for _, batch in parsed]
        try:
            total_events += watch_batches_store(batches=batches)
        except UNSTORABLE:
            # Cassandra (or the driver's encoder) refuses something in this round, and retrying cannot
            # help: store the batches one by one so only the refused ones are set aside, instead of
            # blocking the stream forever.
            total_events += _store_each_or_dead_letter(client, parsed)
        total_batches += len(batches)
        pipe = client.pipeline(transaction=False)
        pipe.xack(STREAM, GROUP, *ids)
        pipe.xdel(STREAM, *ids)
        pipe.execute()
        if time.monotonic() > deadline:
            return DrainResult(total_batches, total_events, more=True)


DEAD_LETTERS = "wp:watch:dead"
# Errors that retrying the same batch can never fix (as opposed to a node being down).
UNSTORABLE = (RequestValidationException, struct.error, OverflowError, TypeError, ValueError)


def _dead_letter(client: Any, entry_id: Any, fields: Any, reason: str) -> None:
    """Keep an entry that can never be stored where an operator can inspect and replay it."""
    logger.error("watch stream entry %s set aside in %s: %s", entry_id, DEAD_LETTERS, reason)
    payload = fields.get(b"b", b"") if isinstance(fields, dict) else b""
    client.xadd(DEAD_LETTERS, {"id": entry_id, "b": payload, "reason": reason[:500]})


def _store_each_or_dead_letter(client: Any, parsed: list[tuple[Any, WatchBatch]]) -> int:
    stored = 0
    for entry_id, batch in parsed:
        try:
            stored += watch_batches_store(batches=[batch])
        except UNSTORABLE as exc:
            _dead_letter(client, entry_id, {b"b": batch.to_json().encode()}, repr(exc))
    return stored


def _own_pending(client: Any, consumer: str, count: int) -> list[Any]:
    response = client.xreadgroup(GROUP, consumer, {STREAM: "0"}, count=count)
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


def member_video_hide(*, user_id: int, video_id: int) -> None:
    """Remove a video from the member's continue-watching row (until they watch it again)."""
    _run([(cassandra_prepared(HIDE), (user_id, video_id))])


def member_video_mark_watched(*, user_id: int, video_id: int) -> None:
    _run([(cassandra_prepared(MARK_WATCHED), (user_id, video_id))])


def member_video_mark_unwatched(*, user_id: int, video_id: int) -> None:
    """Forget the member's position and coverage of the video (raw events stay for analytics)."""
    _run([(cassandra_prepared(FORGET), (user_id, video_id))])


# --- Member data: export and erasure (registered with accounts' member-data registry) ------------

SELECT_DAYS = "SELECT day, video_id FROM {ks}.member_watch_days WHERE user_id = ?"
SELECT_DAY_EVENTS = (
    "SELECT video_id, session_id, position, client_ts, rate FROM {ks}.watch_events WHERE user_id = ? AND day = ?"
)
SELECT_STATE = (
    "SELECT video_id, position, last_watched, watched, hidden, marked_watched FROM {ks}.member_videos WHERE user_id = ?"
)
DELETE_DAY_EVENTS = "DELETE FROM {ks}.watch_events WHERE user_id = ? AND day = ?"
DELETE_SESSIONS = "DELETE FROM {ks}.video_sessions WHERE video_id = ? AND day = ? AND user_id = ?"
DELETE_STATE = "DELETE FROM {ks}.member_videos WHERE user_id = ?"
DELETE_DAYS = "DELETE FROM {ks}.member_watch_days WHERE user_id = ?"
DELETE_VIDEO_MEMBER = "DELETE FROM {ks}.video_members WHERE video_id = ? AND shard = ? AND user_id = ?"


def member_watch_data_export(*, user_id: int) -> dict[str, Any]:
    """Everything Watchpoint stores about a member's watching: positions and per-session history."""
    session = cassandra_session()
    state = session.execute(cassandra_prepared(SELECT_STATE), (user_id,))
    days = sorted({row.day for row in session.execute(cassandra_prepared(SELECT_DAYS), (user_id,))})
    history: dict[tuple[str, int, str], list[int]] = defaultdict(list)
    for day in days:
        for row in session.execute(cassandra_prepared(SELECT_DAY_EVENTS), (user_id, day)):
            history[(str(day), row.video_id, str(row.session_id))].append(row.position)
    return {
        "videos": [
            {
                "video_id": row.video_id,
                "resume_position_seconds": row.position,
                "last_watched": row.last_watched.isoformat() if row.last_watched else None,
                "seconds_watched": row.watched or 0,
                "removed_from_continue_watching": bool(row.hidden),
                "marked_watched": bool(row.marked_watched),
            }
            for row in state
        ],
        "history": [
            {"day": day, "video_id": video_id, "viewing_session": sid, "seconds": sorted(positions)}
            for (day, video_id, sid), positions in sorted(history.items())
        ],
    }


def member_watch_data_erase(*, user_id: int) -> None:
    """Delete every row of the member in every analytics table, and mark the videos for rollup."""
    session = cassandra_session()
    day_rows = list(session.execute(cassandra_prepared(SELECT_DAYS), (user_id,)))
    minute = int(time.time() // 60)
    statements: list[tuple[Any, Sequence[Any]]] = []
    for day in {row.day for row in day_rows}:
        statements.append((cassandra_prepared(DELETE_DAY_EVENTS), (user_id, day)))
    for row in day_rows:
        statements.append((cassandra_prepared(DELETE_SESSIONS), (row.video_id, row.day, user_id)))
        statements.append((cassandra_prepared(INSERT_CHANGE), (minute, row.video_id, row.day)))
    for video_id in {row.video_id for row in day_rows}:
        statements.append((cassandra_prepared(DELETE_VIDEO_MEMBER), (video_id, user_id % VIDEO_MEMBER_SHARDS, user_id)))
    statements.append((cassandra_prepared(DELETE_STATE), (user_id,)))
    _run(statements)
    # Last: the index is what a retry would walk if anything above failed.
    _run([(cassandra_prepared(DELETE_DAYS), (user_id,))])
