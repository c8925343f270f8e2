"""Watch tracking in a real browser: the tracker, the real endpoint, a real worker, real Cassandra.

A member watches 15 s of a self-hosted MP4 and closes the tab; reopening offers to resume there,
the home page's Continue watching row shows the video with its bar, and a second browser signed in
as the same member (another device) resumes at the same place. Batches refused while the server is
down are kept and resent; on a shared browser they never reach the next member (finding 10).
"""

from __future__ import annotations

import json
import re

import pytest
from django.templatetags.static import static
from django.urls import reverse

from analytics.selectors import resume_position_get
from tests.browser.test_videos import log_in, prepare, sample_video, wait_for_player, wait_js
from tests.conftest import CASSANDRA_DBS, screenshot, wait_until
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True),
]


# The signed-in member's outbox on a watch page (static/js/outbox.js names it).
OUTBOX_JS = """JSON.parse(localStorage.getItem('watchpoint:pending-batches:'
  + JSON.parse(document.getElementById('watch-tracker-config').textContent).outboxKey) || '[]')"""


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
    stored = page.evaluate(f"{OUTBOX_JS}.length")
    assert stored >= 1, "a refused batch must be kept in localStorage"
    assert resume_position_get(user_id=member.pk, video_id=video.pk) is None

    down["value"] = False  # the server is back: the tracker's backoff retry resends the kept batch
    wait_until(
        lambda: page.wait_for_timeout(100) or (resume_position_get(user_id=member.pk, video_id=video.pk) or 0) >= 5,
        timeout=60,
    )
    wait_js(page, f"{OUTBOX_JS}.length === 0")


# Every outbox entry this browser holds, whatever its key (the old tracker used one shared key).
STORED_BATCHES_JS = """Object.keys(localStorage)
  .filter((k) => k.startsWith('watchpoint:pending-batches'))
  .flatMap((k) => JSON.parse(localStorage.getItem(k) || '[]'))"""
TRACKER_CONFIG_JS = "JSON.parse(document.getElementById('watch-tracker-config').textContent)"
WATCH_ENDPOINTS = re.compile(r"/api/watch/(beacon/)?$")


def test_a_members_unsent_batches_never_reach_the_next_member_on_a_shared_browser(
    browser, live_server, member, celery_worker_process
):
    video = sample_video(title="Shared laptop", slug="shared", external_id=static("video/sample-30s.mp4"), duration=30)
    member_b = MemberFactory()
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    phase = {"who": "a"}
    bodies: list[tuple[str, str, dict]] = []  # (whose session was signed in, url, JSON body)

    def on_request(request):
        # A request event covers fetch and sendBeacon alike; the body is what left the browser.
        if WATCH_ENDPOINTS.search(request.url) and request.post_data:
            bodies.append((phase["who"], request.url, json.loads(request.post_data)))

    def watch_endpoint(route):
        if phase["who"] == "a":  # the backlog is full while A watches: everything A sends is refused
            route.fulfill(
                status=503,
                headers={"Retry-After": "3600"},
                content_type="application/json",
                body='{"error": "tracking is briefly unavailable; keep the batch and retry"}',
            )
        else:
            route.continue_()

    context.on("request", on_request)
    context.route(WATCH_ENDPOINTS, watch_endpoint)
    page = context.new_page()
    prepare(page)
    log_in(page, live_server, member)

    # A watches while the server refuses: the batches wait in this browser's localStorage.
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    config_a = page.evaluate(TRACKER_CONFIG_JS)
    page.evaluate("const v = document.querySelector('video'); v.muted = true; v.play()")
    wait_until(lambda: video_time(page) >= 4, timeout=30, interval=0.2)
    page.evaluate("document.querySelector('video').pause()")  # pause flushes: refused with 503
    wait_until(lambda: page.wait_for_timeout(100) or bodies, timeout=10)  # pump Playwright's events
    stored_a = page.evaluate(STORED_BATCHES_JS)
    assert stored_a
    assert all(b["session_id"] == config_a["sessionId"] for b in stored_a)
    # Retry-After: 3600 was honoured: the next try is an hour away, not a backoff second.
    retry_in_ms = page.evaluate("(window.watchpointTracker.nextRetryAt?.() ?? 0) - Date.now()")
    screenshot(page, "tracking-5-member-a-offline")

    # A plays on and logs out mid-play through the site's own button, with seconds not yet flushed
    # (the page's pagehide beacon must not store them again); an old tracker's unkeyed outbox is
    # also left behind.
    page.evaluate("document.querySelector('video').play()")
    wait_js(page, "window.watchpointTracker.pendingCount() > 0")
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Log in").first.wait_for()
    phase["who"] = "b"
    legacy = [{**stored_a[0], "id": "legacy-batch"}]
    page.evaluate("(b) => localStorage.setItem('watchpoint:pending-batches', JSON.stringify(b))", legacy)
    screenshot(page, "tracking-6-member-a-logged-out")

    # B logs in on the same browser and watches a little.
    page.goto(reverse("account_login"))
    page.get_by_label("Email address").fill(member_b.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()
    page.locator(".site-account__me").wait_for()
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    config_b = page.evaluate(TRACKER_CONFIG_JS)
    page.evaluate("const v = document.querySelector('video'); v.muted = true; v.play()")
    wait_until(lambda: video_time(page) >= 3, timeout=30, interval=0.2)
    page.evaluate("document.querySelector('video').pause()")
    wait_until(
        lambda: page.wait_for_timeout(100) or (resume_position_get(user_id=member_b.pk, video_id=video.pk) or 0) >= 2,
        timeout=60,
    )
    screenshot(page, "tracking-7-member-b-watching")

    sent_under_b = [body for who, _, body in bodies if who == "b"]
    assert any(body["session_id"] == config_b["sessionId"] for body in sent_under_b)
    assert not [body for body in sent_under_b if body["session_id"] == config_a["sessionId"]], (
        "member A's batches were sent under member B's session"
    )
    assert page.evaluate(STORED_BATCHES_JS) == []  # A's batches (and the unkeyed ones) are gone
    assert resume_position_get(user_id=member.pk, video_id=video.pk) is None
    # Each batch sent by fetch carries the signed token of the page that made it (the beacon path
    # already did: the server refuses a beacon without it, see the first test).
    tokens = {config_a["sessionId"]: config_a["token"], config_b["sessionId"]: config_b["token"]}
    assert bodies
    assert all(body.get("token") == tokens[body["session_id"]] for _, _, body in bodies)
    assert retry_in_ms > 3_500_000
    # The outbox key names the member without giving away the user id.
    assert config_a["outboxKey"] != config_b["outboxKey"]
    assert str(member.pk) not in config_a["outboxKey"]


def test_the_open_page_renews_its_short_lived_token_and_keeps_recording(
    browser, live_server, member, celery_worker_process, settings
):
    # Tokens that live 4 s (renewed every ~1.3 s while visible) and a 2 s late window: without the
    # renewal, the batch flushed after 10 s of playback would be refused.
    settings.WATCH_TOKEN_TTL_SECONDS = 4
    settings.WATCH_LATE_WINDOW_SECONDS = 2
    video = sample_video(title="Renewed", slug="renewed", external_id=static("video/sample-30s.mp4"), duration=30)
    page = new_page(browser, live_server, member)
    renewals: list[int] = []
    batches: list[int] = []
    page.on(
        "response",
        lambda r: (renewals if "/api/watch/renew/" in r.url else batches if "/api/watch/" in r.url else []).append(
            r.status
        ),
    )
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    session = page.evaluate("JSON.parse(document.getElementById('watch-tracker-config').textContent).sessionId")

    page.evaluate("const v = document.querySelector('video'); v.muted = true; v.play()")
    wait_until(lambda: video_time(page) >= 14.5, timeout=40, interval=0.2)
    page.evaluate("document.querySelector('video').pause()")
    wait_until(lambda: (resume_position_get(user_id=member.pk, video_id=video.pk) or 0) >= 13, timeout=30)

    assert len(renewals) >= 3, renewals
    assert set(renewals) == {200}, renewals
    assert batches, batches
    assert set(batches) == {202}, batches
    assert page.evaluate("window.watchpointTracker.sessionId()") == session
    assert page.evaluate(OUTBOX_JS) == []
    screenshot(page, "tracking-renewed-token")
