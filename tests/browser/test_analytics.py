"""Staff analytics in a real chromium: the per-video page renders both charts for demo traffic."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse

from analytics.drain import watch_batches_store
from analytics.rollups import rollups_refresh
from analytics.synthetic import SyntheticVideo, traffic_batches
from tests.conftest import CASSANDRA_DBS, screenshot
from tests.factories import MemberFactory, VideoFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)]


def log_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


@pytest.fixture
def demo_traffic():
    """Two weeks of synthetic members watching three videos, stored and rolled up."""
    videos = [
        VideoFactory(title="Knife skills: the claw grip", duration=420),
        VideoFactory(title="Stocks and broths", duration=900),
        VideoFactory(title="Sourdough, start to finish", duration=1500),
    ]
    batches = list(
        traffic_batches(
            seed=7,
            user_ids=list(range(7_000_001, 7_000_041)),
            videos=[SyntheticVideo(v.pk, v.duration) for v in videos],
            sessions=300,
            now_ms=int(time.time() * 1000),
            spread_days=14,
        )
    )
    watch_batches_store(batches=batches)
    rollups_refresh()
    return videos


def test_the_per_video_analytics_page_renders_both_charts_for_demo_traffic(page, live_server, demo_traffic):
    video = demo_traffic[0]
    log_in(page, live_server, MemberFactory(is_staff=True, is_superuser=True))

    page.goto(reverse("admin:videos_video_change", args=[video.pk]))
    page.get_by_role("link", name="Analytics", exact=True).click()
    page.wait_for_url(f"**{reverse('analytics_admin:video', args=[video.pk])}")

    daily = page.locator("svg.wp-chart.daily")
    retention = page.locator("svg.wp-chart.retention")
    assert daily.is_visible()
    assert retention.is_visible()
    assert daily.locator("rect[fill]").count() >= 14  # a bar per day of the 30-day range with views
    assert retention.locator("polyline").count() == 1
    assert page.locator("svg.wp-chart.retention-alltime polyline").count() == 1
    assert page.get_by_text("Figures as of").is_visible()
    assert daily.bounding_box()["width"] > 600
    screenshot(page, "analytics-video-30-days")

    page.get_by_label("Last 7 days").check()
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**range=7**")
    assert page.locator("svg.wp-chart.daily rect title").count() == 7
    screenshot(page, "analytics-video-7-days")

    page.goto(reverse("analytics_admin:dashboard"))
    assert page.locator("svg.wp-sparkline").count() >= 3
    screenshot(page, "analytics-dashboard")

    # The playlist funnel: members who started any of its videos in the range, per video.
    from tests.factories import PlaylistFactory, PlaylistItemFactory

    playlist = PlaylistFactory(title="Kitchen basics")
    for position, item in enumerate(demo_traffic):
        PlaylistItemFactory(playlist=playlist, video=item, position=position)
    page.goto(reverse("analytics_admin:playlist", args=[playlist.pk]) + "?range=7")
    assert page.get_by_role("heading", name="Last 7 days").is_visible()
    assert page.locator(".wp-funnel tbody tr").count() == 3
    screenshot(page, "analytics-playlist-funnel-7-days")


def test_staff_follow_the_admin_index_card_to_a_video_page_readable_at_1280_px(page, live_server, demo_traffic):
    log_in(page, live_server, MemberFactory(is_staff=True, is_superuser=True))
    assert page.viewport_size["width"] == 1280

    page.goto(reverse("admin:index"))
    card = page.locator("#analytics-glance")
    assert card.is_visible()
    assert card.get_by_text("Watch time").is_visible()
    screenshot(page, "analytics-admin-index-1280")
    card.get_by_role("link", name="Open the analytics dashboard").click()
    page.wait_for_url(f"**{reverse('analytics_admin:dashboard')}")
    assert page.get_by_role("heading", name="What the figures mean").is_visible()

    page.locator(".wp-top").first.get_by_role("link").first.click()
    page.wait_for_url("**/admin/analytics/videos/**")
    definitions = page.locator(".wp-definitions")
    definitions.scroll_into_view_if_needed()
    assert definitions.get_by_text("distinct seconds of the video").first.is_visible()
    # The big numbers are the range's; all time stands beside each, labelled.
    assert page.get_by_role("heading", name="Last 30 days").is_visible()
    assert page.locator(".wp-card span", has_text="All time:").count() == 8
    # Nothing wider than the window: no column or chart cut off at 1280 px.
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    screenshot(page, "analytics-video-1280")


def test_the_dashboards_figures_follow_its_range_picker_at_1280_px(page, live_server, demo_traffic):
    log_in(page, live_server, MemberFactory(is_staff=True, is_superuser=True))
    assert page.viewport_size["width"] == 1280
    page.goto(reverse("analytics_admin:dashboard"))

    def figure(label: str) -> tuple[str, str]:
        card = page.locator(".wp-card", has=page.locator("dt", has_text=label))
        return card.locator("strong").inner_text(), card.locator("span", has_text="All time:").inner_text()

    # The video page's picker and presentation: the range's figures, all time beside each.
    assert page.get_by_role("heading", name="Last 30 days").is_visible()
    assert page.locator(".wp-card span", has_text="All time:").count() == 3
    month_views, alltime = figure("Views")
    assert 0 < int(month_views.replace(",", "")) <= int(alltime.removeprefix("All time: ").replace(",", ""))
    screenshot(page, "analytics-dashboard-30-days-1280")

    page.get_by_label("Last 7 days").check()
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**range=7**")
    assert page.get_by_role("heading", name="Last 7 days").is_visible()
    week_views, week_alltime = figure("Views")
    assert 0 < int(week_views.replace(",", "")) < int(month_views.replace(",", ""))
    assert week_alltime == alltime
    assert page.locator("svg.wp-chart.daily rect title").count() == 7
    definitions = page.locator(".wp-definitions")
    assert definitions.get_by_text("Videos with at least one view").is_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    screenshot(page, "analytics-dashboard-7-days-1280")


def test_the_video_list_shows_its_analytics_column_at_1280_px(page, live_server):
    VideoFactory(title="Knife skills: the claw grip", duration=420)
    log_in(page, live_server, MemberFactory(is_staff=True, is_superuser=True))

    VideoFactory(
        title="An external file whose facts could not be read",
        provider="file",
        external_id="https://files.example.com/v/clip.mp4",
        facts_error="files.example.com points at a private or reserved network address; it is not fetched.",
    )
    page.goto(reverse("admin:videos_video_changelist"))
    screenshot(page, "videos-changelist-1280")
    # The list scrolls inside its own box: a column past that box's right edge is off-screen.
    results = page.locator("#changelist .results").bounding_box()
    assert results is not None
    for column in ("analytics_link", "facts_state", "recent_problems"):
        box = page.locator(f"th.column-{column}").bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= min(1280, results["x"] + results["width"]), f"{column} is cut off"
    assert page.evaluate("(e => e.scrollWidth - e.clientWidth)(document.querySelector('#changelist .results'))") <= 0
    assert page.get_by_text("Could not read:").is_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
