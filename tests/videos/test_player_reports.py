"""What players report: the first real duration and unavailability, each recorded once."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import MemberFactory, VideoFactory
from videos.models import Video

pytestmark = pytest.mark.django_db


def report(client, video, body, **kwargs):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(
        reverse("videos:report", kwargs={"video_id": video.pk}), data, content_type="application/json", **kwargs
    )


@pytest.fixture
def member_client(client):
    client.force_login(MemberFactory())
    return client


def test_the_first_reported_duration_fills_an_empty_one(member_client):
    video = VideoFactory(duration=None)

    response = report(member_client, video, {"kind": "duration", "seconds": 634.6})

    assert response.status_code == 200
    assert response.json() == {"recorded": True, "kind": "duration"}
    video.refresh_from_db()
    assert video.duration == 635


def test_a_reported_duration_never_overwrites_a_known_one(member_client):
    video = VideoFactory(duration=None)
    report(member_client, video, {"kind": "duration", "seconds": 100})

    response = report(member_client, video, {"kind": "duration", "seconds": 9999})

    assert response.json()["recorded"] is False
    video.refresh_from_db()
    assert video.duration == 100


def test_a_duration_set_by_staff_is_never_overwritten(member_client):
    video = VideoFactory(duration=600)

    report(member_client, video, {"kind": "duration", "seconds": 5})

    video.refresh_from_db()
    assert video.duration == 600


def test_unavailability_is_recorded_once(member_client):
    video = VideoFactory()

    first = report(member_client, video, {"kind": "unavailable", "code": 150})
    video.refresh_from_db()
    first_at = video.unavailable_at
    second = report(member_client, video, {"kind": "unavailable", "code": 100})

    assert first.json()["recorded"] is True
    assert second.json()["recorded"] is False
    video.refresh_from_db()
    assert video.is_unavailable
    assert video.unavailable_code == "150"
    assert video.unavailable_at == first_at


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        b"\xff\xfe",
        [],
        {},
        {"kind": "views", "count": 3},
        {"kind": "duration"},
        {"kind": "duration", "seconds": -5},
        {"kind": "duration", "seconds": 0},
        {"kind": "duration", "seconds": "600"},
        {"kind": "duration", "seconds": 10**9},
        {"kind": "duration", "seconds": 60, "extra": 1},
        {"kind": "unavailable"},
        {"kind": "unavailable", "code": ""},
        {"kind": "unavailable", "code": "x" * 100},
        {"kind": "unavailable", "code": None},
        '{"kind": "duration", "seconds": Infinity}',
        '{"kind": "duration", "seconds": NaN}',
    ],
)
def test_a_bad_report_gets_a_400_with_a_message_and_changes_nothing(member_client, body):
    video = VideoFactory(duration=None)

    response = report(member_client, video, body)

    assert response.status_code == 400
    assert "error" in response.json()
    video.refresh_from_db()
    assert video.duration is None
    assert not video.is_unavailable


def test_an_anonymous_report_is_refused(client):
    video = VideoFactory(duration=None, members_only=False)

    response = report(client, video, {"kind": "duration", "seconds": 60})

    assert response.status_code == 401
    assert "error" in response.json()
    assert Video.objects.get(pk=video.pk).duration is None


def test_a_member_cannot_report_on_a_video_they_may_not_watch(client):
    client.force_login(MemberFactory(confirmed=False))
    video = VideoFactory(duration=None, members_only=True)

    response = report(client, video, {"kind": "duration", "seconds": 60})

    assert response.status_code == 404
    assert Video.objects.get(pk=video.pk).duration is None


def test_a_report_on_a_missing_video_is_404_json(member_client):
    response = member_client.post("/videos/999999/report/", "{}", content_type="application/json")

    assert response.status_code in (400, 404)
    assert "error" in response.json()


def test_a_report_without_the_csrf_token_is_refused(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    video = VideoFactory(duration=None)

    response = report(client, video, {"kind": "duration", "seconds": 60})

    assert response.status_code == 403
    assert Video.objects.get(pk=video.pk).duration is None


def test_a_report_with_the_csrf_token_from_the_watch_page_is_accepted(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    video = VideoFactory(duration=None)
    page = client.get(video.get_absolute_url()).content.decode()
    token = page.split('data-csrf-token="', 1)[1].split('"', 1)[0]

    response = report(client, video, {"kind": "duration", "seconds": 60}, HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 200
    assert Video.objects.get(pk=video.pk).duration == 60
