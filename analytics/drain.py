"""The workers' side of watch tracking: move batches from the stream into Cassandra.

`watch_stream_drain` (called by analytics/tasks.py) reads the stream through its consumer group,
`watch_batches_store` merges a round of batches into the rows of the 7 tables they feed and writes
them in packed UNLOGGED batches, then the entries are acknowledged and deleted; what Cassandra
refuses for good goes to the dead letters. The watched counts of the grown coverage rows are
recounted later (analytics/recount.py).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from cassandra import RequestValidationException
from django.conf import settings

from analytics.acceptance import DAY_MS, WatchBatch
from analytics.cassandra import (
    ROWS_PER_BATCH,
    SET_ELEMENTS_PER_BATCH,
    BatchPacker,
    cassandra_execute_all,
    cassandra_prepared,
    cassandra_session,
)
from analytics.models import COVERAGE_BUCKET_SECONDS, VIDEO_MEMBER_SHARDS
from analytics.recount import watched_counts_refresh, watched_counts_refresh_due, watched_counts_schedule
from analytics.stream import DEAD_LETTERS, GROUP, STREAM, erased_members_get, group_ensure, stream_client

logger = logging.getLogger(__name__)

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


def _day_cache() -> Any:
    days: dict[int, date] = {}
    epoch = date(1970, 1, 1).toordinal()

    def day_of(number: int) -> date:
        found = days.get(number)
        if found is None:
            found = days[number] = date.fromordinal(epoch + number)
        return found

    return day_of


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
        cassandra_execute_all([(add_coverage, (secs, *key)) for key, secs in buckets.items()])
        watched_counts_refresh(buckets=list(buckets))
        cassandra_execute_all([(clear, (row.user_id, row.video_id)) for row in pending])
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
        erased = erased_members_get(client=client, user_ids={batch.user_id for _, batch in parsed})
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
