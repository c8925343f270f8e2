"""Viewing sessions: what the watch page gives its tracker, and the member's token generations.

The watch page (analytics/pages.py) starts a session for each load of a confirmed member's page;
the open page renews its short-lived token (analytics/views.py `watch_token_renew`); logout,
password change, deactivation and erasure revoke every token of the member at once. Reading and
checking a token is part of accepting a batch (analytics/acceptance.py).
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.exceptions import RedisError

from analytics.acceptance import DAY_MS, BatchRefused, SessionClaims, viewing_session_token_sign
from analytics.stream import GENERATION_KEY, ISSUED_KEY, LATEST_KEY, SESSION_KEY, stream_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewingSession:
    """What the watch page hands the tracker: the session's id, its signed token and issue time."""

    session_id: uuid.UUID
    token: str
    issued_at_ms: int


def viewing_session_start(*, user_id: int, video_id: int, members_only: bool, paid: bool = False) -> ViewingSession:
    """A server-issued viewing session for one watch page load of a confirmed member.

    A member gets at most WATCH_SESSIONS_PER_VIDEO_PER_HOUR new sessions of one video in any 60
    minutes (a sliding window); past that, the page gets a fresh token for their latest session of
    the video, so reloading cannot mint views. A session that never played frees its place once no
    page can play it any more (its token expired unrenewed): loads that played nothing do not make
    later plays share a session. If Redis is down the token is still signed (the page
    works; its batches wait in the tracker's outbox until the endpoint takes them again).
    """
    now_ms = int(time.time() * 1000)
    session_id = uuid.uuid4()
    try:
        generation, latest = _issue_script(settings.REDIS_URL)(
            keys=[
                GENERATION_KEY.format(user_id=user_id),
                ISSUED_KEY.format(user_id=user_id, video_id=video_id),
                LATEST_KEY.format(user_id=user_id, video_id=video_id),
            ],
            args=[
                settings.WATCH_SESSIONS_PER_VIDEO_PER_HOUR,
                now_ms,
                3_600_000,
                str(session_id),
                SESSION_KEY.format(session_id=""),
                settings.WATCH_TOKEN_TTL_SECONDS * 1000,
            ],
        )
    except RedisError:
        logger.warning("viewing session issued without Redis (its batches will wait for it)")
        generation, latest = 0, b""
    if latest:
        session_id = uuid.UUID(latest.decode())
    claims = SessionClaims(user_id, video_id, session_id, now_ms, int(generation), members_only, paid)
    return ViewingSession(session_id, viewing_session_token_sign(claims=claims), now_ms)


def viewing_session_renew(
    *, user_id: int, claims: SessionClaims, members_only: bool, paid: bool = False
) -> ViewingSession:
    """A fresh token for the member's open watch page (the tracker renews while the page is visible).

    `claims` are the page's current token's, already read and found to be this member's; the caller
    has checked the member may still watch the video (a paid one: they hold a plan opening it). The
    same session while its day is open; once the session's day has ended (a page left open across
    midnight) a new session, so no session ever adds watching to a day other than the one it started
    on. Raises BatchRefused (403) when the member's tokens were revoked (logout, password change,
    the end of a paid plan).
    """
    if claims.user_id != user_id:
        raise BatchRefused(403, "token missing, expired or not yours; reload the page")
    if claims.generation != member_ingest_generation_get(user_id=user_id):
        raise BatchRefused(403, "this page's tracking token was revoked (logged out?); reload the page")
    start_ms = session_start_get(session_id=claims.session_id)
    now_ms = int(time.time() * 1000)
    if start_ms is not None and start_ms // DAY_MS != now_ms // DAY_MS:
        return viewing_session_start(user_id=user_id, video_id=claims.video_id, members_only=members_only, paid=paid)
    if start_ms is None and not _unplayed_place_keep(user_id=user_id, video_id=claims.video_id, claims=claims):
        # It gave its place up (it had not played and its token had expired): this page starts
        # again under the cap, as a new load would; it played nothing, so nothing is lost.
        return viewing_session_start(user_id=user_id, video_id=claims.video_id, members_only=members_only, paid=paid)
    renewed = SessionClaims(user_id, claims.video_id, claims.session_id, now_ms, claims.generation, members_only, paid)
    return ViewingSession(claims.session_id, viewing_session_token_sign(claims=renewed), now_ms)


def _unplayed_place_keep(*, user_id: int, video_id: int, claims: SessionClaims) -> bool:
    """Refresh the place of a session that has not played yet (its token is renewed now); False
    when it no longer has one. Redis down: kept (the cap is not enforced without Redis anyway)."""
    try:
        kept = stream_client().zadd(
            ISSUED_KEY.format(user_id=user_id, video_id=video_id),
            {str(claims.session_id): int(time.time() * 1000)},
            xx=True,
            ch=True,
        )
    except RedisError:
        return True
    return bool(kept)


def session_start_get(*, session_id: uuid.UUID) -> int | None:
    """When the session's first batch was accepted (ms, server clock), or None before that."""
    start = stream_client().hget(SESSION_KEY.format(session_id=session_id), "start")
    return None if start is None else int(start)


def member_ingest_revoke(*, user_id: int) -> None:
    """Refuse every ingest token the member holds (logout, password change, deactivation, erasure)."""
    stream_client().incr(GENERATION_KEY.format(user_id=user_id))


def member_ingest_generation_get(*, user_id: int) -> int:
    return int(stream_client().get(GENERATION_KEY.format(user_id=user_id)) or 0)


# Issuing a viewing session (watch page): the member's generation, and whether the cap of new
# sessions for this video in the last window is reached (then the latest session is returned for
# reuse, and its place refreshed). Past the cap, a session that never played and whose page's
# token has expired (its last issue or renewal older than the hold) can never play: it gives its
# place up first, so loads that played nothing do not merge later plays (the rule in DEFINITIONS).
# KEYS: 1 generation, 2 issued sessions (sorted set: id -> last issue or renewal), 3 latest
# session id. ARGV: 1 cap, 2 now ms, 3 window ms, 4 the new session's id, 5 the session state key
# before the id (wp:watch:session:), 6 hold ms (the token's life).
_ISSUE_LUA = """
local gen = redis.call('GET', KEYS[1]) or '0'
local now, window, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
if redis.call('ZCARD', KEYS[2]) >= cap then
  -- At most `cap` members: the set only grows below the cap.
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[6]))) do
    if redis.call('EXISTS', ARGV[5] .. id) == 0 then redis.call('ZREM', KEYS[2], id) end
  end
end
if redis.call('ZCARD', KEYS[2]) >= cap then
  local latest = redis.call('GET', KEYS[3]) or ''
  if latest ~= '' then redis.call('ZADD', KEYS[2], 'XX', now, latest) end
  return {gen, latest}
end
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('PEXPIRE', KEYS[2], window)
redis.call('SET', KEYS[3], ARGV[4], 'PX', window)
return {gen, ''}
"""


@functools.cache
def _issue_script(url: str) -> redis.commands.core.Script:
    return stream_client().register_script(_ISSUE_LUA)
