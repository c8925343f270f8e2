"""Watch tracking in a real browser: the tracker, the real endpoint, a real worker, real Cassandra.

A member watches 15 s of a self-hosted MP4 and closes the tab; reopening offers to resume there,
the home page's Continue watching row shows the video with its bar, and a second browser signed in
as the same member (another device) resumes at the same place.
"""

from __future__ import annotations

import pytest
from django.templatetags.static import static

from analytics.selectors import resume_position_get
from tests.browser.test_videos import log_in, prepare, sample_video, wait_for_player, wait_js
from tests.conftest import CASSANDRA_DBS, screenshot, wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True),
]


def new_page(browser, live_server, member):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    prepare(page)
    log_in(page, live_server, member)
    return page


def video_time(page) -> float:
    return page.evaluate("document.querySelector('video').currentTime")


def test_watch_15_seconds_close_the_tab_and_resume_there_on_any_device(
    browser, live_server, member, celery_worker_process
):
    video = sample_video(title="Thirty seconds", slug="thirty", external_id=static("video/sample-30s.mp4"), duration=30)
    page = new_page(browser, live_server, member)
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    assert page.locator("[data-resume-prompt]").is_hidden()  # nothing saved yet

    page.evaluate("const v = document.querySelector('video'); v.muted = true; v.play()")
    wait_until(lambda: video_time(page) >= 15.2, timeout=40, interval=0.2)
    screenshot(page, "tracking-1-watching")
    page.close(run_before_unload=True)  # pagehide: the last seconds go by sendBeacon

    wait_until(lambda: (resume_position_get(user_id=member.pk, video_id=video.pk) or 0) >= 14, timeout=30)
    position = resume_position_get(user_id=member.pk, video_id=video.pk)
    assert position is not None
    assert 14 <= position <= 16

    page = page.context.new_page()
    prepare(page)
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    prompt = page.locator("[data-resume-prompt]")
    prompt.wait_for(state="visible")
    assert prompt.locator("[data-resume-label]").inner_text() == f"Resume at 0:{position:02d}"
    screenshot(page, "tracking-2-resume-prompt")
    prompt.locator("[data-resume]").click()
    wait_until(lambda: video_time(page) >= position, timeout=10, interval=0.1)
    page.evaluate("document.querySelector('video').pause()")

    page.goto("/")
    row = page.locator("#continue-watching")
    row.wait_for(state="visible")
    card = row.locator(".video-card", has_text="Thirty seconds")
    assert card.count() == 1
    percent = int(card.locator("progress").get_attribute("value"))
    assert 45 <= percent <= 55
    screenshot(page, "tracking-3-continue-watching")

    other_device = new_page(browser, live_server, member)  # a second browser, same member
    other_device.goto(video.get_absolute_url())
    wait_for_player(other_device)
    other_device.locator("[data-resume-prompt]").wait_for(state="visible")
    other_device.locator("[data-resume]").click()
    wait_until(lambda: video_time(other_device) >= position, timeout=10, interval=0.1)
    screenshot(other_device, "tracking-4-other-device")
    assert wait_js(other_device, "window.watchpointTracker !== undefined")


def test_batches_refused_while_the_server_is_down_are_kept_and_resent(
    browser, live_server, member, celery_worker_process
):
    video = sample_video(title="Flaky network", slug="flaky", external_id=static("video/sample-30s.mp4"), duration=30)
    page = new_page(browser, live_server, member)
    down = {"value": True, "refused": 0}

    def watch_endpoint(route):
        if down["value"]:
            down["refused"] += 1
            route.fulfill(status=503, content_type="application/json", body='{"error": "briefly unavailable"}')
        else:
            route.continue_()

    page.route("**/api/watch/", watch_endpoint)
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    page.evaluate("const v = document.querySelector('video'); v.muted = true; v.play()")
    wait_until(lambda: video_time(page) >= 6, timeout=30, interval=0.2)
    page.evaluate("document.querySelector('video').pause()")  # pause flushes: refused with 503

    # Route handlers run only while Playwright is called: pump it while waiting.
    wait_until(lambda: page.wait_for_timeout(100) or down["refused"] >= 1, timeout=10)
    stored = page.evaluate("JSON.parse(localStorage.getItem('watchpoint:pending-batches') || '[]').length")
    assert stored >= 1, "a refused batch must be kept in localStorage"
    assert resume_position_get(user_id=member.pk, video_id=video.pk) is None

    down["value"] = False  # the server is back: the tracker's backoff retry resends the kept batch
    wait_until(
        lambda: page.wait_for_timeout(100) or (resume_position_get(user_id=member.pk, video_id=video.pk) or 0) >= 5,
        timeout=60,
    )
    wait_js(page, "JSON.parse(localStorage.getItem('watchpoint:pending-batches') || '[]').length === 0")
