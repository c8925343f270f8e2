"""Watched counts: when the coverage rows a drain grew are recounted, and the recount itself.

Coverage grows in 64-second rows (member_video_coverage); member_videos.watched_buckets keeps each
row's count for the progress bars. A grown row is recounted once it has been quiet for
WATCH_COUNT_REFRESH_SECONDS, and at the latest WATCH_COUNT_REFRESH_MAX_SECONDS after it first grew
(due rows in a Redis sorted set); each drain round recounts what is due.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from django.conf import settings

from analytics.cassandra import ROWS_PER_BATCH, SET_ELEMENTS_PER_BATCH, BatchPacker, cassandra_prepared
from analytics.selectors import coverage_bucket_counts_get
from analytics.stream import COUNTS_DUE_KEY, COUNTS_FIRST_KEY, erased_members_get, stream_client

UPDATE_WATCHED = (
    "UPDATE {ks}.member_videos USING TIMESTAMP ? SET watched_buckets = watched_buckets + ? "
    "WHERE user_id = ? AND video_id = ?"
)

# A grown row's recount waits until the member has stopped growing it for the quiet period, and
# at most the longest wait after it first grew: a member watching on is recounted once per
# longest wait, and ~quiet seconds after they stop (when they look at the bars). KEYS: 1 due rows
# (sorted set, score = due time in ms), 2 when each waiting row first grew (hash). ARGV: 1 now,
# 2 quiet period, 3 longest wait (ms), 4... the rows.
_SCHEDULE = """
local now, quiet, longest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV do
  local row = ARGV[i]
  local first = tonumber(redis.call('HGET', KEYS[2], row))
  if not first then
    first = now
    redis.call('HSET', KEYS[2], row, now)
  end
  redis.call('ZADD', KEYS[1], math.min(now + quiet, first + longest), row)
end
"""
# Claim the recounts that are due: read and remove them in one step, so a row grown again while
# its recount runs is added back (as newly grown) and recounted later, never lost.
_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then
  redis.call('ZREM', KEYS[1], unpack(due))
  redis.call('HDEL', KEYS[2], unpack(due))
end
return due
"""
COUNTS_CLAIM_LIMIT = 2000  # rows per claim (Lua's unpack takes a few thousand values at most)
COURSE_REFRESH_PAIRS = 2000  # (member, video) pairs per students-report task


def watched_counts_schedule(*, buckets: list[tuple[int, int, int]], now_ms: int | None = None) -> None:
    """Have the watched counts of these grown coverage rows recounted: at once when
    WATCH_COUNT_REFRESH_SECONDS is 0, else once a row has not grown for that many seconds, or
    WATCH_COUNT_REFRESH_MAX_SECONDS after it first grew, whichever comes first."""
    if not buckets:
        return
    quiet = settings.WATCH_COUNT_REFRESH_SECONDS
    if not quiet:
        watched_counts_refresh(buckets=buckets)
        return
    longest = max(quiet, settings.WATCH_COUNT_REFRESH_MAX_SECONDS)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    rows = [f"{u}:{v}:{b}" for u, v, b in buckets]
    stream_client().eval(_SCHEDULE, 2, COUNTS_DUE_KEY, COUNTS_FIRST_KEY, now_ms, quiet * 1000, longest * 1000, *rows)


def watched_counts_refresh_due(*, client: Any, now_ms: int | None = None) -> int:
    """Recount the coverage rows whose recount is due by `now_ms` (default: now; erased members'
    are dropped); returns how many. On a failure the claimed rows go back, due at once, and the
    error is raised."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    claimed = client.eval(_CLAIM_DUE, 2, COUNTS_DUE_KEY, COUNTS_FIRST_KEY, now_ms, COUNTS_CLAIM_LIMIT)
    if not claimed:
        return 0
    buckets = [tuple(int(part) for part in member.split(b":")) for member in claimed]
    erased = erased_members_get(client=client, user_ids={u for u, _, _ in buckets})
    try:
        watched_counts_refresh(buckets=[(u, v, b) for u, v, b in buckets if u not in erased])
    except Exception:
        client.zadd(COUNTS_DUE_KEY, dict.fromkeys(claimed, 0), nx=True)
        raise
    return len(buckets)


def watched_counts_refresh(*, buckets: list[tuple[int, int, int]]) -> None:
    """Recount these coverage rows now and store each video's counts in member_videos."""
    # Each bucket's count is written with the time of the read that produced it: of two workers
    # racing, the later read has seen the other's union, and its count wins (see MemberVideo). One
    # read and one batch of writes per member (both tables are partitioned by member); the read
    # touches only the (video, bucket) rows this round grew.
    read_at = int(time.time() * 1_000_000)
    rows_of: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for user_id, video_id, bucket in buckets:
        rows_of[user_id].append((video_id, bucket))
    update = cassandra_prepared(UPDATE_WATCHED)
    packer = BatchPacker(max_rows=ROWS_PER_BATCH, max_elements=SET_ELEMENTS_PER_BATCH)
    for user_id, counts in coverage_bucket_counts_get(rows_of=rows_of).items():
        packer.rows([(update, (read_at, by_bucket, user_id, v), len(by_bucket)) for v, by_bucket in counts.items()])
    packer.execute()
    # The students report follows the counts it is computed from (and the positions stored with
    # them), in a task of its own: it reads the catalogue (which courses hold these videos), and the
    # drain must not wait for, or fail with, the relational database.
    from analytics.tasks import course_members_refresh_task  # tasks import the drain, which imports this

    touched = sorted({(u, v) for u, video_buckets in rows_of.items() for v, _ in video_buckets})
    for start in range(0, len(touched), COURSE_REFRESH_PAIRS):
        course_members_refresh_task.delay(touched[start : start + COURSE_REFRESH_PAIRS])
