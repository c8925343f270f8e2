"""The durable hand-off between the web process and the workers: a Redis Stream.

The endpoint appends each validated batch to one stream (XADD, inside a Lua script that also applies
the member's checks, analytics/acceptance.py, and decides whether to wake a drain task) and answers 202: the batch is
durable in Redis (AOF) from then on. Celery drain tasks read it through a consumer group, write to
Cassandra, and only then XACK + XDEL, so a worker that dies mid-write leaves its entries pending;
another drain claims them once they have been idle for WATCH_CLAIM_IDLE_SECONDS.

Why a stream and not one Celery message per batch: a Celery message costs ~1 ms of broker and worker
CPU on this machine (about 1,000 messages/s per worker pool), which alone would cap ingestion near
10,000 events/s before Cassandra gets any CPU. A stream entry costs one XADD; a drain task moves
hundreds of batches per round trip. See README "Benchmark".
"""

from __future__ import annotations

import functools
import os
import socket

import redis
from django.conf import settings

STREAM = "wp:watch:batches"
GROUP = "writers"
DEAD_LETTERS = "wp:watch:dead"
# Set (with a TTL of WATCH_DRAIN_WAKE_MS) when an enqueue woke a drain task: the next enqueues within
# that time do not wake another.
DRAIN_WAKE_KEY = "wp:watch:kick"
RATE_KEY = "wp:watch:rate:{user_id}"
# A member's token generation: every ingest token carries the value it was issued under, and bumping
# it (logout, password change, deactivation, erasure) refuses all of the member's tokens at once.
GENERATION_KEY = "wp:watch:gen:{user_id}"
# Viewing sessions of a member that sent a batch recently (sorted set: session id -> last batch ms).
ACTIVE_KEY = "wp:watch:active:{user_id}"
# Per viewing session: the seconds it has sent (bitmap, bit = position), and its state (hash: "start",
# when its first batch was accepted, which fixes its day and starts its allowance; "rate", the
# fastest playback rate it reported).
SECONDS_KEY = "wp:watch:sec:{session_id}"
SESSION_KEY = "wp:watch:session:{session_id}"
# Seconds a member's batches claimed per minute of wall-clock time (hash: minute number -> seconds),
# across all of their sessions and videos.
BUDGET_KEY = "wp:watch:budget:{user_id}"
# Sessions issued per member and video in the last 60 minutes (sorted set: session id -> issue ms),
# and the latest one (reused past the cap).
ISSUED_KEY = "wp:watch:issued:{user_id}:{video_id}"
LATEST_KEY = "wp:watch:latest:{user_id}:{video_id}"
# Members whose data was erased: the drain drops their batches still in the stream.
ERASED_KEY = "wp:watch:erased:{user_id}"
# Coverage rows whose watched count is due for a recount (sorted set: "user:video:bucket" -> due
# time in ms), and when each first grew (hash: row -> ms); the drain adds what it grew and
# recounts what is due (analytics.recount.watched_counts_schedule).
COUNTS_DUE_KEY = "wp:watch:counts-due"
COUNTS_FIRST_KEY = "wp:watch:counts-first"


@functools.cache
def _client(url: str) -> redis.Redis:
    # redis-py's pool notices a fork (pid check) and reconnects in the child.
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def stream_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def consumer_name() -> str:
    """This process's consumer in the group: a dead process's entries are claimable by others."""
    return f"{socket.gethostname()}:{os.getpid()}"


def group_ensure(client: redis.Redis) -> None:
    try:
        # id 0: a group created after entries were added still delivers them.
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def erased_members_get(*, client: redis.Redis, user_ids: set[int]) -> set[int]:
    """Which of these members were erased lately (ERASED_KEY): their queued batches are dropped."""
    if not user_ids:
        return set()
    ordered = sorted(user_ids)
    flags = client.mget([ERASED_KEY.format(user_id=u) for u in ordered])
    return {u for u, flag in zip(ordered, flags, strict=True) if flag}
