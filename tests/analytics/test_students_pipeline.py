"""The students report through a real worker: a posted batch lands in the report exactly (and its
replay changes nothing), and an item added to the course is recounted by the worker's task."""

from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import datetime

import pytest
from django.urls import reverse

from analytics.cassandra import cassandra_keyspace, cassandra_session
from tests.analytics.helpers import signed
from tests.analytics.test_rollups_pipeline import worker_env  # noqa: F401  (a fixture)
from tests.analytics.test_watch_pipeline import csrf_client
from tests.conftest import CASSANDRA_DBS, WorkerProcess, wait_until
from tests.factories import PlaylistFactory, PlaylistItemFactory, VideoFactory


def copy_rows(path, *instances) -> None:
    """The worker's own catalogue (worker_env's SQLite file) gets the test's rows: the students
    report's task reads which courses hold a video."""
    with sqlite3.connect(path) as db:
        for instance in instances:
            row = {f.column: f.get_prep_value(getattr(instance, f.attname)) for f in instance._meta.concrete_fields}
            values = {
                k: v.replace(tzinfo=None).isoformat(" ") if isinstance(v, datetime) else v for k, v in row.items()
            }
            table = type(instance)._meta.db_table
            db.execute(
                f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                list(values.values()),
            )


def course_row(playlist_id: int, user_id: int):
    return (
        cassandra_session()
        .execute(
            f"SELECT items_completed, items_total, watch_seconds FROM {cassandra_keyspace()}.course_members "
            "WHERE playlist_id = %s AND user_id = %s",
            (playlist_id, user_id),
        )
        .one()
    )


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)
def test_watching_through_a_worker_updates_the_report_exactly(member, redis, worker_env):  # noqa: F811
    env, path = worker_env
    playlist = PlaylistFactory()
    first, second = VideoFactory(duration=20, members_only=False), VideoFactory(duration=600, members_only=False)
    items = [PlaylistItemFactory(playlist=playlist, video=v, position=i) for i, v in enumerate((first, second))]
    copy_rows(path, first, second, playlist, *items)
    worker = WorkerProcess(env={**env, "WATCH_COUNT_REFRESH_SECONDS": "0"}).start()
    try:
        client, token = csrf_client(member)
        t0 = int(time.time() * 1000) - 60_000
        body = {
            "video_id": first.pk,
            "session_id": str(uuid.uuid4()),
            "events": [{"position": i, "client_ts": t0 + i * 1000, "rate": 1.0} for i in range(19)],
        }
        for _ in range(2):  # the same batch twice: delivered at least once, counted once
            response = client.post(
                reverse("analytics:watch-batch"),
                signed(body, member.pk),
                content_type="application/json",
                headers={"X-CSRFToken": token},
            )
            assert response.status_code == 202, response.content

        row = wait_until(lambda: course_row(playlist.pk, member.pk), timeout=30)
        assert (row.items_completed, row.items_total, row.watch_seconds) == (1, 2, 19)

        # An item added: the worker's catalogue gets it first, then the test's commit queues the recount.
        third = VideoFactory.build(duration=60)
        third.save()
        copy_rows(path, third)
        added = PlaylistItemFactory.build(playlist=playlist, video=third, position=2)
        added.pk = (items[-1].pk or 0) + 1
        copy_rows(path, added)
        added.save(force_insert=True)
        wait_until(lambda: course_row(playlist.pk, member.pk).items_total == 3, timeout=30)
        row = course_row(playlist.pk, member.pk)
        assert (row.items_completed, row.items_total, row.watch_seconds) == (1, 3, 19)
    finally:
        worker.stop()
