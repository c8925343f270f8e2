"""The watch path end to end: HTTP POST → Redis → a real Celery worker → Cassandra → selector."""

from __future__ import annotations

import time
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from analytics.selectors import resume_position_get
from tests.analytics.helpers import signed
from tests.conftest import CASSANDRA_DBS, wait_until


def now_ms() -> int:
    return int(time.time() * 1000)


def csrf_client(member) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    client.get(reverse("videos:catalogue"))  # the page's logout form sets the CSRF cookie
    return client, client.cookies["csrftoken"].value


@pytest.mark.integration
@pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)
def test_a_posted_batch_reaches_cassandra_through_a_real_worker(member, video, celery_worker_process):
    client, token = csrf_client(member)
    t0 = now_ms() - 20_000
    body = {
        "video_id": video.pk,
        "session_id": str(uuid.uuid4()),
        "events": [{"position": 30 + i, "client_ts": t0 + i * 1000, "rate": 1.0} for i in range(10)],
    }

    response = client.post(
        reverse("analytics:watch-batch"),
        signed(body, member.pk),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 10}
    assert wait_until(lambda: resume_position_get(user_id=member.pk, video_id=video.pk), timeout=30) == 39
