"""Coverage in 64-second rows: what a batch costs does not grow with how much was watched before,
the count stays exact (replays, overlaps, two sessions), and coverage stored the old way moves over."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.management import call_command

from analytics import recount, selectors
from analytics.acceptance import WatchBatch
from analytics.cassandra import cassandra_keyspace, cassandra_session
from analytics.drain import watch_batches_store
from analytics.erasure import member_watch_data_erase
from analytics.models import COVERAGE_BUCKET_SECONDS
from analytics.selectors import SELECT_BUCKET_COUNTS, video_progress_map
from analytics.services import member_video_mark_unwatched
from analytics.stream import COUNTS_DUE_KEY, COUNTS_FIRST_KEY
from tests.analytics.helpers import now_ms, stored_state
from tests.conftest import CASSANDRA_DBS
from tests.factories import VideoFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases=CASSANDRA_DBS)]


def watch(user_id: int, video_id: int, positions: Any, *, session: uuid.UUID | None = None) -> None:
    t0 = now_ms() - 3_600_000
    events = tuple((p, t0 + i * 1000, 1.0) for i, p in enumerate(positions))
    watch_batches_store(batches=[WatchBatch(user_id, video_id, session or uuid.uuid4(), events)])


def watched(user_id: int, video: Any) -> int:
    return video_progress_map(user_id=user_id, durations={video.pk: video.duration})[video.pk].watched_seconds


def _reads_of_counts(monkeypatch: Any) -> list[list[tuple[int, int]]]:
    counted: list[list[tuple[int, int]]] = []
    real = selectors.cassandra_execute_all
    select = SELECT_BUCKET_COUNTS.format(ks=cassandra_keyspace())

    def spying(statements: Any, **kwargs: Any) -> Any:
        counted.extend(
            list(values[1]) for statement, values in statements if getattr(statement, "query_string", None) == select
        )
        return real(statements, **kwargs)

    monkeypatch.setattr(selectors, "cassandra_execute_all", spying)
    return counted


def test_a_batch_late_in_a_long_video_counts_only_the_rows_it_grew(monkeypatch):
    video = VideoFactory(duration=7200)
    user_id = 8_400_001
    for start in range(0, 3600, 600):
        watch(user_id, video.pk, range(start, start + 600))
    counted = _reads_of_counts(monkeypatch)
    watch(user_id, video.pk, range(3600, 3610))

    # One read, of the one 64-second row the batch touched, not of the hour already watched.
    assert counted == [[(video.pk, 3600 // COVERAGE_BUCKET_SECONDS)]]
    assert watched(user_id, video) == 3610


def test_the_count_is_exact_over_replays_overlaps_and_sessions():
    video = VideoFactory(duration=600)
    user_id = 8_400_002
    watch(user_id, video.pk, range(0, 130))
    watch(user_id, video.pk, range(0, 130))  # the same batch again (a retry)
    watch(user_id, video.pk, range(120, 200), session=uuid.uuid4())  # another tab, overlapping
    watch(user_id, video.pk, [63, 64, 127, 128, 590])  # bucket edges and a jump

    assert watched(user_id, video) == 201
    assert stored_state(user_id, video.pk)["coverage"] == frozenset(range(200)) | {590}


def test_mark_unwatched_forgets_the_rows_so_watching_again_counts_from_zero():
    video = VideoFactory(duration=600)
    user_id = 8_400_003
    watch(user_id, video.pk, range(0, 300))
    member_video_mark_unwatched(user_id=user_id, video_id=video.pk)
    assert stored_state(user_id, video.pk)["coverage"] == frozenset()

    watch(user_id, video.pk, range(0, 10))
    assert watched(user_id, video) == 10


def test_coverage_stored_the_old_way_is_moved_into_the_rows_once(capsys):
    video = VideoFactory(duration=600)
    user_id = 8_400_004
    ks = cassandra_keyspace()
    cassandra_session().execute(
        f"UPDATE {ks}.member_videos SET seconds = %s, watched = 150, position = 149 "
        "WHERE user_id = %s AND video_id = %s",
        (set(range(150)), user_id, video.pk),
    )

    call_command("member_coverage_migrate")
    watch(user_id, video.pk, range(140, 160))  # watching after the upgrade adds to what moved
    call_command("member_coverage_migrate")  # a second run finds nothing left to move

    out = capsys.readouterr().out
    assert "moved the coverage of 1 " in out.splitlines()[0]
    assert "moved the coverage of 0 " in out.splitlines()[1]
    assert watched(user_id, video) == 160
    assert stored_state(user_id, video.pk)["coverage"] == frozenset(range(160))
    row = (
        cassandra_session()
        .execute(
            f"SELECT seconds, watched FROM {ks}.member_videos WHERE user_id = %s AND video_id = %s", (user_id, video.pk)
        )
        .one()
    )
    assert (row.seconds, row.watched) == (None, None)


# --- The deferred recount (production: 15 s after the last growth, at most 300 s after the first) -


def test_a_members_batches_within_the_period_are_recounted_once_when_due(settings, redis, monkeypatch):
    settings.WATCH_COUNT_REFRESH_SECONDS = 30
    video = VideoFactory(duration=600)
    user_id = 8_400_010
    reads = _reads_of_counts(monkeypatch)
    for start in (0, 10, 20):  # three batches, 10 s apart in a real session
        watch(user_id, video.pk, range(start, start + 10))

    assert reads == []  # nothing counted yet: the bars lag, the positions do not
    assert watched(user_id, video) == 0
    assert recount.watched_counts_refresh_due(client=redis) == 0  # not due yet
    due_in = recount.watched_counts_refresh_due(client=redis, now_ms=now_ms() + 31_000)

    assert due_in == 1  # one row (seconds 0-29), counted once for the three batches
    assert reads == [[(video.pk, 0)]]
    assert watched(user_id, video) == 30
    assert redis.zcard(COUNTS_DUE_KEY) == 0


def test_a_row_still_growing_is_recounted_once_per_longest_wait_and_soon_after_it_stops(settings, redis, monkeypatch):
    settings.WATCH_COUNT_REFRESH_SECONDS = 15
    settings.WATCH_COUNT_REFRESH_MAX_SECONDS = 300
    video = VideoFactory(duration=3600)
    row = (8_400_014, video.pk, 0)
    reads = _reads_of_counts(monkeypatch)
    start = now_ms()
    recounted_at = []
    # A member watching on: the row grows every 10 s (the player's flush) for 400 s, and a drain
    # runs just before each next batch.
    for k in range(40):
        recount.watched_counts_schedule(buckets=[row], now_ms=start + k * 10_000)
        if recount.watched_counts_refresh_due(client=redis, now_ms=start + k * 10_000 + 9_999):
            recounted_at.append(k)

    assert recounted_at == [30]  # not every 10 s, nor never: once, 300 s after the row first grew
    # They stop: the recount comes the quiet period after the last growth, not 300 s later.
    assert recount.watched_counts_refresh_due(client=redis, now_ms=start + 390_000 + 14_999) == 0
    assert recount.watched_counts_refresh_due(client=redis, now_ms=start + 390_000 + 15_000) == 1
    assert len(reads) == 2
    assert redis.zcard(COUNTS_DUE_KEY) == 0
    assert redis.hlen(COUNTS_FIRST_KEY) == 0


def test_a_row_grown_while_its_recount_runs_is_recounted_later(settings, redis, monkeypatch):
    settings.WATCH_COUNT_REFRESH_SECONDS = 30
    video = VideoFactory(duration=600)
    user_id = 8_400_011
    watch(user_id, video.pk, range(0, 10))
    real = recount.watched_counts_refresh

    def racing(*, buckets: Any) -> None:
        # Another drain grows the row after the claim and before this recount's read.
        watch(user_id, video.pk, range(10, 20))
        real(buckets=buckets)

    monkeypatch.setattr(recount, "watched_counts_refresh", racing)
    recount.watched_counts_refresh_due(client=redis, now_ms=now_ms() + 31_000)
    monkeypatch.setattr(recount, "watched_counts_refresh", real)

    assert redis.zcard(COUNTS_DUE_KEY) == 1  # the second growth is waiting for its own recount
    recount.watched_counts_refresh_due(client=redis, now_ms=now_ms() + 61_000)
    assert watched(user_id, video) == 20


def test_a_failed_recount_puts_its_rows_back_due_at_once(settings, redis, monkeypatch):
    settings.WATCH_COUNT_REFRESH_SECONDS = 30
    video = VideoFactory(duration=600)
    user_id = 8_400_012
    watch(user_id, video.pk, range(0, 10))

    def failing(*, buckets: Any) -> None:
        raise RuntimeError("Cassandra timed out")

    monkeypatch.setattr(recount, "watched_counts_refresh", failing)
    with pytest.raises(RuntimeError):
        recount.watched_counts_refresh_due(client=redis, now_ms=now_ms() + 31_000)
    monkeypatch.undo()

    assert recount.watched_counts_refresh_due(client=redis) == 1  # due now, not in another 30 s
    assert watched(user_id, video) == 10


def test_an_erased_members_waiting_recount_writes_nothing(settings, redis):
    settings.WATCH_COUNT_REFRESH_SECONDS = 30
    video = VideoFactory(duration=600)
    user_id = 8_400_013
    watch(user_id, video.pk, range(0, 10))
    member_watch_data_erase(user_id=user_id)

    recount.watched_counts_refresh_due(client=redis, now_ms=now_ms() + 31_000)

    ks = cassandra_keyspace()
    for table in ("member_videos", "member_video_coverage"):
        assert not list(cassandra_session().execute(f"SELECT * FROM {ks}.{table} WHERE user_id = %s", (user_id,)))
