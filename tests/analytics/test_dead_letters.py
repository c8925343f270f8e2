"""The dead-letter stream: capped, listed and replayed by `manage.py watch_dead_letters`, and never a
place where a bug in our own code sends every batch."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import call_command

from analytics import drain
from analytics.acceptance import WatchBatch, watch_batch_enqueue
from analytics.drain import watch_stream_drain
from analytics.selectors import resume_position_get
from analytics.stream import DEAD_LETTERS, GROUP, STREAM
from tests.analytics.helpers import now_ms
from tests.conftest import CASSANDRA_DBS

pytestmark = pytest.mark.django_db(databases=CASSANDRA_DBS)


def batch(user_id: int, video_id: int, positions) -> WatchBatch:
    t0 = now_ms() - 60_000
    return WatchBatch(user_id, video_id, uuid.uuid4(), tuple((p, t0 + i * 1000, 1.0) for i, p in enumerate(positions)))


def test_past_the_cap_a_refused_entry_stays_pending_and_the_stream_still_flows(redis, member, video, settings):
    settings.WATCH_DEAD_LETTERS_MAX = 1
    redis.xadd(STREAM, {"b": b"not json 1"})
    redis.xadd(STREAM, {"b": b"not json 2"})
    watch_batch_enqueue(batch=batch(member.pk, video.pk, range(10)), claims=None)

    result = watch_stream_drain(consumer="test:1", budget_seconds=10)

    assert result.events == 10
    assert resume_position_get(user_id=member.pk, video_id=video.pk) == 9
    assert redis.xlen(DEAD_LETTERS) == 1
    # Nothing dropped: the second malformed entry waits, pending, for room in the dead letters.
    assert redis.xpending(STREAM, GROUP)["pending"] == 1
    assert redis.xlen(STREAM) == 1


def test_a_bug_in_our_code_fails_the_drain_loudly_and_leaves_the_batch_pending(redis, member, video, monkeypatch):
    watch_batch_enqueue(batch=batch(member.pk, video.pk, range(10)), claims=None)

    def broken(**_):
        raise TypeError("a bug, not bad data")

    monkeypatch.setattr(drain, "watch_batches_store", broken)

    with pytest.raises(TypeError):
        watch_stream_drain(consumer="test:1", budget_seconds=10)

    assert redis.xlen(DEAD_LETTERS) == 0
    assert redis.xpending(STREAM, GROUP)["pending"] == 1


def test_the_command_lists_replays_and_deletes_dead_letters(redis, member, video):
    good = batch(member.pk, video.pk, range(20, 30))
    # As if Cassandra had refused it once (e.g. a schema change) and the cause was then fixed.
    redis.xadd(DEAD_LETTERS, {"id": "1-0", "b": good.to_json(), "reason": "InvalidRequest('x')"})
    redis.xadd(DEAD_LETTERS, {"id": "2-0", "b": b"not json", "reason": "malformed entry"})
    out = StringIO()

    call_command("watch_dead_letters", stdout=out)
    assert "InvalidRequest" in out.getvalue()
    assert "2 listed" in out.getvalue()
    first, second = (dead_id for dead_id, _ in drain.watch_dead_letters_list())

    call_command("watch_dead_letters", "--replay", first, stdout=out)
    watch_stream_drain(consumer="test:1", budget_seconds=10)
    assert resume_position_get(user_id=member.pk, video_id=video.pk) == 29

    call_command("watch_dead_letters", "--delete", second, stdout=out)
    assert redis.xlen(DEAD_LETTERS) == 0
