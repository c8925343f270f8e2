"""What players report: a real duration (staff at once, members by agreeing votes) and playback
problems (counted for staff, never hiding a video). No single member's report changes what others see."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics.stream import stream_client
from tests.analytics.helpers import signed
from tests.factories import MemberFactory, VideoFactory
from videos.models import Video, VideoDurationVote, VideoPlaybackProblem
from videos.selectors import video_playback_problem_count, video_watchable_cache_clear

pytestmark = pytest.mark.django_db


def report(client, video, body, **kwargs):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(
        reverse("videos:report", kwargs={"video_id": video.pk}), data, content_type="application/json", **kwargs
    )


@pytest.fixture
def member_client(client):
    client.force_login(MemberFactory.create())
    return client


def confirmed_clients(count):
    clients = []
    for _ in range(count):
        client = Client()
        client.force_login(MemberFactory.create())
        clients.append(client)
    return clients


# Finding 5: one member's report set the duration for everyone (a 1-second one made every other
# member's real watch batches fail with 400). Members' reports are now votes.
def test_one_members_duration_report_is_a_vote_and_leaves_the_video_and_others_batches_alone(member_client, client):
    video = VideoFactory.create(duration=None)

    response = report(member_client, video, {"kind": "duration", "seconds": 1})

    assert response.status_code == 200
    assert response.json() == {"recorded": True, "kind": "duration"}
    assert Video.objects.get(pk=video.pk).duration is None
    assert VideoDurationVote.objects.get(video=video).seconds == 1

    # Another member's real watching, five minutes in, is still accepted.
    stream = stream_client()
    stream.flushdb()
    try:
        video_watchable_cache_clear()
        other = MemberFactory.create()
        client.force_login(other)
        batch = {
            "video_id": video.pk,
            "session_id": str(uuid.uuid4()),
            "events": [{"position": 300, "client_ts": int(time.time() * 1000), "rate": 1.0}],
        }
        # With its page's viewing-session token, as the tracker sends it.
        response = client.post("/api/watch/", signed(batch, other.pk), content_type="application/json")
        assert response.status_code == 202
    finally:
        stream.flushdb()


def test_three_confirmed_members_agreeing_within_a_second_fill_the_duration():
    video = VideoFactory.create(duration=None)
    first, second, third = confirmed_clients(3)

    report(first, video, {"kind": "duration", "seconds": 634.6})
    report(second, video, {"kind": "duration", "seconds": 634.4})
    assert Video.objects.get(pk=video.pk).duration is None
    response = report(third, video, {"kind": "duration", "seconds": 635.2})

    assert response.json() == {"recorded": True, "kind": "duration"}
    # Rounded votes 635, 634, 635: the middle one.
    assert Video.objects.get(pk=video.pk).duration == 635


def test_two_agreeing_members_do_not_fill_the_duration():
    video = VideoFactory.create(duration=None)

    for client in confirmed_clients(2):
        report(client, video, {"kind": "duration", "seconds": 1})

    assert Video.objects.get(pk=video.pk).duration is None


def test_votes_fill_the_duration_only_when_three_lie_within_one_second():
    video = VideoFactory.create(duration=None)
    clients = confirmed_clients(5)

    # 100, 102, 104, then 103: every one-second window holds at most two votes.
    for client, seconds in zip(clients[:4], (100, 102, 104, 103), strict=True):
        report(client, video, {"kind": "duration", "seconds": seconds})
    assert Video.objects.get(pk=video.pk).duration is None

    # A second 103: 102, 103 and 103 agree.
    report(clients[4], video, {"kind": "duration", "seconds": 103.2})
    assert Video.objects.get(pk=video.pk).duration == 103


def test_one_member_reporting_three_times_is_one_vote(member_client):
    video = VideoFactory.create(duration=None)

    answers = [report(member_client, video, {"kind": "duration", "seconds": 60}).json() for _ in range(3)]

    assert [a["recorded"] for a in answers] == [True, False, False]
    assert VideoDurationVote.objects.filter(video=video).count() == 1
    assert Video.objects.get(pk=video.pk).duration is None


def test_unconfirmed_members_votes_do_not_count():
    video = VideoFactory.create(duration=None, members_only=False)

    for _ in range(3):
        client = Client()
        client.force_login(MemberFactory.create(confirmed=False))
        assert report(client, video, {"kind": "duration", "seconds": 60}).json()["recorded"] is False

    assert not VideoDurationVote.objects.exists()
    assert Video.objects.get(pk=video.pk).duration is None


def test_a_staff_members_report_fills_an_unknown_duration_at_once(client):
    client.force_login(MemberFactory.create(is_staff=True))
    # Staff preview unpublished videos in the admin; their player reports too.
    video = VideoFactory.create(duration=None, is_published=False, published_at=None)

    response = report(client, video, {"kind": "duration", "seconds": 634.6})

    assert response.json() == {"recorded": True, "kind": "duration"}
    assert Video.objects.get(pk=video.pk).duration == 635


def test_a_known_duration_is_never_overwritten_by_reports(client):
    video = VideoFactory.create(duration=600)
    staff = Client()
    staff.force_login(MemberFactory.create(is_staff=True))

    answers = [report(c, video, {"kind": "duration", "seconds": 5}).json() for c in [*confirmed_clients(3), staff]]

    assert {a["recorded"] for a in answers} == {False}
    assert Video.objects.get(pk=video.pk).duration == 600


# Finding 5: any viewer could flip `is_unavailable` for everyone. Reports are now counted for staff.
def test_unavailable_reports_never_flip_the_flag_but_are_counted_once_per_member_a_day():
    video = VideoFactory.create()
    clients = confirmed_clients(3)
    since = timezone.now() - timedelta(hours=24)

    answers = [report(c, video, {"kind": "unavailable", "code": 150}).json() for c in clients]
    again = report(clients[0], video, {"kind": "unavailable", "code": 100}).json()

    assert answers == [{"recorded": True, "kind": "unavailable"}] * 3
    assert again == {"recorded": False, "kind": "unavailable"}
    video.refresh_from_db()
    assert not video.is_unavailable
    assert video.unavailable_at is None
    assert video_playback_problem_count(video_id=video.pk, since=since) == 3
    assert VideoPlaybackProblem.objects.filter(video=video).count() == 3


def test_the_problem_count_only_counts_reports_since_the_given_time(member_client):
    video = VideoFactory.create()
    report(member_client, video, {"kind": "unavailable", "code": 4})
    VideoPlaybackProblem.objects.update(created_at=timezone.now() - timedelta(days=2))

    assert video_playback_problem_count(video_id=video.pk, since=timezone.now() - timedelta(hours=24)) == 0
    assert video_playback_problem_count(video_id=video.pk, since=timezone.now() - timedelta(days=3)) == 1


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
        {"kind": "duration", "seconds": 0.4},
        {"kind": "duration", "seconds": 0.99},
        {"kind": "duration", "seconds": 86400.6},
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
    video = VideoFactory.create(duration=None)

    response = report(member_client, video, body)

    assert response.status_code == 400
    assert "error" in response.json()
    video.refresh_from_db()
    assert video.duration is None
    assert not video.is_unavailable


# Finding 6: bad input found 500s (and a 15 MB error list).
def test_a_duration_under_a_second_is_a_400_that_says_what_is_accepted(member_client):
    video = VideoFactory.create(duration=None)

    response = report(member_client, video, {"kind": "duration", "seconds": 0.4})

    assert response.status_code == 400
    body = response.json()
    assert "N ≥ 1" in body["error"]
    assert body["errors"][0]["field"] == "duration.seconds"


def test_json_nested_5000_levels_deep_is_a_400(member_client):
    video = VideoFactory.create(duration=None)

    response = report(member_client, video, "[" * 5000 + "]" * 5000)

    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_a_body_of_240000_unknown_keys_gets_a_small_4xx(member_client):
    video = VideoFactory.create(duration=None)
    # Hex keys, no spaces: 2.3 MB (as found), under Django's own 2.5 MB cap on request.body.
    keys = {f"{i:x}": 0 for i in range(240_000)}
    body = json.dumps({"kind": "duration", "seconds": 60, **keys}, separators=(",", ":"))

    response = report(member_client, video, body)

    assert 400 <= response.status_code < 500
    assert len(response.content) < 16 * 1024
    assert "error" in response.json()
    assert not VideoDurationVote.objects.exists()


def test_a_report_that_is_not_sent_as_json_is_a_415(member_client):
    video = VideoFactory.create(duration=None)

    response = member_client.post(
        reverse("videos:report", kwargs={"video_id": video.pk}), {"kind": "duration", "seconds": "60"}
    )

    assert response.status_code == 415
    assert not VideoDurationVote.objects.exists()


def test_an_anonymous_report_is_refused(client):
    video = VideoFactory.create(duration=None, members_only=False)

    response = report(client, video, {"kind": "duration", "seconds": 60})

    assert response.status_code == 401
    assert "error" in response.json()
    assert Video.objects.get(pk=video.pk).duration is None


def test_a_member_cannot_report_on_a_video_they_may_not_watch(client):
    client.force_login(MemberFactory.create(confirmed=False))
    video = VideoFactory.create(duration=None, members_only=True)

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
    video = VideoFactory.create(duration=None)

    response = report(client, video, {"kind": "duration", "seconds": 60})

    assert response.status_code == 403
    assert Video.objects.get(pk=video.pk).duration is None


def test_a_report_with_the_csrf_token_from_the_watch_page_is_accepted(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    video = VideoFactory.create(duration=None)
    page = client.get(video.get_absolute_url()).content.decode()
    token = page.split('data-csrf-token="', 1)[1].split('"', 1)[0]

    response = report(client, video, {"kind": "duration", "seconds": 60}, HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 200
    assert VideoDurationVote.objects.get(video=video).seconds == 60
