"""Resume, coverage-based completion, continue watching, member actions, export and erasure.

The services write to the real Cassandra test keyspace directly (the worker path is covered in
test_reliability.py); these tests pin down what members see.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from accounts.registry import member_data_handlers
from analytics.acceptance import WatchBatch
from analytics.cassandra import cassandra_keyspace, cassandra_session
from analytics.drain import watch_batches_store
from analytics.erasure import member_watch_data_erase
from analytics.selectors import (
    continue_watching_from,
    member_watch_data_export,
    resume_position_get,
    video_progress_map,
)
from analytics.services import member_video_hide, member_video_mark_unwatched, member_video_mark_watched
from tests.analytics.helpers import now_ms, stored_state, utc
from tests.conftest import CASSANDRA_DBS
from tests.factories import VideoFactory
from tests.videos.test_page_context import tracker_config

pytestmark = pytest.mark.django_db(databases=CASSANDRA_DBS)


def watch(user_id: int, video_id: int, positions, *, t0: int | None = None, session=None) -> None:
    t0 = t0 or now_ms() - 3_600_000
    events = tuple((p, t0 + i * 1000, 1.0) for i, p in enumerate(positions))
    watch_batches_store(batches=[WatchBatch(user_id, video_id, session or uuid.uuid4(), events)])


def durations(*videos) -> dict[int, int | None]:
    return {v.pk: v.duration for v in videos}


def continue_watching_list(*, user_id: int, durations: dict) -> list:
    """The row as pages build it: one progress read, then the continue-watching rule."""
    return continue_watching_from(progress=video_progress_map(user_id=user_id, durations=durations))


def test_a_started_video_is_in_continue_watching_with_its_position(member, video):
    watch(member.pk, video.pk, range(0, 120))

    (row,) = continue_watching_list(user_id=member.pk, durations=durations(video))

    assert (row.video_id, row.position, row.watched_seconds, row.percent) == (video.pk, 119, 120, 20)
    assert resume_position_get(user_id=member.pk, video_id=video.pk) == 119


def test_continue_watching_lists_newest_first(member):
    older, newer = VideoFactory(duration=600), VideoFactory(duration=600)
    watch(member.pk, newer.pk, range(10), t0=now_ms() - 60_000)
    watch(member.pk, older.pk, range(10), t0=now_ms() - 7_200_000)

    rows = continue_watching_list(user_id=member.pk, durations=durations(older, newer))

    assert [r.video_id for r in rows] == [newer.pk, older.pk]


def test_completion_is_coverage_so_dragging_to_the_end_does_not_complete(member):
    dragged, watched = VideoFactory(duration=600), VideoFactory(duration=600)
    watch(member.pk, dragged.pk, [*range(0, 5), *range(590, 600)])
    watch(member.pk, watched.pk, range(0, 540))  # 90 %

    progress = video_progress_map(user_id=member.pk, durations=durations(dragged, watched))

    assert progress[dragged.pk].completed is False
    assert progress[watched.pk].completed is True
    rows = continue_watching_list(user_id=member.pk, durations=durations(dragged, watched))
    assert [r.video_id for r in rows] == [dragged.pk]


def test_a_hidden_video_leaves_the_row_until_the_member_watches_it_again(member, video):
    watch(member.pk, video.pk, range(30), t0=now_ms() - 600_000)
    member_video_hide(user_id=member.pk, video_id=video.pk)
    assert continue_watching_list(user_id=member.pk, durations=durations(video)) == []

    watch(member.pk, video.pk, range(30, 40), t0=now_ms() - 1_000)  # watched again, later

    assert [r.video_id for r in continue_watching_list(user_id=member.pk, durations=durations(video))] == [video.pk]


def test_a_late_batch_older_than_the_hide_does_not_bring_the_video_back(member, video):
    watch(member.pk, video.pk, range(30), t0=now_ms() - 600_000)
    member_video_hide(user_id=member.pk, video_id=video.pk)

    watch(member.pk, video.pk, range(30, 40), t0=now_ms() - 300_000)  # watched before the hide, arrives after

    assert continue_watching_list(user_id=member.pk, durations=durations(video)) == []


def test_mark_as_watched_completes_and_mark_as_unwatched_forgets(member, video):
    watch(member.pk, video.pk, range(60))

    member_video_mark_watched(user_id=member.pk, video_id=video.pk)
    assert video_progress_map(user_id=member.pk, durations=durations(video))[video.pk].completed is True

    member_video_mark_unwatched(user_id=member.pk, video_id=video.pk)
    assert video_progress_map(user_id=member.pk, durations=durations(video)) == {}
    assert resume_position_get(user_id=member.pk, video_id=video.pk) is None


def test_mark_as_watched_ends_the_resume_offer_until_the_member_watches_again(member, video):
    watch(member.pk, video.pk, range(39), t0=now_ms() - 600_000)
    assert resume_position_get(user_id=member.pk, video_id=video.pk) == 38

    member_video_mark_watched(user_id=member.pk, video_id=video.pk)
    assert resume_position_get(user_id=member.pk, video_id=video.pk) is None
    watch(member.pk, video.pk, range(39, 45), t0=now_ms() - 300_000)  # watched before the mark, arrives late
    assert resume_position_get(user_id=member.pk, video_id=video.pk) is None

    watch(member.pk, video.pk, range(100, 110), t0=now_ms() - 1_000)  # watched again, after the mark
    assert resume_position_get(user_id=member.pk, video_id=video.pk) == 109


def test_the_watch_page_offers_no_resume_after_mark_as_watched(client, member, video):
    client.force_login(member)
    watch(member.pk, video.pk, range(39), t0=now_ms() - 600_000)
    assert tracker_config(client.get(video.get_absolute_url()).content.decode())["resumePosition"] == 38

    client.post(reverse("analytics:member-video-action", args=[video.pk, "watched"]))

    assert tracker_config(client.get(video.get_absolute_url()).content.decode())["resumePosition"] is None


def test_the_progress_buttons_post_and_redirect_back(client, member, video):
    client.force_login(member)
    watch(member.pk, video.pk, range(60))

    response = client.post(
        reverse("analytics:member-video-action", args=[video.pk, "hide"]), {"next": "https://evil.example/"}
    )

    assert response.status_code == 302
    assert response["Location"] == video.get_absolute_url()
    assert continue_watching_list(user_id=member.pk, durations=durations(video)) == []
    assert client.get(reverse("analytics:member-video-action", args=[video.pk, "hide"])).status_code == 405
    assert client.post(reverse("analytics:member-video-action", args=[video.pk, "explode"])).status_code == 404


def test_the_export_lists_seconds_as_ranges_and_times_with_their_offset(member, video):
    watch(member.pk, video.pk, [*range(0, 120), *range(300, 310), 400])

    exported = member_watch_data_export(user_id=member.pk)

    (entry,) = exported["history"]
    assert entry["ranges"] == [{"from": 0, "to": 119}, {"from": 300, "to": 309}, {"from": 400, "to": 400}]
    assert entry["seconds_watched"] == 131
    last = datetime.fromisoformat(exported["videos"][0]["last_watched"])
    assert last.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - last).total_seconds()) < 4_000


def test_export_holds_positions_and_history_and_erase_removes_every_row(member, video):
    session = uuid.uuid4()
    watch(member.pk, video.pk, range(5), session=session)

    exported = member_watch_data_export(user_id=member.pk)
    assert exported["videos"][0]["video_id"] == video.pk
    assert exported["videos"][0]["resume_position_seconds"] == 4
    assert exported["history"][0]["viewing_session"] == str(session)
    assert exported["history"][0]["ranges"] == [{"from": 0, "to": 4}]
    assert exported["history"][0]["seconds_watched"] == 5

    day = utc(now_ms() - 3_600_000).date()
    ks = cassandra_keyspace()

    member_watch_data_erase(user_id=member.pk)

    db = cassandra_session()
    assert db.execute(f"SELECT * FROM {ks}.watch_events WHERE user_id = %s AND day = %s", (member.pk, day)).all() == []
    assert (
        db.execute(
            f"SELECT * FROM {ks}.video_sessions WHERE video_id = %s AND day = %s AND user_id = %s",
            (video.pk, day, member.pk),
        ).all()
        == []
    )
    assert stored_state(member.pk, video.pk) == {
        "events": [],
        "sessions": {},
        "position": None,
        "coverage": frozenset(),
        "watched": None,
    }
    assert member_watch_data_export(user_id=member.pk) == {"videos": [], "history": []}


def test_the_analytics_app_is_registered_for_member_export_and_deletion():
    assert "watching" in {handler.name for handler in member_data_handlers()}
