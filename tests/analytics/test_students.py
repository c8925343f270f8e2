"""The staff students report: course_members kept exact by the drain's recount, mark (un)watched,
item changes and the rebuild command; the page's filters, sorts, cursor, bad input and CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime

import pytest
from django.core.management import call_command
from django.urls import reverse

from analytics.acceptance import WatchBatch
from analytics.cassandra import cassandra_keyspace, cassandra_session
from analytics.drain import watch_batches_store
from analytics.erasure import member_watch_data_erase
from analytics.services import member_video_mark_unwatched, member_video_mark_watched
from analytics.students import course_members_recount, course_students_page
from config.celery_app import app as celery_app
from tests.analytics.helpers import now_ms
from tests.conftest import CASSANDRA_DBS
from tests.factories import MemberFactory, PlaylistFactory, PlaylistItemFactory, VideoFactory

pytestmark = pytest.mark.django_db(databases=CASSANDRA_DBS)


@pytest.fixture(autouse=True)
def _recount_and_report_at_once(settings):
    # The drain's recount at once, and its students-report task run in this process (Celery's eager
    # mode: the same task code, without a worker; test_students_pipeline.py goes through one).
    settings.WATCH_COUNT_REFRESH_SECONDS = 0
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def course():
    playlist = PlaylistFactory()
    videos = [VideoFactory(duration=100) for _ in range(3)]
    for position, video in enumerate(videos):
        PlaylistItemFactory(playlist=playlist, video=video, position=position)
    return playlist, videos


def watch(user_id: int, video_id: int, positions, *, t0: int | None = None) -> None:
    t0 = t0 or now_ms() - 3_600_000
    events = tuple((p, t0 + i * 1000, 1.0) for i, p in enumerate(positions))
    watch_batches_store(batches=[WatchBatch(user_id, video_id, uuid.uuid4(), events)])


def rows(playlist_id: int) -> dict[int, tuple]:
    result = cassandra_session().execute(
        f"SELECT user_id, items_completed, items_total, watch_seconds, last_watched "
        f"FROM {cassandra_keyspace()}.course_members WHERE playlist_id = %s",
        (playlist_id,),
    )
    return {r.user_id: (r.items_completed, r.items_total, r.watch_seconds) for r in result}


def order_rows(playlist_id: int) -> set[tuple]:
    ks = cassandra_keyspace()
    found = set()
    for status in ("started", "in_progress", "completed"):
        for sort in ("last", "percent", "watch"):
            for r in cassandra_session().execute(
                f"SELECT value, user_id FROM {ks}.course_member_order WHERE playlist_id = %s AND status = %s "
                "AND sort = %s",
                (playlist_id, status, sort),
            ):
                found.add((status, sort, r.value, r.user_id))
    return found


def page(playlist_id: int, *, status="started", sort="last", cursor=None, limit=50):
    return course_students_page(
        playlist_id=playlist_id, status=status, sort=sort, descending=True, cursor=cursor, limit=limit
    )


def test_watching_updates_the_report_exactly_and_a_replay_changes_nothing(course, member):
    playlist, (v1, v2, _v3) = course
    watch(member.pk, v1.pk, range(0, 95))  # 95 % of 100 s: item completed
    watch(member.pk, v2.pk, range(0, 30))
    assert rows(playlist.pk) == {member.pk: (1, 3, 125)}
    before = order_rows(playlist.pk)
    assert {(s, sort) for s, sort, _, _ in before} == {
        (s, sort) for s in ("started", "in_progress") for sort in ("last", "percent", "watch")
    }
    watch(member.pk, v2.pk, range(0, 30))  # the same seconds again (a replay): same figures, same keys
    assert rows(playlist.pk) == {member.pk: (1, 3, 125)}
    assert {k for k in order_rows(playlist.pk) if k[1] != "last"} == {k for k in before if k[1] != "last"}
    assert len(order_rows(playlist.pk)) == 6


def test_mark_watched_completes_the_course_and_mark_unwatched_takes_it_back(course, member):
    playlist, videos = course
    for video in videos:
        member_video_mark_watched(user_id=member.pk, video_id=video.pk)
    assert rows(playlist.pk) == {member.pk: (3, 3, 0)}
    assert [r.user_id for r in page(playlist.pk, status="completed").rows] == [member.pk]
    for video in videos:
        member_video_mark_unwatched(user_id=member.pk, video_id=video.pk)
    assert rows(playlist.pk) == {}
    assert order_rows(playlist.pk) == set()


def test_an_added_item_is_counted_by_the_recount(course, member):
    playlist, videos = course
    for video in videos:
        member_video_mark_watched(user_id=member.pk, video_id=video.pk)
    extra = VideoFactory(duration=100)
    PlaylistItemFactory(playlist=playlist, video=extra, position=9)
    course_members_recount(playlist_id=playlist.pk)  # what the receiver's task runs after the commit
    assert rows(playlist.pk) == {member.pk: (3, 4, 0)}
    assert page(playlist.pk, status="completed").rows == []
    assert [r.user_id for r in page(playlist.pk, status="in_progress").rows] == [member.pk]


def test_the_rebuild_command_backfills_and_a_second_run_changes_nothing(course, member, capsys):
    playlist, (v1, _, _) = course
    watch(member.pk, v1.pk, range(0, 40))
    cassandra_session().execute(f"TRUNCATE {cassandra_keyspace()}.course_members")
    cassandra_session().execute(f"TRUNCATE {cassandra_keyspace()}.course_member_order")
    call_command("course_members_rebuild", playlist=[playlist.pk])
    assert rows(playlist.pk) == {member.pk: (0, 3, 40)}
    assert len(order_rows(playlist.pk)) == 6
    call_command("course_members_rebuild", playlist=[playlist.pk])
    assert f"playlist {playlist.pk}: 0 member row(s) changed" in capsys.readouterr().out


def test_filters_sorts_and_the_cursor_page_through_every_member_once(course):
    playlist, (v1, _, _) = course
    old = now_ms() - 20 * 86_400_000
    members = [MemberFactory() for _ in range(5)]
    for i, m in enumerate(members):
        watch(m.pk, v1.pk, range(0, 10 * (i + 1)), t0=old if i < 2 else None)
    for video in course[1]:
        member_video_mark_watched(user_id=members[4].pk, video_id=video.pk)
    idle = MemberFactory()  # confirmed, never started
    by_watch = page(playlist.pk, sort="watch", limit=2)
    seen = [r.user_id for r in by_watch.rows]
    while by_watch.next_cursor:
        by_watch = page(playlist.pk, sort="watch", limit=2, cursor=by_watch.next_cursor)
        seen += [r.user_id for r in by_watch.rows]
    assert seen == [m.pk for m in reversed(members)]
    inactive = page(playlist.pk, status="inactive")
    assert [r.user_id for r in inactive.rows] == [members[0].pk, members[1].pk]
    assert [r.user_id for r in page(playlist.pk, status="completed").rows] == [members[4].pk]
    not_started = [r.user_id for r in page(playlist.pk, status="not_started").rows]
    assert idle.pk in not_started
    assert not set(not_started) & {m.pk for m in members}


def test_erasure_removes_the_member_from_the_report(course, member):
    playlist, (v1, _, _) = course
    watch(member.pk, v1.pk, range(0, 40))
    member_watch_data_erase(user_id=member.pk)
    assert rows(playlist.pk) == {}
    assert order_rows(playlist.pk) == set()


def test_the_page_is_staff_only_and_rejects_bad_input_with_a_400(client, course, member):
    playlist, (v1, _, _) = course
    watch(member.pk, v1.pk, range(0, 40))
    url = reverse("analytics_admin:students", args=[playlist.pk])
    client.force_login(member)
    assert client.get(url).status_code == 302  # the admin login
    staff = MemberFactory(is_staff=True)
    client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 200
    assert member.email in response.content.decode()
    for bad in ({"sort": "email"}, {"status": "x"}, {"after": "1.2.3"}, {"after": "9" * 25}, {"dir": "up"}):
        response = client.get(url, bad)
        assert response.status_code == 400, bad
        assert b"Bad report" in response.content
    assert client.get(reverse("analytics_admin:students", args=[999_999])).status_code == 404


def test_the_csv_streams_every_member_who_started(client, course):
    playlist, (v1, _, _) = course
    members = [MemberFactory() for _ in range(3)]
    for m in members:
        watch(m.pk, v1.pk, range(0, 20))
    client.force_login(MemberFactory(is_staff=True))
    response = client.get(reverse("analytics_admin:students-csv", args=[playlist.pk]))
    assert response.streaming
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert lines[0][:3] == ["member_id", "email", "status"]
    assert sorted(int(line[0]) for line in lines[1:]) == sorted(m.pk for m in members)
    assert {line[6] for line in lines[1:]} == {"20"}
    assert all(datetime.fromisoformat(line[7]).tzinfo is not None for line in lines[1:])


def test_a_members_admin_page_lists_their_courses_and_videos_with_progress(client, course, member):
    playlist, (v1, v2, _) = course
    watch(member.pk, v1.pk, range(0, 95))
    watch(member.pk, v2.pk, range(0, 30))
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:accounts_user_change", args=[member.pk]))
    assert response.status_code == 200
    panel = response.content.decode().split('id="watch-progress"')[1]
    assert playlist.title in panel
    assert "1 of 3" in panel  # items completed
    assert "33 %" in panel
    assert v1.title in panel
    assert v2.title in panel
    assert reverse("analytics_admin:students", args=[playlist.pk]) in panel


def report_walk(client, url: str, query: dict[str, str]) -> list[tuple[list[str], str]]:
    """Every page of the report from the first by "Next page": (its members' emails, its URL)."""
    pages = []
    response = client.get(url, query)
    while True:
        assert response.status_code == 200
        pages.append(([row["email"] for row in response.context["rows"]], response.request["QUERY_STRING"]))
        following = response.context["next_url"]
        if not following:
            return pages
        response = client.get(url + following)


@pytest.mark.parametrize(
    "query",
    [
        {"status": "started", "sort": sort, "dir": direction}
        for sort in ("last", "percent", "watch")
        for direction in ("desc", "asc")
    ]
    + [{"status": status} for status in ("in_progress", "completed", "inactive", "not_started")],
)
def test_previous_page_returns_exactly_the_page_before_for_every_filter_and_sort(client, course, query, monkeypatch):
    from analytics import admin_students

    monkeypatch.setattr(admin_students, "PAGE_SIZE", 2)
    playlist, videos = course
    old = now_ms() - 20 * 86_400_000
    # 11 started: 5 in progress and inactive, 3 in progress lately (ties in every sort but watch
    # time: the cursor breaks them by member), 3 completed; 3 never started.
    members = [MemberFactory() for _ in range(14)]
    for i, m in enumerate(members[:8]):
        watch(m.pk, videos[0].pk, range(0, 5 * (i % 4 + 1)), t0=old + i * 60_000 if i < 5 else None)
    for m in members[8:11]:
        for video in videos:
            member_video_mark_watched(user_id=m.pk, video_id=video.pk)
    client.force_login(MemberFactory(is_staff=True))
    url = reverse("analytics_admin:students", args=[playlist.pk])

    pages = report_walk(client, url, query)
    assert len(pages) >= 2, "the walk needs a page to go back to"
    assert all(emails for emails, _ in pages[:-1])

    # From the last page back to the first, "Previous page" shows each page exactly as "Next" did.
    response = client.get(f"{url}?{pages[-1][1]}")
    for emails, _ in reversed(pages[:-1]):
        previous = response.context["previous_url"]
        assert previous, "no Previous page link"
        assert 'rel="prev"' in response.content.decode()
        response = client.get(url + previous)
        assert [row["email"] for row in response.context["rows"]] == emails
    assert response.context["previous_url"] is None  # the first page
    assert response.context["first_url"] is None


def test_previous_page_past_the_kept_trail_offers_only_the_first_page(client, course, monkeypatch):
    from analytics import admin_students

    monkeypatch.setattr(admin_students, "PAGE_SIZE", 1)
    monkeypatch.setattr(admin_students, "MAX_TRAIL", 2)
    playlist, videos = course
    for i in range(6):
        watch(MemberFactory().pk, videos[0].pk, range(0, i + 1))
    client.force_login(MemberFactory(is_staff=True))
    url = reverse("analytics_admin:students", args=[playlist.pk])
    pages = report_walk(client, url, {"sort": "watch"})
    assert len(pages) == 6

    # Page 6 keeps the cursors of pages 4 and 5 (and the mark of older ones): back to page 4 exactly,
    # then no Previous (its predecessors' cursors are gone), and First page still.
    response = client.get(f"{url}?{pages[-1][1]}")
    for emails, _ in (pages[4], pages[3]):
        response = client.get(url + response.context["previous_url"])
        assert [row["email"] for row in response.context["rows"]] == emails
    assert response.context["previous_url"] is None
    assert response.context["first_url"]
    # A trail is a list of cursors, nothing else.
    assert client.get(url, {"after": "5.1", "back": "1.2,abc"}).status_code == 400
