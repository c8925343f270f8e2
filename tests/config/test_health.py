from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from analytics.cassandra import cassandra_reset
from tests.conftest import CASSANDRA_DBS


def closed_cassandra() -> dict:
    cassandra = settings.DATABASES["cassandra"]
    options = cassandra["OPTIONS"]
    # Nothing listens on port 1. (Shallow copies: the connection options hold driver policy objects.)
    connection = {**options["connection"], "port": 1}
    return {**settings.DATABASES, "cassandra": {**cassandra, "OPTIONS": {**options, "connection": connection}}}


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_healthz_is_503_and_names_cassandra_when_cassandra_is_unreachable(client):
    with override_settings(DATABASES=closed_cassandra()):
        response = client.get("/healthz")
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
    response = client.get("/healthz")

    assert response.status_code == 200, response.content
    assert response.json()["down"] == []
    assert set(response.json()["checks"]) == {"database", "redis", "cassandra", "celery"}


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_healthz_output_carries_no_secrets(client):
    body = client.get("/healthz").content.decode()

    assert settings.SECRET_KEY not in body
    assert "redis://" not in body
    assert "127.0.0.1" not in body
