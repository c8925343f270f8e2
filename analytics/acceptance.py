"""Is this watch batch acceptable? Every rule, and the one table of limits they use.

A member's batch is accepted when, in this order:
1. its body has the shape of `WatchBatchIn` (types, ranges, at most MAX_EVENTS_PER_BATCH events,
   at most MAX_BODY_BYTES; analytics/ingest.py parses it with config.jsonbody);
2. its signed viewing-session token (`viewing_session_token_read`, issued by analytics/viewing.py)
   binds this member, video and session and is within its life plus the late window;
3. the video is still available and, if members-only now, was so when the token was issued;
4. every event lies within the token's life and the late window, every position within the video's
   duration (`watch_batch_accept`);
5. one Lua call in Redis (`_ENQUEUE_LUA`, the enforcement that needs shared state) checks the token
   generation, the member's rate, the backlog cap, the concurrent sessions, the session's playable
   seconds and day, and the member's per-minute budget, and appends the batch to the stream.
The drain re-checks what it reads from the stream with `WatchBatch.from_json` (values the tables
can hold). Every number these checks use is a field of `AcceptanceLimits` (from settings, the
WATCH_* values) or a constant of this module; the Lua script gets them from `_enqueue_arguments`.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any

import redis
from django.conf import settings
from django.core import signing
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

from analytics.stream import (
    ACTIVE_KEY,
    BUDGET_KEY,
    DRAIN_WAKE_KEY,
    GENERATION_KEY,
    RATE_KEY,
    SECONDS_KEY,
    SESSION_KEY,
    STREAM,
    stream_client,
)

# --- The limits ------------------------------------------------------------------------------------

# 20 s of playback at the fastest rate a session may report: the tracker flushes every 10 s.
MAX_EVENTS_PER_BATCH = 200
# The fastest playback rate any of our players offers is 2x; 4 leaves room, and bounds the
# seconds-per-wall-clock allowance of a session (_ENQUEUE_LUA).
MAX_PLAYBACK_RATE = 4
# A batch body: 200 events of ~55 bytes plus the token, well under this.
MAX_BODY_BYTES = 16 * 1024
# No catalogue entry is longer than a day.
MAX_POSITION = 24 * 3600
# Client times (ms since the epoch) are integers a JavaScript number holds exactly.
MAX_CLIENT_TS = 2**53 - 1
# Positions may run one second past the known duration (players round the last frame up).
DURATION_SLACK_SECONDS = 1
# A viewing session's day (epoch-day numbers, UTC): fixed at its first accepted batch.
DAY_MS = 86_400_000
# A session's state and seconds bitmap outlive its last batch by a day: its day is closed by then
# (batches are refused past its end plus the late window), so nothing can use them after.
SESSION_STATE_TTL_SECONDS = 26 * 3600


@dataclass(frozen=True)
class AcceptanceLimits:
    """The configurable limits (config/settings.py WATCH_*, from the environment), read per call so
    a settings override takes effect at once."""

    token_ttl_seconds: int
    late_window_seconds: int
    clock_skew_ms: int
    unknown_duration_max_seconds: int
    batches_per_minute: int
    drain_wake_ms: int
    stream_max_batches: int
    play_slack_seconds: int
    concurrent_sessions: int
    active_window_ms: int

    @property
    def member_minute_budget_seconds(self) -> int:
        """Seconds of watching one member's sessions together may claim in one minute of wall-clock
        time: every session they may run at once, each at the fastest rate a player may report."""
        return self.concurrent_sessions * MAX_PLAYBACK_RATE * 60


def acceptance_limits_get() -> AcceptanceLimits:
    return AcceptanceLimits(
        token_ttl_seconds=settings.WATCH_TOKEN_TTL_SECONDS,
        late_window_seconds=settings.WATCH_LATE_WINDOW_SECONDS,
        clock_skew_ms=settings.WATCH_CLOCK_SKEW_MS,
        unknown_duration_max_seconds=settings.WATCH_UNKNOWN_DURATION_MAX_SECONDS,
        batches_per_minute=settings.WATCH_BATCHES_PER_MINUTE,
        drain_wake_ms=settings.WATCH_DRAIN_WAKE_MS,
        stream_max_batches=settings.WATCH_STREAM_MAX_BATCHES,
        play_slack_seconds=settings.WATCH_PLAY_SLACK_SECONDS,
        concurrent_sessions=settings.WATCH_CONCURRENT_SESSIONS,
        active_window_ms=settings.WATCH_ACTIVE_WINDOW_MS,
    )


# --- The body --------------------------------------------------------------------------------------


class WatchEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    position: Annotated[StrictInt, Field(ge=0, le=MAX_POSITION)]
    # Milliseconds since the Unix epoch, counted by the tracker from the server's issue time; the
    # service checks it against the viewing session (watch_batch_accept).
    client_ts: Annotated[StrictInt, Field(ge=0, le=MAX_CLIENT_TS)]
    rate: Annotated[StrictFloat | StrictInt, Field(ge=0.0625, le=MAX_PLAYBACK_RATE, allow_inf_nan=False)] = 1.0

    @field_validator("rate")
    @classmethod
    def _as_float(cls, value: float) -> float:
        return float(value)


class WatchBatchIn(BaseModel):
    """One flush of the browser tracker: seconds watched of one video in one viewing session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    video_id: Annotated[StrictInt, Field(ge=1)]
    session_id: uuid.UUID
    events: Annotated[list[WatchEventIn], Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)]
    # The watch page's signed viewing-session token (analytics.viewing.viewing_session_start).
    token: Annotated[str, Field(max_length=500)] | None = None

    @field_validator("session_id")
    @classmethod
    def _v4(cls, value: uuid.UUID) -> uuid.UUID:
        if value.version != 4:
            raise ValueError("must be a version-4 UUID (crypto.randomUUID())")
        return value


# --- The batch on the stream --------------------------------------------------------------------

# (position in seconds, client event time in ms since the epoch, playback rate)
EventTuple = tuple[int, int, float]


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
    # first batch was accepted (_ENQUEUE_LUA appends it to a member's entry):
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
            0 <= p <= MAX_POSITION and 0 <= t <= MAX_CLIENT_TS and 0 < r <= MAX_PLAYBACK_RATE
            for p, t, r in batch.events
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


# --- The token --------------------------------------------------------------------------------------

TOKEN_SALT = "analytics.viewing-session.v3"  # noqa: S105 (a signing salt, not a secret)


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
    # Issued for a paid video to a member holding a plan that opens it (billing).
    paid: bool = False


def viewing_session_token_sign(*, claims: SessionClaims) -> str:
    return signing.dumps(
        {
            "u": claims.user_id,
            "v": claims.video_id,
            "s": str(claims.session_id),
            "t": claims.issued_at_ms,
            "g": claims.generation,
            "m": int(claims.members),
            "p": int(claims.paid),
        },
        salt=TOKEN_SALT,
        compress=False,
    )


def viewing_session_token_read(*, token: str) -> SessionClaims | None:
    """The claims of a genuine token signed at most its life plus the late window ago (an outbox
    may still resend what was recorded under it); None for anything else (forged, old, malformed)."""
    limits = acceptance_limits_get()
    try:
        raw = signing.loads(token, salt=TOKEN_SALT, max_age=limits.token_ttl_seconds + limits.late_window_seconds)
        return SessionClaims(
            user_id=int(raw["u"]),
            video_id=int(raw["v"]),
            session_id=uuid.UUID(raw["s"]),
            issued_at_ms=int(raw["t"]),
            generation=int(raw["g"]),
            members=bool(raw["m"]),
            paid=bool(raw.get("p", 0)),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


# --- The checks -------------------------------------------------------------------------------------


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
    paid: bool = False


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
    limits = acceptance_limits_get()
    claims = viewing_session_token_read(token=batch.token or "")
    too_old = now_ms - (limits.token_ttl_seconds + limits.late_window_seconds) * 1000
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
    if video.paid and not claims.paid:
        raise BatchRefused(403, "this video now needs a paid plan; reload the page")
    skew = limits.clock_skew_ms
    # Seconds recorded while the token was valid, and never older than the late window: an outbox
    # resend still lands, a hoarded token or a made-up past does not.
    earliest = max(claims.issued_at_ms, now_ms - limits.late_window_seconds * 1000) - skew
    latest = min(claims.issued_at_ms + limits.token_ttl_seconds * 1000, now_ms) + skew
    if any(not earliest <= e.client_ts <= latest for e in batch.events):
        raise BatchRefused(
            400,
            "invalid watch batch",
            [{"field": "events.client_ts", "reason": "must lie within the page's token life and the late window"}],
        )
    if video.duration is not None:
        limit = video.duration + DURATION_SLACK_SECONDS
    else:
        limit = limits.unknown_duration_max_seconds
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
        limits=limits,
    )
    if outcome.status in _REFUSALS:
        status, message = _REFUSALS[outcome.status]
        raise BatchRefused(status, message, retry_after_seconds=outcome.retry_after_seconds)
    return outcome


def watch_batch_enqueue(
    *,
    batch: WatchBatch,
    claims: SessionClaims | None,
    now_ms: int | None = None,
    limits: AcceptanceLimits | None = None,
) -> EnqueueOutcome:
    """Append a batch to the durable stream (one Redis round trip, no Cassandra).

    With `claims` (a member's batch) every per-member check of _ENQUEUE_LUA applies and the entry
    carries its session's day; `claims=None` is trusted synthetic traffic (bench, traffic
    generator), bounded only by the backlog cap, its days taken from its event times.
    Raises redis.exceptions.ConnectionError / TimeoutError when Redis is unreachable.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    limits = acceptance_limits_get() if limits is None else limits
    keys, args = _enqueue_arguments(batch=batch, claims=claims, now_ms=now_ms, limits=limits)
    code, retry_after = _enqueue_script(settings.REDIS_URL)(keys=keys, args=args)
    return EnqueueOutcome(Enqueued(int(code)), int(retry_after))


# Every check a member's batch must pass, and the append, in one atomic call (one round trip).
# Nothing is written unless every check passes, except the rate counter, which counts attempts.
# KEYS: 1 stream, 2 rate counter, 3 drain wake flag, 4 generation, 5 active sessions, 6 session seconds,
#       7 session state, 8 member's per-minute budget.
# ARGV: 1 payload, 2 batches/min limit (0 = no member checks: trusted synthetic traffic),
#       3 rate window s, 4 drain wake ms, 5 backlog cap, 6 token generation, 7 now ms, 8 late window ms,
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


def _enqueue_arguments(
    *, batch: WatchBatch, claims: SessionClaims | None, now_ms: int, limits: AcceptanceLimits
) -> tuple[list[str], list[Any]]:
    """_ENQUEUE_LUA's KEYS and ARGV, in the order its header lists them."""
    session_id = str(claims.session_id) if claims else "-"
    keys = [
        STREAM,
        RATE_KEY.format(user_id=batch.user_id),
        DRAIN_WAKE_KEY,
        GENERATION_KEY.format(user_id=batch.user_id),
        ACTIVE_KEY.format(user_id=batch.user_id),
        SECONDS_KEY.format(session_id=session_id),
        SESSION_KEY.format(session_id=session_id),
        BUDGET_KEY.format(user_id=batch.user_id),
    ]
    args: list[Any] = [
        batch.to_json(),
        limits.batches_per_minute if claims else 0,
        60,
        limits.drain_wake_ms,
        limits.stream_max_batches,
        claims.generation if claims else 0,
        now_ms,
        limits.late_window_seconds * 1000,
        max(rate for _, _, rate in batch.events),
        limits.play_slack_seconds,
        limits.concurrent_sessions,
        limits.active_window_ms,
        session_id,
        SESSION_STATE_TTL_SECONDS,
        limits.member_minute_budget_seconds,
        DAY_MS,
    ]
    if claims:
        # Each event claims the minute of its (server-bounded) time: the member's budget is charged
        # there, so seconds cannot be piled onto minutes nobody was watching in.
        for position, event_ts, _ in batch.events:
            args += [position, min(event_ts, now_ms) // 60_000]
    return keys, args


@functools.cache
def _enqueue_script(url: str) -> redis.commands.core.Script:
    # redis-py's Script: EVALSHA, and the script loaded again after NOSCRIPT (Redis restarted or
    # SCRIPT FLUSH). A hand-packed EVALSHA over private connection internals saved ~19 us of CPU per
    # batch (~5 % of the handler), under the 10 % a private re-implementation must earn.
    return stream_client().register_script(_ENQUEUE_LUA)
