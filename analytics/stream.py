"""The durable hand-off between the web process and the workers: a Redis Stream.

The endpoint appends each validated batch to one stream (XADD, inside a Lua script that also applies
the member's rate limit and decides whether to wake a drain task) and answers 202: the batch is
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
KICK_KEY = "wp:watch:kick"
RATE_KEY = "wp:watch:rate:{user_id}"

# KEYS: stream, member's rate counter, kick flag. ARGV: payload, limit, window s, kick ms.
# Returns -1 when over the member's rate (nothing appended), 1 when a drain should be woken, else 0.
_ENQUEUE_LUA = """
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3])) end
if n > tonumber(ARGV[2]) then return -1 end
redis.call('XADD', KEYS[1], '*', 'b', ARGV[1])
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', tonumber(ARGV[4])) then return 1 end
return 0
"""


@functools.cache
def _client(url: str) -> redis.Redis:
    # redis-py's pool notices a fork (pid check) and reconnects in the child.
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def stream_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


@functools.cache
def _enqueue_script(url: str) -> redis.commands.core.Script:
    return _client(url).register_script(_ENQUEUE_LUA)


def enqueue_script() -> redis.commands.core.Script:
    return _enqueue_script(settings.REDIS_URL)


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
