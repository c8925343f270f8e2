"""/healthz: status for anyone, details for operators, probes run at most once per cache period."""

from __future__ import annotations

import ast
import threading
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from analytics.cassandra import cassandra_reset
from analytics.stream import DEAD_LETTERS, STREAM, stream_client
from config import health, probes
from config.celery_app import app as celery_app
from config.health import health_cache_clear, health_report
from config.probes import RegisteredProbe, probe_register
from config.registry import Registry
from tests.conftest import CASSANDRA_DBS, ROOT, wait_until
from tests.factories import MemberFactory

TOKEN = "operator-token-0123456789abcdef"
OPERATOR = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def _fresh_report(settings):
    # The report is cached per process: each test starts (and leaves) without one.
    settings.METRICS_TOKEN = TOKEN
    health_cache_clear()
    yield
    health_cache_clear()


@pytest.fixture
def pings(monkeypatch) -> list[dict[str, Any]]:
    """A worker that answers every ping (no real worker needed); the list counts the pings."""
    calls: list[dict[str, Any]] = []

    def ping(**kwargs: Any) -> list[dict[str, dict[str, str]]]:
        calls.append(kwargs)
        return [{"celery@test": {"ok": "pong"}}]

    monkeypatch.setattr(celery_app.control, "ping", ping)
    return calls


@pytest.fixture
def empty_stream():
    stream_client().delete(STREAM, DEAD_LETTERS)
    yield
    stream_client().delete(STREAM, DEAD_LETTERS)


def closed_cassandra() -> dict:
    cassandra = settings.DATABASES["cassandra"]
    options = cassandra["OPTIONS"]
    # Nothing listens on port 1. (Shallow copies: the connection options hold driver policy objects.)
    connection = {**options["connection"], "port": 1}
    return {**settings.DATABASES, "cassandra": {**cassandra, "OPTIONS": {**options, "connection": connection}}}


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_healthz_is_503_and_names_cassandra_when_cassandra_is_unreachable(client):
    # Details (down, checks) are for operators now: read with the token (anonymously: only the status).
    with override_settings(DATABASES=closed_cassandra()):
        response = client.get("/healthz", **OPERATOR)
    cassandra_reset()

    assert response.status_code == 503
    body = response.json()
    assert "cassandra" in body["down"]
    assert body["checks"]["cassandra"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)
def test_healthz_is_200_when_every_service_and_a_worker_answer(client, celery_worker_process):
    response = client.get("/healthz", **OPERATOR)

    assert response.status_code == 200, response.content
    assert response.json()["down"] == []
    assert set(response.json()["checks"]) == {"database", "redis", "cassandra", "celery"}


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_healthz_output_carries_no_secrets(client):
    for headers in ({}, OPERATOR):
        health_cache_clear()
        body = client.get("/healthz", **headers).content.decode()

        assert settings.SECRET_KEY not in body
        assert TOKEN not in body
        assert "redis://" not in body
        assert "127.0.0.1" not in body


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_anonymous_callers_and_members_get_only_the_status(client, pings):
    anonymous = client.get("/healthz")
    client.force_login(MemberFactory())
    member = client.get("/healthz")
    wrong_token = Client().get("/healthz", HTTP_AUTHORIZATION="Bearer wrong")

    for response in (anonymous, member, wrong_token):
        assert response.status_code == 200, response.content
        assert response.json() == {"status": "ok"}
        assert b"queues" not in response.content
        assert b"checks" not in response.content


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_staff_sessions_and_the_operator_token_see_checks_and_queue_depths(client, pings):
    staff = Client()
    staff_member: Any = MemberFactory(is_staff=True)
    staff.force_login(staff_member)

    for body in (staff.get("/healthz").json(), client.get("/healthz", **OPERATOR).json()):
        assert body["status"] == "ok"
        assert body["down"] == []
        assert set(body["checks"]) == {"database", "redis", "cassandra", "celery"}
        assert all(check["ok"] and check["ms"] >= 0 for check in body["checks"].values())
        assert set(body["pipeline"]["queues"]) >= {"watch_stream", "watch"}
        assert body["warnings"] == []


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_twenty_consecutive_calls_run_the_probes_once(client, pings, monkeypatch):
    runs: list[int] = []
    monkeypatch.setitem(
        probes._registry, "counted", RegisteredProbe(name="counted", probe=lambda: runs.append(1), critical=True)
    )

    statuses = [client.get("/healthz").status_code for _ in range(20)]

    assert statuses == [200] * 20
    assert len(pings) == 1  # the old view pinged the workers (and waited for them) on every call
    assert len(runs) == 1
    assert pings[0]["limit"] == 1  # returns at the first worker's answer, not after the whole timeout


def test_while_one_request_refreshes_the_others_serve_the_last_report(monkeypatch):
    monkeypatch.setattr(health, "CHECKS", {})
    monkeypatch.setattr(probes, "_registry", Registry("probe"))
    entered, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def slow() -> None:
        runs.append(1)
        if len(runs) > 1:  # the refresh: hold it until the test has asked meanwhile
            entered.set()
            release.wait(30)

    probe_register(name="slow", probe=slow)
    first = health_report()
    refresher = threading.Thread(target=health_report, kwargs={"max_age": 0})
    refresher.start()
    try:
        wait_until(entered.is_set)
        served = [health_report(max_age=0) for _ in range(5)]  # stale, but a refresh is running
    finally:
        release.set()
        refresher.join(30)

    assert all(report is first for report in served)
    assert len(runs) == 2
    assert health_report() is not first  # the refresher's report replaced it


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_a_failing_probe_makes_healthz_503_and_is_named_to_operators_only(client, monkeypatch):
    def down() -> None:
        raise RuntimeError("worker at 10.1.2.3 said no")

    monkeypatch.setitem(probes._registry, "celery", RegisteredProbe(name="celery", probe=down, critical=True))

    anonymous = client.get("/healthz")
    operator = client.get("/healthz", **OPERATOR)

    assert anonymous.status_code == 503
    assert anonymous.json() == {"status": "down"}
    assert operator.status_code == 503
    body = operator.json()
    assert body["status"] == "down"
    assert body["down"] == ["celery"]
    assert body["checks"]["celery"] == {"ok": False, "ms": body["checks"]["celery"]["ms"], "error": "RuntimeError"}
    assert body["checks"]["cassandra"]["ok"] is True
    assert "10.1.2.3" not in operator.content.decode()  # class names only: messages can carry hosts


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_a_failing_informational_probe_is_a_warning_not_down(client, pings, monkeypatch):
    def broken() -> None:
        raise ConnectionError("no")

    monkeypatch.setitem(probes._registry, "pipeline", RegisteredProbe(name="pipeline", probe=broken, critical=False))

    response = client.get("/healthz", **OPERATOR)

    assert response.status_code == 200
    assert response.json()["pipeline"] is None
    assert response.json()["warnings"] == ["pipeline probe failed (ConnectionError)"]


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_operators_are_warned_when_the_backlog_or_the_dead_letters_near_their_cap(
    client, pings, settings, empty_stream
):
    settings.WATCH_STREAM_MAX_BATCHES = 10
    settings.WATCH_DEAD_LETTERS_MAX = 5
    redis = stream_client()
    for _ in range(7):
        redis.xadd(STREAM, {"b": "{}"})
    for _ in range(3):
        redis.xadd(DEAD_LETTERS, {"id": "0-1", "b": "{}", "reason": "test"})
    assert client.get("/healthz", **OPERATOR).json()["warnings"] == []  # 70 % and 60 %: no warning

    redis.xadd(STREAM, {"b": "{}"})
    redis.xadd(DEAD_LETTERS, {"id": "0-2", "b": "{}", "reason": "test"})
    health_cache_clear()
    response = client.get("/healthz", **OPERATOR)
    health_cache_clear()
    anonymous = client.get("/healthz")

    assert response.json()["warnings"] == [
        "watch backlog at 80 % of its cap (8 of 10 batches)",
        "dead letters at 80 % of their cap (4 of 5)",
    ]
    assert response.json()["pipeline"]["queues"]["watch_stream"] == 8
    # A warning is not an outage, and anonymous callers do not learn about it.
    assert response.status_code == anonymous.status_code == 200
    assert anonymous.json() == {"status": "ok"}


# config/ wires the apps (urls.py includes their URLs) but imports none of their modules: that is how
# the import cycle analytics.services → analytics.cassandra → config.metrics → config.pipeline →
# analytics.services began. (The worker's signal handlers live in analytics/tasks.py.)
IMPORTS_ALLOWED = {"urls.py"}
APPS = ("analytics", "videos", "accounts")


def test_config_imports_no_app_module():
    offenders = []
    for path in sorted(Path(ROOT, "config").glob("*.py")):
        if path.name in IMPORTS_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] in APPS]

    assert offenders == []
