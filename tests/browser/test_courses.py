"""A member finishes a course with sections in a real chromium, through the real tracker, endpoint,
worker and Cassandra: the course page shows partial progress, "Continue course" opens the first
unfinished item at its resume point, and once it is watched the page shows 100 % and "Completed
on" today (the last item's day), as does the catalogue card."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.templatetags.static import static
from django.utils import timezone

from analytics.acceptance import WatchBatch
from analytics.drain import watch_batches_store
from tests.analytics.helpers import now_ms
from tests.browser.test_tracking import new_page, video_time
from tests.browser.test_videos import sample_video, wait_for_player
from tests.conftest import CASSANDRA_DBS, WorkerProcess, broker, screenshot, wait_until
from tests.factories import PlaylistFactory, PlaylistItemFactory
from videos.models import Section

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True),
]


@pytest.fixture
def worker_counting_at_once(django_db_setup: None, django_db_blocker: Any) -> Iterator[WorkerProcess]:
    """A real worker that recounts coverage at once (the default waits for 15 quiet seconds)."""
    broker().flushdb()
    worker = WorkerProcess(env={"WATCH_COUNT_REFRESH_SECONDS": "0"}).start()
    try:
        yield worker
    finally:
        worker.stop()


def watched(user_id: int, video_id: int, seconds: range, *, t0: int) -> None:
    events = tuple((s, t0 + i * 1000, 1.0) for i, s in enumerate(seconds))
    watch_batches_store(batches=[WatchBatch(user_id, video_id, uuid.uuid4(), events)])


def test_a_member_finishes_a_course_with_sections(browser, live_server, member, worker_counting_at_once):
    course = PlaylistFactory.create(title="Test patterns course", slug="patterns")
    basics = Section.objects.create(playlist=course, title="Basics", position=1)
    practice = Section.objects.create(playlist=course, title="Practice", position=2)
    intro = sample_video(title="Introduction", slug="intro", duration=6)
    main = sample_video(title="The long pattern", slug="long", external_id=static("video/sample-30s.mp4"), duration=30)
    outro = sample_video(title="Wrap-up", slug="wrap-up", external_id=static("video/sample.webm"), duration=6)
    PlaylistItemFactory(playlist=course, video=intro, section=basics, position=1)
    PlaylistItemFactory(playlist=course, video=main, section=basics, position=2)
    PlaylistItemFactory(playlist=course, video=outro, section=practice, position=3)
    # Yesterday the member watched the introduction and the wrap-up, and the first 10 s of the
    # long one (stored as the worker would have).
    yesterday = now_ms() - 86_400_000
    watched(member.pk, intro.pk, range(0, 6), t0=yesterday)
    watched(member.pk, outro.pk, range(0, 6), t0=yesterday)
    watched(member.pk, main.pk, range(0, 10), t0=yesterday + 60_000)

    page = new_page(browser, live_server, member)
    page.goto(course.get_absolute_url())
    items = page.locator(".playlist-item")
    assert page.locator("h2.course-section").all_inner_texts() == ["Basics", "Practice"]
    assert items.nth(0).locator("[data-item-completed]").inner_text() == "✓ Completed"
    assert items.nth(1).locator("[data-item-percent]").inner_text() == "30%"  # stopped at 0:09 of 0:30
    assert page.locator("[data-course-percent]").inner_text() == "66% complete"
    assert page.locator("[data-course-completed]").count() == 0
    screenshot(page, "courses-1-in-progress")

    page.get_by_role("link", name="Continue course").click()
    wait_for_player(page)
    assert "/watch/long/" in page.url
    assert "t=9" in page.url
    assert 8.5 <= video_time(page) <= 10  # at its resume point
    page.evaluate("const v = document.querySelector('video'); v.muted = true; v.play()")
    wait_until(lambda: page.wait_for_timeout(200) or video_time(page) >= 29.5, timeout=40, interval=0.2)
    screenshot(page, "courses-2-watched-to-the-end")

    # The batches reach Cassandra through the worker; the page shows the course completed.
    def completed() -> bool:
        page.goto(course.get_absolute_url())
        return page.locator("[data-course-completed]").count() == 1

    wait_until(completed, timeout=30, interval=0.5)
    assert page.locator("[data-course-percent]").inner_text() == "100% complete"
    today = timezone.localdate()
    assert page.locator("[data-course-completed]").inner_text() == f"Completed on {today:%-d %B %Y}"
    assert page.get_by_role("link", name="Watch again").count() == 1
    screenshot(page, "courses-3-completed")

    page.goto("/")
    chip = page.locator(".playlist-chip", has_text="Test patterns course")
    assert chip.locator("[data-course-percent]").inner_text() == "100% complete"
    screenshot(page, "courses-4-catalogue")


def test_a_catalogue_card_of_a_dripped_item_shows_when_it_opens(browser, live_server, member):
    from datetime import timedelta

    from tests.factories import VideoFactory
    from videos.models import CourseEnrolment

    course = PlaylistFactory.create(title="Sourdough")
    PlaylistItemFactory(playlist=course, video=VideoFactory(title="Starter", members_only=False), position=1)
    PlaylistItemFactory(playlist=course, video=VideoFactory(title="Bake", members_only=False), position=2, drip_days=3)
    page = new_page(browser, live_server, member)
    page.goto("/")
    bake = page.locator(".video-card", has_text="Bake").first
    lock = bake.locator("[data-card-lock]")
    assert lock.inner_text() == "🔒 Opens 3 days after you start Sourdough"
    # On the thumbnail, inside the card.
    thumb, box = bake.locator(".video-card__thumb").bounding_box(), lock.bounding_box()
    assert thumb is not None
    assert box is not None
    assert thumb["x"] <= box["x"]
    assert box["x"] + box["width"] <= thumb["x"] + thumb["width"]
    screenshot(page, "courses-5-catalogue-dripped-not-started")

    started = CourseEnrolment.objects.create(user=member, playlist=course).started_at
    page.goto("/")
    opens = timezone.localtime(started + timedelta(days=3))
    shown = f"{opens:%-d %b}" if opens.year == timezone.localdate().year else f"{opens:%-d %b %Y}"
    assert lock.inner_text() == f"🔒 Opens {shown}"
    screenshot(page, "courses-6-catalogue-dripped-started")
