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
DEAD_LETTERS = "wp:watch:dead"
KICK_KEY = "wp:watch:kick"
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
# recounts what is due (analytics.services.watched_counts_schedule).
COUNTS_DUE_KEY = "wp:watch:counts-due"
COUNTS_FIRST_KEY = "wp:watch:counts-first"

# Every check a member's batch must pass, and the append, in one atomic call (one round trip).
# Nothing is written unless every check passes, except the rate counter, which counts attempts.
# KEYS: 1 stream, 2 rate counter, 3 kick flag, 4 generation, 5 active sessions, 6 session seconds,
#       7 session state, 8 member's per-minute budget.
# ARGV: 1 payload, 2 batches/min limit (0 = no member checks: trusted synthetic traffic),
#       3 rate window s, 4 kick ms, 5 backlog cap, 6 token generation, 7 now ms, 8 late window ms,
#       9 batch's fastest rate, 10 slack s, 11 concurrent sessions cap, 12 "active" window ms,
#       13 session id, 14 session state TTL s, 15 member seconds per minute, 16 ms per day,
#       17.. pairs (position, minute its event claims).
# Returns {code, retry_after_s}: 1 queued + wake a drain, 0 queued, -1 over the member's rate,
# -2 backlog full, -3 token revoked, -4 too many sessions at once, -5 more seconds than the session
# could have played, -6 the session's day is closed, -7 more seconds than the member could have
# watched in a minute.
# A member's entry carries its session's day (the payload's last element): the day is fixed by the
# server at the session's first accepted batch, so no event adds a view or watch time to another day.
_ENQUEUE_LUA = """
local trusted = tonumber(ARGV[2]) == 0
if not trusted then
  if (redis.call('GET', KEYS[4]) or '0') ~= ARGV[6] then return {-3, 0} end
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3])) end
  if n > tonumber(ARGV[2]) then return {-1, math.max(redis.call('TTL', KEYS[2]), 1)} end
end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[5]) then return {-2, 5} end
if trusted then
  redis.call('XADD', KEYS[1], '*', 'b', ARGV[1])
else
  local now, late, dayms = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[16])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[12]))
  local active = redis.call('ZSCORE', KEYS[5], ARGV[13])
  if not active and redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[11]) then return {-4, 30} end
  local start = tonumber(redis.call('HGET', KEYS[7], 'start') or now)
  local day = math.floor(start / dayms)
  if (day + 1) * dayms + late < now then return {-6, 0} end
  local seen_rate = tonumber(redis.call('HGET', KEYS[7], 'rate') or '1')
  local rate = math.max(1, tonumber(ARGV[9]), seen_rate)
  local seen, new, minutes = {}, 0, {}
  local positions = {}
  for i = 17, #ARGV, 2 do
    local p = ARGV[i]
    if not seen[p] then
      seen[p] = true
      if redis.call('GETBIT', KEYS[6], tonumber(p)) == 0 then
        new = new + 1
        positions[new] = tonumber(p)
        local m = ARGV[i + 1]
        minutes[m] = (minutes[m] or 0) + 1
      end
    end
  end
  if new > 0 then
    local elapsed = (now - start) / 1000
    local have = redis.call('BITCOUNT', KEYS[6])
    local allowed = elapsed * rate + tonumber(ARGV[10])
    if have + new > allowed then
      return {-5, math.max(1, math.ceil((have + new - tonumber(ARGV[10])) / rate - elapsed))}
    end
    local budget = tonumber(ARGV[15])
    for m, count in pairs(minutes) do
      if tonumber(redis.call('HGET', KEYS[8], m) or '0') + count > budget then return {-7, 60} end
    end
    for m, count in pairs(minutes) do redis.call('HINCRBY', KEYS[8], m, count) end
    if redis.call('HLEN', KEYS[8]) > 64 then
      -- Minutes older than the late window can no longer be claimed: forget them.
      local oldest = math.floor((now - late) / 60000) - 2
      for _, m in ipairs(redis.call('HKEYS', KEYS[8])) do
        if tonumber(m) < oldest then redis.call('HDEL', KEYS[8], m) end
      end
    end
    redis.call('PEXPIRE', KEYS[8], late + 180000)
    for _, p in ipairs(positions) do redis.call('SETBIT', KEYS[6], p, 1) end
  end
  local ttl = tonumber(ARGV[14])
  redis.call('EXPIRE', KEYS[6], ttl)
  redis.call('HSETNX', KEYS[7], 'start', tostring(start))
  if rate > seen_rate then redis.call('HSET', KEYS[7], 'rate', tostring(rate)) end
  redis.call('EXPIRE', KEYS[7], ttl)
  redis.call('ZADD', KEYS[5], now, ARGV[13])
  redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[12]))
  -- The payload is a JSON array ending in the accepted time: the session's day goes after it.
  redis.call('XADD', KEYS[1], '*', 'b', string.sub(ARGV[1], 1, -2) .. ',' .. string.format('%d', day) .. ']')
end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', tonumber(ARGV[4])) then return {1, 0} end
return {0, 0}
"""

# Issuing a viewing session (watch page): the member's generation, and whether the cap of new
# sessions for this video in the last window is reached (then the latest session is returned for
# reuse). KEYS: 1 generation, 2 issued sessions (sorted set), 3 latest session id.
# ARGV: 1 cap, 2 now ms, 3 window ms, 4 the new session's id.
_ISSUE_LUA = """
local gen = redis.call('GET', KEYS[1]) or '0'
local now, window = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return {gen, redis.call('GET', KEYS[3]) or ''} end
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('PEXPIRE', KEYS[2], window)
redis.call('SET', KEYS[3], ARGV[4], 'PX', window)
return {gen, ''}
"""


@functools.cache
def _client(url: str) -> redis.Redis:
    # redis-py's pool notices a fork (pid check) and reconnects in the child.
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def stream_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


@functools.cache
def _enqueue_script(url: str) -> redis.commands.core.Script:
    # redis-py's Script: EVALSHA, and the script loaded again after NOSCRIPT (Redis restarted or
    # SCRIPT FLUSH). A hand-packed EVALSHA over private connection internals saved ~19 us of CPU per
    # batch (~5 % of the handler), under the 10 % a private re-implementation must earn.
    return _client(url).register_script(_ENQUEUE_LUA)


def enqueue_script() -> redis.commands.core.Script:
    return _enqueue_script(settings.REDIS_URL)


@functools.cache
def _issue_script(url: str) -> redis.commands.core.Script:
    return _client(url).register_script(_ISSUE_LUA)


def issue_script() -> redis.commands.core.Script:
    return _issue_script(settings.REDIS_URL)


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
