"""The students report in a real chromium: a staff member finds a stuck student (in progress,
inactive for over 14 days) from the analytics dashboard, then opens their admin page."""

from __future__ import annotations

import time
import uuid

import pytest
from django.urls import reverse

from analytics.acceptance import WatchBatch
from analytics.drain import watch_batches_store
from analytics.services import member_video_mark_watched
from config.celery_app import app as celery_app
from tests.browser.test_analytics import log_in
from tests.conftest import CASSANDRA_DBS, screenshot
from tests.factories import MemberFactory, PlaylistFactory, PlaylistItemFactory, VideoFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)]

DAY_MS = 86_400_000


def watch(user_id: int, video_id: int, seconds: int, *, days_ago: float) -> None:
    t0 = int(time.time() * 1000 - days_ago * DAY_MS)
    events = tuple((p, t0 + p * 1000, 1.0) for p in range(seconds))
    watch_batches_store(batches=[WatchBatch(user_id, video_id, uuid.uuid4(), events)])


@pytest.fixture
def cohort(settings):
    """A three-lesson course: one student finished, one is active, one stopped 20 days ago."""
    settings.WATCH_COUNT_REFRESH_SECONDS = 0
    celery_app.conf.task_always_eager = True  # the report's task in this process (no worker here)
    course = PlaylistFactory(title="Bread baking, from starter to loaf")
    lessons = [
        VideoFactory(title=f"Lesson {i}: {t}", duration=60) for i, t in enumerate(("Starter", "Dough", "Bake"), 1)
    ]
    for i, lesson in enumerate(lessons):
        PlaylistItemFactory(playlist=course, video=lesson, position=i)
    finished = MemberFactory(email="finished.student@example.com")
    active = MemberFactory(email="active.student@example.com")
    stuck = MemberFactory(email="stuck.student@example.com")
    for lesson in lessons:
        member_video_mark_watched(user_id=finished.pk, video_id=lesson.pk)
    watch(active.pk, lessons[0].pk, 58, days_ago=1)
    watch(stuck.pk, lessons[0].pk, 58, days_ago=21)
    watch(stuck.pk, lessons[1].pk, 20, days_ago=20.5)
    yield course, stuck
    celery_app.conf.task_always_eager = False


def test_staff_find_a_stuck_student_from_the_course_report(page, live_server, cohort):
    course, stuck = cohort
    log_in(page, live_server, MemberFactory(is_staff=True, is_superuser=True))

    page.goto(reverse("analytics_admin:dashboard"))
    page.get_by_role("link", name="Students").first.click()
    page.wait_for_url(f"**{reverse('analytics_admin:students', args=[course.pk])}")
    table = page.locator("table.wp-students-table tbody tr")
    assert table.count() == 3
    screenshot(page, "students-report")

    page.get_by_role("link", name="Inactive 14 days").click()
    page.wait_for_url("**status=inactive**")
    assert table.count() == 1
    row = table.first
    assert "stuck.student@example.com" in row.inner_text()
    assert "33 %" in row.inner_text()  # 1 of 3 lessons completed
    assert row.locator(".wp-badge").inner_text() == "inactive 20 days"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    screenshot(page, "students-report-inactive")

    row.get_by_role("link", name="stuck.student@example.com").click()
    page.wait_for_url(f"**{reverse('admin:accounts_user_change', args=[stuck.pk])}")
    progress = page.locator("#watch-progress")
    assert "Bread baking, from starter to loaf" in progress.inner_text()
    assert "1 of 3" in progress.inner_text()
    progress.scroll_into_view_if_needed()
    screenshot(page, "students-member-admin")
