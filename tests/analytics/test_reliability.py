"""Reliability of the watch pipeline on the real services: ordering and outages.

Each test drives the real endpoint, the real Redis stream and a spawned Celery worker process, and
reads back what Cassandra holds. Duplicates and a worker killed mid-batch are tested once, down to
the raw rows and the rollups, in test_rollups_pipeline.py.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest
from django.db import connections
from django.test import Client

from analytics.cassandra import cassandra_reset
from analytics.selectors import resume_position_get
from analytics.stream import STREAM, stream_client
from tests.analytics.helpers import batch_body, drained, event_count, now_ms, post, signed, stored_state
from tests.conftest import CASSANDRA_DBS, ROOT, WorkerProcess, broker, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)]


@pytest.fixture
def member_client(member, settings):
    settings.WATCH_BATCHES_PER_MINUTE = 100_000
    client = Client()
    client.force_login(member)
    return client


def test_out_of_order_batches_from_two_devices_resume_at_the_newest_by_client_time(
    member, video, member_client, celery_worker_process
):
    t0 = now_ms() - 120_000
    laptop = batch_body(video.pk, uuid.uuid4(), range(50, 60), t0=t0)  # older
    phone = batch_body(video.pk, uuid.uuid4(), range(300, 310), t0=t0 + 60_000)  # newer, arrives first

    assert post(member_client, phone) == 202
    wait_until(lambda: resume_position_get(user_id=member.pk, video_id=video.pk) == 309)
    assert post(member_client, laptop) == 202
    wait_until(drained)

    state = stored_state(member.pk, video.pk)
    assert resume_position_get(user_id=member.pk, video_id=video.pk) == 309
    assert state["coverage"] == frozenset(range(50, 60)) | frozenset(range(300, 310))
    assert len(state["sessions"]) == 2


@pytest.mark.disruptive
def test_with_cassandra_stopped_the_endpoint_keeps_accepting_and_everything_is_stored_after(
    member, video, member_client, celery_worker_process
):
    t0 = now_ms() - 600_000
    subprocess.run([ROOT / "bin" / "cassandra", "stop"], check=True)
    try:
        statuses = [
            post(member_client, batch_body(video.pk, uuid.uuid4(), range(i * 10, i * 10 + 10), t0=t0 + i * 10_000))
            for i in range(20)
        ]
        assert statuses == [202] * 20
        assert stream_client().xlen(STREAM) > 0  # nothing could be written: all still queued
    finally:
        subprocess.run([ROOT / "bin" / "cassandra", "start"], check=True)
        # Sessions opened before the restart may still count their pools as shut down: reconnect
        # both (ours and django-cassandra-engine's, which the test runner uses at teardown).
        cassandra_reset()
        connections["cassandra"].reconnect()

    wait_until(lambda: drained() and event_count(member.pk, video.pk) == 200, timeout=120)
    assert resume_position_get(user_id=member.pk, video_id=video.pk) == 199


@pytest.mark.disruptive
def test_a_redis_restart_keeps_queued_batches_and_while_down_the_endpoint_answers_503(member, video, member_client):
    broker().flushdb()
    t0 = now_ms() - 600_000
    for i in range(20):
        assert post(member_client, batch_body(video.pk, uuid.uuid4(), range(i * 10, i * 10 + 10), t0=t0 + i)) == 202

    # Signed while Redis still answers (the token carries the member's generation, kept in Redis).
    late = signed(batch_body(video.pk, uuid.uuid4(), [500], t0=t0), member.pk)
    subprocess.run([ROOT / "bin" / "redis", "stop"], check=True)
    try:
        assert post(member_client, late) == 503
    finally:
        subprocess.run([ROOT / "bin" / "redis", "start"], check=True)
    assert stream_client().xlen(STREAM) == 20  # the append-only file kept every queued batch

    worker = WorkerProcess().start()
    try:
        wait_until(lambda: drained() and event_count(member.pk, video.pk) == 200, timeout=60)
    finally:
        worker.stop()
