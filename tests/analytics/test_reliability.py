"""Reliability of the watch pipeline on the real services: duplicates, crashes, outages, ordering.

Each test drives the real endpoint, the real Redis stream and a spawned Celery worker process, and
reads back what Cassandra holds.
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
from tests.analytics.helpers import batch_body, drained, event_count, now_ms, pending, post, signed, stored_state
from tests.conftest import CASSANDRA_DBS, ROOT, WorkerProcess, broker, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)]


@pytest.fixture
def member_client(member, settings):
    settings.WATCH_BATCHES_PER_MINUTE = 100_000
    client = Client()
    client.force_login(member)
    return client


def test_the_same_batch_posted_twice_leaves_identical_rows(member, video, member_client, celery_worker_process):
    body = batch_body(video.pk, uuid.uuid4(), range(100, 110), t0=now_ms() - 60_000)

    assert post(member_client, body) == 202
    wait_until(lambda: drained() and event_count(member.pk, video.pk) == 10)
    first = stored_state(member.pk, video.pk)
    assert post(member_client, body) == 202
    wait_until(drained)
    second = stored_state(member.pk, video.pk)

    assert second == first
    assert first["position"] == 109
    assert first["coverage"] == frozenset(range(100, 110))
    assert first["watched"] == 10


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


def test_a_worker_killed_mid_batch_loses_nothing_and_stores_every_event_once(member, video, member_client):
    broker().flushdb()
    t0 = now_ms() - 3_600_000
    sessions = [uuid.uuid4() for _ in range(600)]
    for i, session_id in enumerate(sessions):
        assert post(member_client, batch_body(video.pk, session_id, range(i % 590, i % 590 + 10), t0=t0 + i)) == 202
    assert stream_client().xlen(STREAM) == 600

    # Small drain rounds: the 600 batches take a dozen rounds, so the kill lands mid-drain.
    small_rounds = {"WATCH_DRAIN_ROUND_BATCHES": "50"}
    worker = WorkerProcess(env=small_rounds).start()
    wait_until(lambda: pending() > 0, interval=0.01)  # a drain holds entries it has not acknowledged
    worker.kill()
    left = stream_client().xlen(STREAM)
    assert left > 0, "the worker finished before it could be killed: nothing was tested"

    second = WorkerProcess(env=small_rounds).start()
    try:
        wait_until(drained, timeout=90)
    finally:
        second.stop()

    state = stored_state(member.pk, video.pk)
    assert len(state["events"]) == 6000
    assert len({(e[1], e[2]) for e in state["events"]}) == 6000
    assert len(state["sessions"]) == 600
    assert state["coverage"] == frozenset(range(599))  # batch i covers i % 590 .. i % 590 + 9


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
