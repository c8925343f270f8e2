"""analytics/acceptance.py is the one place that says whether a batch is acceptable: its limits come
from one table, and the Lua script that enforces the shared-state rules gets exactly the arguments
its header documents."""

from __future__ import annotations

import inspect
import re
import uuid

from analytics import acceptance
from analytics.acceptance import (
    _ENQUEUE_LUA,
    MAX_CLIENT_TS,
    MAX_PLAYBACK_RATE,
    MAX_POSITION,
    SessionClaims,
    WatchBatch,
    WatchBatchIn,
    _enqueue_arguments,
    acceptance_limits_get,
)


def _header(name: str) -> list[int]:
    """The numbers the comment above _ENQUEUE_LUA lists for KEYS or ARGV ("1 stream, 2 ...")."""
    source = inspect.getsource(acceptance)
    comment = source[source.index("# Every check a member's batch") : source.index("_ENQUEUE_LUA = ")]
    listed = comment.split(f"# {name}:", 1)[1].split("# Returns" if name == "ARGV" else "# ARGV", 1)[0]
    return [int(n) for n in re.findall(r"(?:^|[,:#])\s*(\d+)(?=\.*\s)", listed)]


def test_the_lua_call_gets_every_key_and_argument_its_header_lists_in_that_order():
    limits = acceptance_limits_get()
    session = uuid.uuid4()
    claims = SessionClaims(7, 8, session, 1_000, 3)
    batch = WatchBatch(7, 8, session, ((1, 1_000, 1.0), (2, 2_000, 2.0)), accepted_ms=2_500)

    keys, args = _enqueue_arguments(batch=batch, claims=claims, now_ms=2_500, limits=limits)

    fixed = max(n for n in _header("ARGV") if n < 17)
    assert _header("KEYS") == list(range(1, len(keys) + 1))
    assert len(args) == fixed + 2 * len(batch.events)  # then one (position, minute) pair per event
    assert max(int(n) for n in re.findall(r"KEYS\[(\d+)\]", _ENQUEUE_LUA)) == len(keys)
    assert max(int(n) for n in re.findall(r"ARGV\[(\d+)\]", _ENQUEUE_LUA)) == fixed
    # The limits the script enforces are the table's.
    assert args[1:5] == [limits.batches_per_minute, 60, limits.drain_wake_ms, limits.stream_max_batches]
    assert args[9:12] == [limits.play_slack_seconds, limits.concurrent_sessions, limits.active_window_ms]
    assert args[14] == limits.member_minute_budget_seconds == limits.concurrent_sessions * MAX_PLAYBACK_RATE * 60


def test_the_limits_follow_the_settings_at_once(settings):
    settings.WATCH_CONCURRENT_SESSIONS = 2
    settings.WATCH_TOKEN_TTL_SECONDS = 123

    limits = acceptance_limits_get()

    assert (limits.concurrent_sessions, limits.token_ttl_seconds) == (2, 123)
    assert limits.member_minute_budget_seconds == 2 * MAX_PLAYBACK_RATE * 60


def test_the_body_and_the_drain_accept_the_same_ranges():
    # What the schema lets through, the drain can read back from the stream (and nothing more).
    body = WatchBatchIn.model_validate(
        {
            "video_id": 1,
            "session_id": str(uuid.uuid4()),
            "events": [{"position": MAX_POSITION, "client_ts": MAX_CLIENT_TS, "rate": MAX_PLAYBACK_RATE}],
        }
    )
    event = body.events[0]
    batch = WatchBatch(1, 1, body.session_id, ((event.position, event.client_ts, event.rate),))

    assert WatchBatch.from_json(batch.to_json()) == batch
