"""The stream drain (what a Celery drain task runs), on the real Redis stream and Cassandra."""

from __future__ import annotations

import uuid

import pytest

from analytics.acceptance import WatchBatch, watch_batch_enqueue
from analytics.drain import watch_stream_drain
from analytics.selectors import resume_position_get
from analytics.stream import DEAD_LETTERS, GROUP, STREAM
from tests.analytics.helpers import now_ms
from tests.conftest import CASSANDRA_DBS, wait_until

pytestmark = pytest.mark.django_db(databases=CASSANDRA_DBS)


def batch(user_id: int, video_id: int, positions, t0: int) -> WatchBatch:
    return WatchBatch(user_id, video_id, uuid.uuid4(), tuple((p, t0 + i * 1000, 1.0) for i, p in enumerate(positions)))


def test_a_drain_stores_everything_queued_and_empties_the_stream(redis, member, video):
    t0 = now_ms() - 60_000
    for start in range(0, 100, 10):
        watch_batch_enqueue(batch=batch(member.pk, video.pk, range(start, start + 10), t0 + start * 1000), claims=None)

    result = watch_stream_drain(consumer="test:1", budget_seconds=30)

    assert (result.batches, result.events, result.more) == (10, 100, False)
    assert redis.xlen(STREAM) == 0
    assert redis.xpending(STREAM, GROUP)["pending"] == 0
    assert resume_position_get(user_id=member.pk, video_id=video.pk) == 99


def test_a_batch_cassandra_can_never_store_is_set_aside_and_does_not_block_the_others(redis, member, video):
    t0 = now_ms() - 60_000
    watch_batch_enqueue(batch=batch(member.pk, video.pk, range(10), t0), claims=None)
    # Past the endpoint's validation this cannot happen; a corrupted entry must still not wedge the stream.
    watch_batch_enqueue(batch=batch(member.pk, video.pk, [2**40], t0 + 20_000), claims=None)
    watch_batch_enqueue(batch=batch(member.pk, video.pk, range(10, 20), t0 + 10_000), claims=None)
    redis.xadd(STREAM, {"b": b"not json"})

    result = watch_stream_drain(consumer="test:1", budget_seconds=30)

    assert result.events == 20
    assert redis.xlen(STREAM) == 0
    assert redis.xpending(STREAM, GROUP)["pending"] == 0
    assert redis.xlen(DEAD_LETTERS) == 2
    assert resume_position_get(user_id=member.pk, video_id=video.pk) == 19


def test_entries_a_dead_consumer_left_unacknowledged_are_claimed_by_the_next_drain(redis, member, video, settings):
    settings.WATCH_CLAIM_IDLE_SECONDS = 0.05
    watch_batch_enqueue(batch=batch(member.pk, video.pk, range(10), now_ms() - 60_000), claims=None)
    from analytics.stream import group_ensure

    group_ensure(redis)
    redis.xreadgroup(GROUP, "crashed:1", {STREAM: ">"}, count=10)  # taken, never acknowledged
    assert redis.xpending(STREAM, GROUP)["pending"] == 1

    def idle_ms() -> int:
        return int(redis.xpending_range(STREAM, GROUP, min="-", max="+", count=1)[0]["time_since_delivered"])

    # Redis's own idle clock: the entry becomes claimable once it passes WATCH_CLAIM_IDLE_SECONDS.
    wait_until(lambda: idle_ms() > 50, timeout=5, interval=0.01)
    result = watch_stream_drain(consumer="test:2", budget_seconds=30)

    assert result.events == 10
    assert redis.xpending(STREAM, GROUP)["pending"] == 0
    assert resume_position_get(user_id=member.pk, video_id=video.pk) == 9
