"""/healthz queue depths, /metrics (Prometheus text, staff or operator token) and `pipeline_status`."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import time
import uuid
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from analytics.pipeline import pipeline_depths
from analytics.stream import DEAD_LETTERS, STREAM, stream_client
from config.health import health_cache_clear
from config.metrics import counter_inc
from tests.analytics.helpers import batch_body, now_ms, post
from tests.conftest import CASSANDRA_DBS, ROOT, broker, wait_until
from tests.factories import MemberFactory

TOKEN = "operator-token-0123456789abcdef"
OPERATOR = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def _empty_redis():
    broker().flushdb()
    health_cache_clear()  # /healthz caches its report per process: no report from another test


def samples(body: bytes) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


# /healthz details (the pipeline) are for operators: these read them with the token.
@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_healthz_reports_queue_depths_and_the_age_of_the_oldest_queued_batch(client, member, video, settings):
    settings.WATCH_BATCHES_PER_MINUTE = 1000
    settings.METRICS_TOKEN = TOKEN
    client.force_login(member)
    for _ in range(3):
        assert post(client, batch_body(video.pk, uuid.uuid4(), range(10), t0=now_ms() - 60_000)) == 202
    # The age comes from the stream ids (Redis's clock): wait until the oldest is a second old.
    wait_until(lambda: (pipeline_depths().oldest_age_seconds or 0) >= 1.0, interval=0.05)

    pipeline = client.get("/healthz", **OPERATOR).json()["pipeline"]

    assert pipeline["queues"]["watch_stream"] == 3
    assert set(pipeline["queues"]) == {"watch_stream", *(queue.name for queue in settings.CELERY_TASK_QUEUES)}
    assert {"watch", "rollups", "email", "background", "media"} <= set(pipeline["queues"])
    assert pipeline["queues"]["watch"] >= 1  # the endpoint woke a drain task; no worker took it
    assert 1.0 <= pipeline["oldest_batch_age_seconds"] < 30
    assert pipeline["watch_stream_pending"] == 0


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_healthz_says_no_batch_is_queued_when_the_stream_is_empty(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/healthz", **OPERATOR).json()["pipeline"]["oldest_batch_age_seconds"] is None


@pytest.mark.django_db
def test_metrics_refuse_anonymous_members_and_a_wrong_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    member = MemberFactory()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    client.force_login(member)
    assert client.get("/metrics").status_code == 403


@pytest.mark.django_db
def test_metrics_answer_staff_and_the_operator_token_in_prometheus_text_format(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    staff = Client()
    staff_member: Any = MemberFactory(is_staff=True)
    staff.force_login(staff_member)
    assert staff.get("/metrics").status_code == 200


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_metrics_count_requests_and_accepted_and_rejected_watch_events(client, member, video, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.WATCH_BATCHES_PER_MINUTE = 1000
    client.force_login(member)
    before = samples(Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content)
    assert post(client, batch_body(video.pk, uuid.uuid4(), range(10), t0=now_ms() - 60_000)) == 202
    assert post(client, batch_body(video.pk, uuid.uuid4(), range(5), t0=now_ms() - 60_000)) == 202
    assert post(client, {"video_id": video.pk}) == 400

    found = samples(Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content)

    def grew(key: tuple[str, tuple]) -> float:
        return found[key] - before.get(key, 0)

    assert grew(("watchpoint_watch_events_accepted_total", ())) == 15
    assert grew(("watchpoint_watch_batches_rejected_total", (("status", "400"),))) == 1
    view = (("status", "202"), ("view", "analytics:watch-batch"))
    assert grew(("watchpoint_http_requests_total", view)) == 2
    assert grew(("watchpoint_http_request_duration_seconds_count", (("view", "analytics:watch-batch"),))) == 3
    assert found[("watchpoint_queue_depth", (("queue", "watch_stream"),))] == 2


@pytest.mark.django_db
def test_counters_live_in_the_multiprocess_directory_not_in_redis(client, settings):
    settings.METRICS_TOKEN = TOKEN
    task = f"test.{uuid.uuid4().hex[:8]}"
    counter_inc("watchpoint_celery_task_failures", task=task)

    broker().flushdb()  # a Redis flush (or outage) is not a counter reset
    found = samples(client.get("/metrics", **OPERATOR).content)

    assert found[("watchpoint_celery_task_failures_total", (("task", task),))] == 1
    assert list(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob(f"counter_{os.getpid()}.db"))


@pytest.mark.django_db
def test_what_a_process_counted_before_it_exited_stays_in_the_sum(client, settings):
    settings.METRICS_TOKEN = TOKEN
    task = f"test.{uuid.uuid4().hex[:8]}"
    code = (
        "import django; django.setup(); from config.metrics import counter_inc; "
        f"counter_inc('watchpoint_celery_task_retries', 3, task='{task}')"
    )
    # A recycled worker: its own process, its own file, exited before the scrape.
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    counter_inc("watchpoint_celery_task_retries", task=task)

    found = samples(client.get("/metrics", **OPERATOR).content)

    assert found[("watchpoint_celery_task_retries_total", (("task", task),))] == 4


def test_gunicorn_drops_a_dead_workers_live_gauges_and_keeps_its_counters(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("gauge_livesum_4242.db", "gauge_all_4242.db", "counter_4242.db"):
        (tmp_path / name).write_bytes(b"")
    child_exit = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["child_exit"]

    child_exit(None, SimpleNamespace(pid=4242))

    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_4242.db", "gauge_all_4242.db"]


def test_a_counter_with_label_names_other_than_its_own_is_refused():
    with pytest.raises(ValueError, match="label"):
        counter_inc("watchpoint_watch_batches_rejected", reason="400")
    with pytest.raises(KeyError):
        counter_inc("watchpoint_not_a_metric")


@pytest.mark.django_db
def test_metrics_expose_the_backlog_and_dead_letter_caps_and_how_full_they_are(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.WATCH_STREAM_MAX_BATCHES = 10
    settings.WATCH_DEAD_LETTERS_MAX = 4
    for _ in range(8):
        stream_client().xadd(STREAM, {"b": "{}"})
    stream_client().xadd(DEAD_LETTERS, {"id": "0-1", "b": "{}", "reason": "test"})

    found = samples(client.get("/metrics", **OPERATOR).content)

    assert found[("watchpoint_watch_stream_max_batches", ())] == 10
    assert found[("watchpoint_watch_stream_fill_ratio", ())] == pytest.approx(0.8)
    assert found[("watchpoint_watch_dead_letters", ())] == 1
    assert found[("watchpoint_watch_dead_letters_max", ())] == 4
    assert found[("watchpoint_watch_dead_letters_fill_ratio", ())] == pytest.approx(0.25)
    out = StringIO()
    call_command("pipeline_status", "--json", stdout=out)
    assert json.loads(out.getvalue())["warnings"] == ["watch backlog at 80 % of its cap (8 of 10 batches)"]


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)
def test_metrics_and_pipeline_status_show_what_a_real_worker_wrote(member, video, settings, celery_worker_process):
    settings.METRICS_TOKEN = TOKEN
    client = Client()
    client.force_login(member)
    before = samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content)
    for i in range(4):
        assert post(client, batch_body(video.pk, uuid.uuid4(), range(i * 10, i * 10 + 10), t0=now_ms() - 60_000)) == 202
    wait_until(lambda: stream_client().xlen(STREAM) == 0 and stream_client().get("wp:metrics:last_write"))

    found = samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content)
    # Counted by the worker's prefork children, in their own files; this process's /metrics sums them.
    assert (
        found[("watchpoint_watch_events_written_total", ())] - before[("watchpoint_watch_events_written_total", ())]
        == 40
    )
    writes = ("watchpoint_cassandra_request_duration_seconds_count", (("kind", "write"), ("outcome", "ok")))
    assert found[writes] > before.get(writes, 0)
    assert found[("watchpoint_watch_last_write_timestamp_seconds", ())] > time.time() - 60

    out = StringIO()
    call_command("pipeline_status", "--json", stdout=out)
    status = json.loads(out.getvalue())
    assert status["queues"]["watch_stream"] == 0
    assert status["workers"] == [celery_worker_process.name]
    assert status["last_write_seconds_ago"] < 60
    assert status["events_per_second_last_minute"] >= 0
    text = StringIO()
    call_command("pipeline_status", stdout=text)
    assert "workers alive (1)" in text.getvalue()


def test_celery_queue_sizes_count_messages_of_every_priority():
    from analytics.pipeline import celery_queue_sizes
    from config.celery_app import app

    queue = f"wp-test-{uuid.uuid4().hex[:8]}"
    assert celery_queue_sizes(names=[queue]) == {queue: 0}
    for priority in (0, 3, 9):
        app.send_task("watchpoint.test.nothing", queue=queue, priority=priority)
    try:
        assert celery_queue_sizes(names=[queue]) == {queue: 3}
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)
