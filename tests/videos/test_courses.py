"""Courses (issue #22): sections, each item's progress, Continue / Start / Watch again, completion
and its date, and drip, which the watch page, the token renewal and the member actions all refuse
before an item opens (docs/architecture.md, "Courses")."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics.acceptance import WatchBatch
from analytics.drain import watch_batches_store
from analytics.viewing import viewing_session_start
from tests.analytics.helpers import now_ms
from tests.conftest import CASSANDRA_DBS
from tests.factories import PlaylistFactory, PlaylistItemFactory, VideoFactory
from videos.models import CourseEnrolment, Section
from videos.selectors import playlist_video_ids_containing, playlist_video_ids_get, video_watchable_cache_clear

pytestmark = pytest.mark.django_db(databases=CASSANDRA_DBS)


def watch(user_id: int, video_id: int, positions: Any, *, t0: int | None = None) -> None:
    t0 = t0 or now_ms() - 3_600_000
    events = tuple((p, t0 + i * 1000, 1.0) for i, p in enumerate(positions))
    watch_batches_store(batches=[WatchBatch(user_id, video_id, uuid.uuid4(), events)])


@pytest.fixture
def course(db: None) -> Any:
    """Two sections, listed in section order whatever the items' own positions: Basics (1, 2),
    then Practice (3)."""
    playlist = PlaylistFactory.create(title="Knife skills")
    practice = Section.objects.create(playlist=playlist, title="Practice", position=2)
    basics = Section.objects.create(playlist=playlist, title="Basics", position=1)
    videos = [VideoFactory(title=t, members_only=False, duration=100) for t in ("Grip", "Chop", "Julienne")]
    PlaylistItemFactory(playlist=playlist, video=videos[2], section=practice, position=1)
    PlaylistItemFactory(playlist=playlist, video=videos[0], section=basics, position=2)
    PlaylistItemFactory(playlist=playlist, video=videos[1], section=basics, position=3)
    return playlist, videos


def test_a_course_lists_its_sections_in_order_with_each_items_progress(client, member, course):
    playlist, (grip, chop, _julienne) = course
    watch(member.pk, grip.pk, range(0, 95))  # completed (95 % coverage)
    watch(member.pk, chop.pk, range(0, 34))  # stopped at 0:33 of 1:40
    client.force_login(member)

    html = client.get(playlist.get_absolute_url()).content.decode()

    listed = re.findall(r'<h2 class="course-section">(\w+)</h2>|class="playlist-item__title">(\w+)', html)
    assert ["".join(pair) for pair in listed] == ["Basics", "Grip", "Chop", "Practice", "Julienne"]
    assert html.count("data-item-completed") == 1
    assert 'aria-label="Watched 33%"' in html
    assert "<span data-item-percent>33%</span>" in html
    assert "<span data-course-percent>33% complete</span>" in html  # 1 of 3 items
    # Continue: the first unfinished item, at its resume point.
    assert f'href="{chop.get_absolute_url()}?list={playlist.slug}&amp;t=33"' in html
    assert "▶ Continue course" in html
    assert "Completed on" not in html


def test_the_students_report_lists_a_courses_items_in_the_order_its_page_does(course):
    # One order for a course everywhere (videos.selectors.PLAYLIST_ITEM_ORDER): section by
    # section, not by the items' own positions, which here would put Julienne first.
    playlist, (grip, chop, julienne) = course

    assert playlist_video_ids_get(playlist_id=playlist.pk) == [grip.pk, chop.pk, julienne.pk]
    assert playlist_video_ids_containing(video_ids=[chop.pk]) == {playlist.pk: [grip.pk, chop.pk, julienne.pk]}


def test_the_course_page_reads_one_progress_partition_and_a_bounded_number_of_rows(
    client, member, course, monkeypatch, django_assert_max_num_queries
):
    from analytics import pages

    playlist, _videos = course
    reads: list[int] = []
    real = pages.video_progress_map

    def counting(**kwargs: Any) -> Any:
        reads.append(kwargs["user_id"])
        return real(**kwargs)

    monkeypatch.setattr(pages, "video_progress_map", counting)
    client.force_login(member)
    client.get(playlist.get_absolute_url())  # warm the catalogue snapshot and the session

    # The session and member (2), the playlist, its items, its sections, the enrolment: whatever
    # the number of items.
    with django_assert_max_num_queries(8):
        assert client.get(playlist.get_absolute_url()).status_code == 200
    assert reads == [member.pk, member.pk]


def test_nothing_started_offers_start_course_and_all_done_offers_watch_again_with_the_date(client, member, course):
    playlist, videos = course
    client.force_login(member)
    html = client.get(playlist.get_absolute_url()).content.decode()
    assert "▶ Start course" in html
    assert "<span data-course-percent>0% complete</span>" in html
    assert f'href="{videos[0].get_absolute_url()}?list={playlist.slug}"' in html

    two_days_ago = now_ms() - 2 * 86_400_000
    for video in videos:
        watch(member.pk, video.pk, range(0, 100), t0=two_days_ago)
    html = client.get(playlist.get_absolute_url()).content.decode()

    assert "↺ Watch again" in html
    assert "<span data-course-percent>100% complete</span>" in html
    # The last item's last watched second (the newest last_watched of the items), in the site's zone.
    finished = timezone.localtime(datetime.fromtimestamp((two_days_ago + 99_000) / 1000, tz=UTC))
    assert f"Completed on {finished:%-d %B %Y}" in html


def test_the_catalogue_card_shows_the_members_completion(client, member, course):
    _playlist, (grip, _chop, _julienne) = course
    watch(member.pk, grip.pk, range(0, 100))
    client.force_login(member)

    html = client.get(reverse("videos:catalogue")).content.decode()

    assert '<span class="playlist-chip__percent" data-course-percent>33% complete</span>' in html
    client.logout()
    assert "data-course-percent" not in client.get(reverse("videos:catalogue")).content.decode()


@pytest.fixture
def dripped(db: None) -> Any:
    """Item 1 open at once, item 2 three days after the member starts."""
    playlist = PlaylistFactory(title="Sourdough")
    first = VideoFactory(title="Starter", members_only=False, duration=100)
    later = VideoFactory(title="Bake", members_only=False, duration=100)
    PlaylistItemFactory(playlist=playlist, video=first, position=1)
    PlaylistItemFactory(playlist=playlist, video=later, position=2, drip_days=3)
    return playlist, first, later


def test_a_dripped_item_is_refused_until_it_opens_and_issues_no_viewing_session(client, member, dripped):
    playlist, first, later = dripped
    client.force_login(member)

    # Not started: locked, and opening a locked item does not start the course.
    refused = client.get(later.get_absolute_url())
    assert refused.status_code == 403
    assert "opens 3 days after you start the course" in refused.content.decode()
    assert "watch-tracker-config" not in refused.content.decode()
    assert not CourseEnrolment.objects.filter(user=member).exists()

    # The first opening of an open item starts it, on the server's clock.
    assert client.get(first.get_absolute_url()).status_code == 200
    started = CourseEnrolment.objects.get(user=member, playlist=playlist).started_at
    assert abs((timezone.now() - started).total_seconds()) < 60
    client.get(first.get_absolute_url())  # a second opening moves nothing
    assert CourseEnrolment.objects.get(user=member, playlist=playlist).started_at == started

    refused = client.get(f"{later.get_absolute_url()}?list={playlist.slug}")
    opens = timezone.localtime(started + timedelta(days=3))
    assert refused.status_code == 403
    assert f"opens on {opens:%-d %B %Y} at {opens:%H:%M}" in refused.content.decode()
    page = client.get(playlist.get_absolute_url()).content.decode()
    assert f"🔒 Opens on {opens:%-d %B %Y, %H:%M}" in page
    assert f'href="{later.get_absolute_url()}' not in page  # a locked row is not a link

    # The API: a token minted for it (as if by an earlier page) is not renewed, and progress
    # actions are refused.
    token = viewing_session_start(user_id=member.pk, video_id=later.pk, members_only=False).token
    renewed = client.post(reverse("analytics:watch-renew"), {"token": token}, content_type="application/json")
    assert renewed.status_code == 403
    action = reverse("analytics:member-video-action", args=[later.pk, "watched"])
    assert client.post(action).status_code == 404

    # Three days later it opens.
    CourseEnrolment.objects.filter(user=member).update(started_at=started - timedelta(days=3, minutes=1))
    video_watchable_cache_clear()
    opened = client.get(f"{later.get_absolute_url()}?list={playlist.slug}")
    assert opened.status_code == 200
    assert "watch-tracker-config" in opened.content.decode()
    renewed = client.post(reverse("analytics:watch-renew"), {"token": token}, content_type="application/json")
    assert renewed.status_code == 200


def test_the_watch_page_never_auto_advances_to_an_item_still_dripped_shut(client, member, dripped):
    playlist, first, later = dripped
    client.force_login(member)

    page = client.get(f"{first.get_absolute_url()}?list={playlist.slug}")
    html = page.content.decode()

    assert page.context["next_url"] == ""
    assert 'data-next-url=""' in html
    assert "Next: Bake · 🔒 opens on" in html

    CourseEnrolment.objects.filter(user=member).update(started_at=timezone.now() - timedelta(days=4))
    video_watchable_cache_clear()
    opened = client.get(f"{first.get_absolute_url()}?list={playlist.slug}")
    assert opened.context["next_url"] == f"{later.get_absolute_url()}?list={playlist.slug}"


def test_staff_are_never_locked_out_and_an_undripped_playlist_opens_the_video(client, member, dripped):
    from tests.factories import MemberFactory

    _playlist, _first, later = dripped
    client.force_login(MemberFactory(is_staff=True))
    assert client.get(later.get_absolute_url()).status_code == 200

    client.force_login(member)
    assert client.get(later.get_absolute_url()).status_code == 403
    PlaylistItemFactory(playlist=PlaylistFactory(), video=later, position=1)  # staff's choice: open here
    assert client.get(later.get_absolute_url()).status_code == 200


def test_a_playlist_without_sections_is_listed_as_before(client, member):
    playlist = PlaylistFactory()
    first, second = VideoFactory(members_only=False, duration=100), VideoFactory(members_only=False, duration=100)
    PlaylistItemFactory(playlist=playlist, video=second, position=2)
    PlaylistItemFactory(playlist=playlist, video=first, position=1)
    client.force_login(member)

    html = client.get(playlist.get_absolute_url()).content.decode()

    assert "Playlist · 2 videos" in html
    assert "course-section" not in html
    assert "▶ Play from the start" in html
    assert "Start course" not in html
    assert html.index(first.title) < html.index(second.title)


def test_course_starts_are_in_the_members_export_and_go_with_their_data(client, member, dripped):
    from accounts.services import member_data_export

    playlist, first, _later = dripped
    client.force_login(member)
    client.get(first.get_absolute_url())

    exported = member_data_export(user=member)["sections"]["courses"]
    assert [row["course"] for row in exported] == [playlist.title]

    from accounts.services import member_account_delete

    member_account_delete(user=member)
    assert not CourseEnrolment.objects.exists()


def card(html: str, title: str) -> str:
    """The catalogue card titled `title` (in the grid of videos, not in "Continue watching")."""
    grid = html.split('id="videos-heading"', 1)[1]
    cards = [c for c in grid.split('<li class="video-card">')[1:] if f'video-card__title">{title}<' in c]
    assert len(cards) == 1, f"{len(cards)} cards titled {title}"
    return cards[0].split("</li>", 1)[0]


def continue_watching_row(html: str) -> str:
    return html.split('id="continue-watching"', 1)[1].split("</section>", 1)[0]


def test_a_catalogue_card_of_a_dripped_item_shows_its_lock_not_its_progress_until_it_opens(
    client, member, dripped, monkeypatch
):
    from config import fragments
    from tests.factories import MemberFactory

    playlist, first, later = dripped
    watch(member.pk, later.pk, range(0, 50))  # progress from before staff dripped it
    client.force_login(member)

    # Not started: it opens 3 days after they start the course, named; no progress bar.
    html = client.get(reverse("videos:catalogue")).content.decode()
    assert "🔒 Opens 3 days after you start Sourdough" in card(html, "Bake")
    assert "<progress" not in card(html, "Bake")
    assert "data-card-lock" not in card(html, "Starter")
    # Nor does "Continue watching" offer it: its page would only refuse them.
    assert "Bake" not in continue_watching_row(html)
    # Search results are cards too.
    found = client.get(reverse("videos:catalogue"), {"q": "bake"}).content.decode()
    assert "🔒 Opens 3 days after you start Sourdough" in card(found, "Bake")

    # Started: the opening date, in the site's time zone.
    client.get(first.get_absolute_url())
    started = CourseEnrolment.objects.get(user=member, playlist=playlist).started_at
    opens = timezone.localtime(started + timedelta(days=3))
    shown = f"{opens:%-d %b}" if opens.year == timezone.localdate().year else f"{opens:%-d %b %Y}"
    html = client.get(reverse("videos:catalogue")).content.decode()
    assert f'🔒 Opens <time datetime="{opens.isoformat()}">{shown}</time>' in card(html, "Bake")
    assert "<progress" not in card(html, "Bake")

    # Every member shares each card's fragment (only the slot is theirs): staff, never locked,
    # see the same card with their own (empty) slot, and nothing is rendered again.
    rendered: list[str] = []
    real = fragments.fragment_render

    def counting(**kwargs: Any) -> Any:
        rendered.append(kwargs["template_name"])
        return real(**kwargs)

    monkeypatch.setattr(fragments, "fragment_render", counting)
    staff = Client()
    staff.force_login(MemberFactory.create(is_staff=True))
    staff_card = card(staff.get(reverse("videos:catalogue")).content.decode(), "Bake")
    assert "data-card-lock" not in staff_card
    assert "videos/_video_card.html" not in rendered
    lock = re.search(r'<span class="video-card__lock".*?</span>', card(html, "Bake"))
    assert lock is not None
    assert staff_card == card(html, "Bake").replace(lock.group(0), "")

    # Three days later it is open: the lock goes, the member's progress shows.
    CourseEnrolment.objects.filter(user=member).update(started_at=started - timedelta(days=3, minutes=1))
    html = client.get(reverse("videos:catalogue")).content.decode()
    assert "data-card-lock" not in card(html, "Bake")
    assert 'aria-label="Watched 49%"' in card(html, "Bake")  # stopped at 0:49
    assert "Bake" in continue_watching_row(html)


def test_the_cards_drip_locks_cost_one_enrolment_query_a_page_and_none_when_nothing_is_dripped(client, member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def page_queries() -> tuple[int, list[str]]:
        """All the page's queries, and its enrolment ones."""
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("videos:catalogue")).status_code == 200
        return len(queries), [q["sql"] for q in queries if "videos_courseenrolment" in q["sql"]]

    open_course = PlaylistFactory(title="Open course")
    for position in range(3):
        PlaylistItemFactory(playlist=open_course, video=VideoFactory(members_only=False), position=position)
    client.force_login(member)
    client.get(reverse("videos:catalogue"))  # warm the catalogue snapshot
    undripped, enrolments = page_queries()
    assert enrolments == []

    # Ten dripped items in three courses, two of them started: one query for the page.
    for n in range(3):
        course = PlaylistFactory.create(title=f"Course {n}")
        PlaylistItemFactory(playlist=course, video=VideoFactory(members_only=False), position=0)
        for position in range(1, 4 if n else 5):
            video = VideoFactory(members_only=False)
            PlaylistItemFactory(playlist=course, video=video, position=position, drip_days=position)
        if n:
            CourseEnrolment.objects.create(user=member, playlist=course)
    # One of them half watched: "Continue watching" asks about its lock too, in the same query.
    watch(member.pk, video.pk, range(0, 30))
    client.get(reverse("videos:catalogue"))
    dripped, enrolments = page_queries()
    assert len(enrolments) == 1
    assert dripped == undripped + 1
    assert client.get(reverse("videos:catalogue")).content.decode().count("data-card-lock") == 10
