"""A member's erasure from every analytics table (registered with accounts' member-data registry;
the export is a read: analytics.selectors.member_watch_data_export)."""

from __future__ import annotations

import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cassandra.query import BatchStatement, BatchType

from analytics.cassandra import cassandra_execute_all, cassandra_prepared
from analytics.drain import INSERT_CHANGE
from analytics.models import VIDEO_MEMBER_SHARDS
from analytics.selectors import coverage_bitmap, member_watch_days_get
from analytics.stream import ERASED_KEY, stream_client
from analytics.students import course_member_erase
from analytics.viewing import member_ingest_revoke
from videos.selectors import playlist_ids_all

DELETE_DAY_EVENTS = "DELETE FROM {ks}.watch_events WHERE user_id = ? AND day = ?"
DELETE_SESSIONS = "DELETE FROM {ks}.video_sessions WHERE video_id = ? AND day = ? AND user_id = ?"
DELETE_STATE = "DELETE FROM {ks}.member_videos WHERE user_id = ?"
DELETE_COVERAGE = "DELETE FROM {ks}.member_video_coverage WHERE user_id = ?"
DELETE_DAYS = "DELETE FROM {ks}.member_watch_days WHERE user_id = ?"
DELETE_VIDEO_MEMBER = "DELETE FROM {ks}.video_members WHERE video_id = ? AND shard = ? AND user_id = ?"

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
    day_rows = member_watch_days_get(user_id=user_id)
    cassandra_execute_all(_rekey_statements(user_id=user_id, anonymous=anonymous, day_rows=day_rows))
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
    cassandra_execute_all(statements)
    course_member_erase(user_id=user_id, playlist_ids=playlist_ids_all())
    # Last: the index is what a retry would walk if anything above failed.
    cassandra_execute_all([(cassandra_prepared(DELETE_DAYS), (user_id,))])
    client.delete(anonymous_key)
