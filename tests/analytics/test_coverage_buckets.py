"""Coverage in 64-second rows: what a batch costs does not grow with how much was watched before,
the count stays exact (replays, overlaps, two sessions), and coverage stored the old way moves over."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.management import call_command

from analytics import services
from analytics.cassandra import cassandra_keyspace, cassandra_session
from analytics.models import COVERAGE_BUCKET_SECONDS
from analytics.selectors import video_progress_map
from analytics.services import SELECT_BUCKET_COUNTS, WatchBatch, member_video_mark_unwatched, watch_batches_store
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


def test_a_batch_late_in_a_long_video_counts_only_the_rows_it_grew(monkeypatch):
    video = VideoFactory(duration=7200)
    user_id = 8_400_001
    for start in range(0, 3600, 600):
        watch(user_id, video.pk, range(start, start + 600))
    counted: list[list[tuple[int, int]]] = []
    real = services.cassandra_execute_all

    def spying(statements: Any, **kwargs: Any) -> Any:
        for statement, values in statements:
            if getattr(statement, "query_string", None) == SELECT_BUCKET_COUNTS.format(ks=cassandra_keyspace()):
                counted.append(list(values[1]))
        return real(statements, **kwargs)

    monkeypatch.setattr(services, "cassandra_execute_all", spying)
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
