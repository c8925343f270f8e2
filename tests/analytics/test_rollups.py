"""Staff-analytics rollups are exact: equal to a brute-force recomputation from raw events.

Batches go through the real store (analytics.drain.watch_batches_store, what the Celery drain
runs) into the real Cassandra, and the rollups through the beat job's own function.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from analytics.cassandra import cassandra_keyspace, cassandra_session
from analytics.drain import watch_batches_store
from analytics.erasure import member_watch_data_erase
from analytics.models import VIDEO_MEMBER_SHARDS
from analytics.rollups import BUCKETS, is_view, rollups_refresh, top_videos_refresh
from tests.analytics.rollup_oracle import (
    brute_force,
    comparable,
    day_start_ms,
    recent_days,
    session_batches,
    stored_rollups,
    today,
)
from tests.conftest import CASSANDRA_DBS
from tests.factories import VideoFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)]

MEMBERS = [9_000_001, 9_000_002, 9_000_003, 9_000_004]

session_strategy = st.tuples(
    st.sampled_from(MEMBERS),
    st.integers(min_value=0, max_value=2),  # days ago
    st.lists(st.integers(min_value=0, max_value=130), min_size=1, max_size=40, unique=True),
    st.booleans(),  # delivered twice
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # Shrinking against a real database takes minutes; a failing example is readable as it is.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(duration=st.sampled_from([7, 19, 60, 125]), sessions=st.lists(session_strategy, min_size=1, max_size=8))
def test_rollups_equal_a_brute_force_recomputation_from_raw_events_for_random_traffic(duration, sessions):
    video = VideoFactory(duration=duration)
    batches = []
    for i, (user_id, days_ago, positions, twice) in enumerate(sessions):
        start = day_start_ms(today() - timedelta(days=days_ago)) + 3_600_000 + i * 60_000
        mine = session_batches(user_id, video.pk, positions, start_ms=start)
        batches += mine + (mine[: len(mine) // 2 + 1] if twice else [])
    random.Random(len(batches)).shuffle(batches)

    watch_batches_store(batches=batches[: len(batches) // 2])
    watch_batches_store(batches=batches[len(batches) // 2 :])
    rollups_refresh()

    expected = brute_force(video_id=video.pk, duration=duration, user_ids=MEMBERS, days=recent_days(3))
    assert stored_rollups(video_id=video.pk) == comparable(expected)


def test_a_late_batch_changes_exactly_the_day_it_belongs_to():
    video = VideoFactory(duration=300)
    yesterday, day_before = recent_days(3)[1:]
    watch_batches_store(
        batches=session_batches(MEMBERS[0], video.pk, list(range(60)), start_ms=day_start_ms(yesterday))
    )
    watch_batches_store(
        batches=session_batches(MEMBERS[1], video.pk, list(range(30)), start_ms=day_start_ms(day_before) + 7_200_000)
    )
    rollups_refresh()
    before = stored_rollups(video_id=video.pk)

    late = session_batches(MEMBERS[2], video.pk, list(range(100, 125)), start_ms=day_start_ms(yesterday) + 50_000_000)
    watch_batches_store(batches=late)
    rollups_refresh()
    after = stored_rollups(video_id=video.pk)

    assert after["days"][day_before] == before["days"][day_before]
    assert after["days"][yesterday] != before["days"][yesterday]
    assert after["days"][yesterday]["members"] == 2
    assert after["days"][yesterday]["watch_seconds"] == 85
    assert set(after["days"]) == {yesterday, day_before}
    assert after["total"]["members"] == 3
    expected = brute_force(video_id=video.pk, duration=300, user_ids=MEMBERS, days=recent_days(3))
    assert after == comparable(expected)


def test_a_member_erased_stays_in_every_rollup_as_an_anonymous_viewer_without_their_id():
    video = VideoFactory(duration=100)
    for user_id in MEMBERS[:2]:
        watch_batches_store(batches=session_batches(user_id, video.pk, list(range(95)), start_ms=day_start_ms(today())))
    rollups_refresh()
    before = stored_rollups(video_id=video.pk)
    assert before["total"]["completions"] == 2

    member_watch_data_erase(user_id=MEMBERS[0])
    rollups_refresh()

    assert stored_rollups(video_id=video.pk) == before
    session, ks = cassandra_session(), cassandra_keyspace()
    inputs = [
        f"SELECT user_id FROM {ks}.video_sessions WHERE video_id = %s AND day = %s",
        f"SELECT user_id FROM {ks}.video_day_members WHERE video_id = %s AND day = %s",
    ]
    ids = {r.user_id for q in inputs for r in session.execute(q, (video.pk, today()))}
    ids |= {
        r.user_id
        for shard in range(VIDEO_MEMBER_SHARDS)
        for r in session.execute(
            f"SELECT user_id FROM {ks}.video_members WHERE video_id = %s AND shard = %s", (video.pk, shard)
        )
    }
    assert MEMBERS[0] not in ids
    assert MEMBERS[1] in ids
    assert len([i for i in ids if i < 0]) == 1  # one anonymous member, in every table


def test_the_rebuild_command_gives_the_same_rollups_as_the_beat_job():
    video = VideoFactory(duration=200)
    for i, user_id in enumerate(MEMBERS):
        start = day_start_ms(today() - timedelta(days=i % 3)) + 1000
        watch_batches_store(batches=session_batches(user_id, video.pk, list(range(i * 10, 150)), start_ms=start))
    rollups_refresh()
    by_beat = stored_rollups(video_id=video.pk)
    session = cassandra_session()
    ks = cassandra_keyspace()
    session.execute(f"DELETE FROM {ks}.video_rollups WHERE video_id = %s", (video.pk,))
    for shard in range(VIDEO_MEMBER_SHARDS):  # as for events stored before video_members existed
        session.execute(f"DELETE FROM {ks}.video_members WHERE video_id = %s AND shard = %s", (video.pk, shard))
    assert stored_rollups(video_id=video.pk)["days"] == {}

    call_command("rollups_rebuild", video=[video.pk], days=5, verbosity=0)

    assert stored_rollups(video_id=video.pk) == by_beat
    assert by_beat == comparable(brute_force(video_id=video.pk, duration=200, user_ids=MEMBERS, days=recent_days(3)))


def test_top_videos_rank_by_views_and_by_watch_time_over_the_last_7_and_30_days():
    many_views, long_watch, old = VideoFactory(duration=600), VideoFactory(duration=600), VideoFactory(duration=600)
    start = day_start_ms(today())
    for user_id in MEMBERS:  # four short views
        watch_batches_store(batches=session_batches(user_id, many_views.pk, list(range(12)), start_ms=start))
    watch_batches_store(batches=session_batches(MEMBERS[0], long_watch.pk, list(range(500)), start_ms=start))
    ten_days_ago = day_start_ms(today() - timedelta(days=10))
    for user_id in MEMBERS:
        watch_batches_store(batches=session_batches(user_id, old.pk, list(range(400)), start_ms=ten_days_ago))
    rollups_refresh()
    top_videos_refresh()

    def ranking(window, metric):
        rows = cassandra_session().execute(
            f"SELECT video_id FROM {cassandra_keyspace()}.top_videos WHERE window_days = %s AND metric = %s",
            (window, metric),
        )
        return [r.video_id for r in rows]

    assert ranking(7, "views") == [many_views.pk, long_watch.pk]
    assert ranking(7, "watch") == [long_watch.pk, many_views.pk]
    assert ranking(30, "views")[0] == old.pk
    assert ranking(30, "watch") == [old.pk, long_watch.pk, many_views.pk]


def test_a_view_is_ten_seconds_or_half_of_a_shorter_video():
    assert is_view(seconds=10, duration=600)
    assert not is_view(seconds=9, duration=600)
    assert is_view(seconds=5, duration=10)
    assert not is_view(seconds=4, duration=9)
    assert not is_view(seconds=9, duration=None)
    assert BUCKETS == 100
