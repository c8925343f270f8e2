"""The rollups' oracle: figures recomputed by brute force from raw events (watch_events), written
independently of analytics/rollups.py, and the stored rollups read back in the same shape."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from analytics.acceptance import WatchBatch
from analytics.cassandra import cassandra_keyspace, cassandra_session

DAY_MS = 86_400_000


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def today() -> date:
    return datetime.now(tz=UTC).date()


def session_batches(user_id: int, video_id: int, positions: list[int], *, start_ms: int) -> list[WatchBatch]:
    """One viewing session cut into 10-event batches, one second of client time per event."""
    session_id = uuid.uuid4()
    events = [(p, start_ms + i * 1000, 1.0) for i, p in enumerate(positions)]
    return [
        WatchBatch(user_id, video_id, session_id, tuple(events[i : i + 10]))
        for i in range(0, len(events), 10)
        if events[i : i + 10]
    ]


def _figures(sessions: dict[tuple[int, uuid.UUID], set[int]], coverage: dict[int, set[int]], duration: int) -> dict:
    watch = sum(len(s) for s in sessions.values())
    return {
        "sessions": len(sessions),
        "views": sum(1 for s in sessions.values() if len(s) >= 10 or len(s) >= duration / 2),
        "members": len(coverage),
        "watch_seconds": watch,
        "completions": sum(1 for c in coverage.values() if len(c) >= 0.9 * duration),
        "rewatch_seconds": watch - sum(len(c) for c in coverage.values()),
    }


def _retention(coverage: dict[int, set[int]], duration: int) -> dict:
    buckets = []
    for b in range(100):
        lo = b * duration // 100
        hi = max((b + 1) * duration // 100, lo + 1)
        buckets.append(sum(1 for c in coverage.values() if any(lo <= s < hi for s in c)))
    return {
        "viewers": [sum(1 for c in coverage.values() if s in c) for s in range(duration)],
        "buckets": buckets,
    }


def brute_force(*, video_id: int, duration: int, user_ids: list[int], days: list[date]) -> dict:
    """Every figure of one video, per day and all time, from a scan of the members' raw events."""
    session = cassandra_session()
    ks = cassandra_keyspace()
    per_day: dict[date, dict[tuple[int, uuid.UUID], set[int]]] = defaultdict(lambda: defaultdict(set))
    for user_id in user_ids:
        for day in days:
            for row in session.execute(
                f"SELECT video_id, session_id, position FROM {ks}.watch_events WHERE user_id = %s AND day = %s",
                (user_id, day),
            ):
                if row.video_id == video_id:
                    per_day[day][(user_id, row.session_id)].add(row.position)
    result: dict = {"days": {}, "retention": {}}
    all_coverage: dict[int, set[int]] = defaultdict(set)
    totals = dict.fromkeys(("sessions", "views", "watch_seconds"), 0)
    for day, sessions in per_day.items():
        coverage: dict[int, set[int]] = defaultdict(set)
        plays = [0] * duration
        for (user_id, _), seconds in sessions.items():
            coverage[user_id] |= seconds
            all_coverage[user_id] |= seconds
            for s in seconds:
                if s < duration:
                    plays[s] += 1
        result["days"][day] = _figures(sessions, coverage, duration)
        result["retention"][day.isoformat()] = _retention(coverage, duration) | {"plays": plays}
        for key in totals:
            totals[key] += result["days"][day][key]
    alltime = _figures({}, all_coverage, duration)
    covered = sum(len(c) for c in all_coverage.values())
    result["total"] = alltime | totals | {"rewatch_seconds": totals["watch_seconds"] - covered}
    if per_day:
        result["retention"]["all"] = _retention(all_coverage, duration) | {"plays": []}
    return result


FIGURES = ("sessions", "views", "members", "watch_seconds", "completions", "rewatch_seconds")


def stored_rollups(*, video_id: int) -> dict:
    """The rollup tables' rows of one video, in brute_force()'s shape."""
    session = cassandra_session()
    ks = cassandra_keyspace()
    rows = list(session.execute(f"SELECT * FROM {ks}.video_rollups WHERE video_id = %s", (video_id,)))
    result: dict = {"days": {}, "retention": {}, "total": None}
    for row in rows:
        if row.day is not None:
            result["days"][row.day.date() if hasattr(row.day, "date") else row.day] = {
                k: getattr(row, k) for k in FIGURES
            }
        if row.total_sessions is not None:
            result["total"] = {k: getattr(row, f"total_{k}") for k in FIGURES}
    periods = ["all", *[d.isoformat() for d in result["days"]]]
    for period in periods:
        row = session.execute(
            f"SELECT viewers, plays, buckets FROM {ks}.video_retention WHERE video_id = %s AND period = %s",
            (video_id, period),
        ).one()
        if row is not None:
            result["retention"][period] = {
                "viewers": list(row.viewers or []),
                "buckets": list(row.buckets or []),
                "plays": list(row.plays or []),
            }
    return result


def comparable(expected: dict) -> dict:
    """brute_force() with the all-time row left out when nothing was ever watched (nothing stored)."""
    return expected | {"total": expected["total"] if expected["days"] else None}


def recent_days(n: int) -> list[date]:
    return [today() - timedelta(days=i) for i in range(n)]
