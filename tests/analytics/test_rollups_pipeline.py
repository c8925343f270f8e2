"""Duplicates and crashes through the real pipeline: stream → spawned Celery worker (drain +
embedded beat) → raw rows and rollups.

The worker's beat runs `analytics.rollups_refresh` on its own schedule; the tests only queue
batches, disturb the workers, then check the raw rows against what was queued and wait for the
rollups to equal a brute-force recomputation. (Each scenario is tested once, here, down to the
rollups; test_reliability.py has ordering and outages.)
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest

from analytics.acceptance import watch_batch_enqueue
from analytics.cassandra import cassandra_keyspace, cassandra_session
from analytics.rollups import CHECKPOINT
from analytics.stream import STREAM, stream_client
from analytics.synthetic import SyntheticVideo, traffic_batches
from tests.analytics.helpers import drained, pending, stored_state, utc
from tests.analytics.rollup_oracle import brute_force, comparable, recent_days, stored_rollups
from tests.conftest import CASSANDRA_DBS, ROOT, WorkerProcess, broker, wait_until
from tests.factories import VideoFactory
from videos.models import Video

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)]

MEMBERS = list(range(8_100_001, 8_100_007))


@pytest.fixture
def worker_env():
    """A relational database of the spawned workers' own, holding the test's videos.

    The rollup job reads video durations from the catalogue; the test database lives in this
    process's memory, so a spawned worker gets a migrated SQLite file with copies of the rows.
    """
    path = ROOT / "var" / f"rollups-worker-{uuid.uuid4().hex[:8]}.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{path}"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", **env},
        check=True,
    )
    yield env, path
    path.unlink(missing_ok=True)


def copy_video(path, video) -> None:
    row = Video.objects.filter(pk=video.pk).values().get()
    values = {k: v.replace(tzinfo=None).isoformat(" ") if isinstance(v, datetime) else v for k, v in row.items()}
    with sqlite3.connect(path) as db:
        db.execute(
            f"INSERT INTO videos_video ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
            list(values.values()),
        )


def traffic(video, sessions: int, seed: int) -> list:
    return list(
        traffic_batches(
            seed=seed,
            user_ids=MEMBERS,
            videos=[SyntheticVideo(video.pk, video.duration)],
            sessions=sessions,
            now_ms=int(time.time() * 1000),
            spread_days=1.5,
        )
    )


def rollups_match(video):
    expected = comparable(
        brute_force(video_id=video.pk, duration=video.duration, user_ids=MEMBERS, days=recent_days(3))
    )
    return stored_rollups(video_id=video.pk) == expected and expected["total"] is not None


def rollup_run_finished_after(moment: float) -> bool:
    row = (
        cassandra_session()
        .execute(f"SELECT updated_at FROM {cassandra_keyspace()}.rollup_checkpoints WHERE name = %s", (CHECKPOINT,))
        .one()
    )
    return row is not None and row.updated_at is not None and row.updated_at.replace(tzinfo=UTC).timestamp() > moment


def video_total_as_of(video) -> float:
    row = (
        cassandra_session()
        .execute(
            f"SELECT total_as_of FROM {cassandra_keyspace()}.video_rollups WHERE video_id = %s LIMIT 1", (video.pk,)
        )
        .one()
    )
    return row.total_as_of.replace(tzinfo=UTC).timestamp()


def every_members_rows(video) -> dict[int, dict]:
    return {user_id: stored_state(user_id, video.pk) for user_id in MEMBERS}


def test_rollups_equal_brute_force_after_the_same_batches_are_delivered_twice_through_the_workers(worker_env):
    env, path = worker_env
    broker().flushdb()
    video = VideoFactory(duration=90)
    copy_video(path, video)
    batches = traffic(video, sessions=25, seed=3)
    for batch in batches:
        watch_batch_enqueue(batch=batch, claims=None)
    worker = WorkerProcess(env=env).start()
    try:
        wait_until(drained, timeout=60)
        wait_until(lambda: rollups_match(video), timeout=90, interval=1)
        first = stored_rollups(video_id=video.pk)
        first_rows = every_members_rows(video)

        for batch in batches:  # the same batches again, as a client retry or a redelivery would send them
            watch_batch_enqueue(batch=batch, claims=None)
        wait_until(drained, timeout=60)
        duplicates_stored_at = time.time()
        # A beat run that started after the duplicates were stored has finished (the checkpoint is
        # written last, stamped with the run's start) and recomputed this video from them.
        wait_until(lambda: rollup_run_finished_after(duplicates_stored_at), timeout=90, interval=1)
        assert video_total_as_of(video) > duplicates_stored_at, "the run skipped the video: nothing was tested"
    finally:
        worker.stop()

    assert stored_rollups(video_id=video.pk) == first
    assert rollups_match(video)
    # Every raw row too: events, sessions, position, coverage and watched counts are unchanged.
    assert every_members_rows(video) == first_rows
    assert any(rows["events"] for rows in first_rows.values())


def test_rollups_stay_exact_after_a_worker_is_killed_mid_batch(worker_env):
    env, path = worker_env
    broker().flushdb()
    video = VideoFactory(duration=240)
    copy_video(path, video)
    batches = traffic(video, sessions=600, seed=5)
    for batch in batches:
        watch_batch_enqueue(batch=batch, claims=None)

    # Small drain rounds: the batches take many rounds, so the kill lands mid-drain.
    env = {**env, "WATCH_DRAIN_ROUND_BATCHES": "50"}
    worker = WorkerProcess(env=env).start()
    wait_until(lambda: pending() > 0, interval=0.005)
    worker.kill()
    assert stream_client().xlen(STREAM) > 0, "the worker finished before it could be killed: nothing was tested"

    second = WorkerProcess(env=env).start()
    try:
        wait_until(drained, timeout=90)
        wait_until(lambda: rollups_match(video), timeout=90, interval=1)
    finally:
        second.stop()
    stored = stored_rollups(video_id=video.pk)
    # Every queued session once per UTC day it has seconds in: none lost, none counted twice.
    session_days = {(b.session_id, utc(ts).date()) for b in batches for _, ts, _ in b.events}
    assert stored["total"]["sessions"] == len(session_days)
    assert stored["total"]["members"] <= len(MEMBERS)

    # The raw rows: every queued second stored exactly once per member, session and day.
    for user_id in MEMBERS:
        queued = [b for b in batches if b.user_id == user_id]
        rows = stored_state(user_id, video.pk)
        seconds = [(session_id, position, ts.date()) for _, session_id, position, ts, _ in rows["events"]]
        expected = {(b.session_id, position, utc(ts).date()) for b in queued for position, ts, _ in b.events}
        assert sorted(seconds) == sorted(expected)
        assert {(day.date(), session_id) for day, session_id in rows["sessions"]} == {  # day: a driver Date
            (utc(ts).date(), b.session_id) for b in queued for _, ts, _ in b.events
        }
        assert rows["coverage"] == {position for b in queued for position, _, _ in b.events}
