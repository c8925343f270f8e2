"""Every member-facing page in a real chromium: axe-core finds no serious or critical accessibility
violation at desktop and phone sizes, and each page is screenshotted at both (var/screenshots/).

axe-core is vendored for the tests only (tests/browser/vendor/axe-core, MPL-2.0). It is injected
as a script tag, which the site's CSP rightly refuses, so these contexts bypass CSP; the CSP itself
is covered by tests/videos/test_csp.py and the other browser tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.templatetags.static import static
from django.urls import reverse

from tests.browser.test_videos import log_in, prepare, sample_video, wait_for_player
from tests.conftest import CASSANDRA_DBS, screenshot
from tests.factories import MemberFactory, PlaylistFactory, PlaylistItemFactory, VideoFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
BLOCKING = {"serious", "critical"}

AXE_RUN = """async () => {
  const results = await axe.run(document, { resultTypes: ["violations"] });
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "")),
  }));
}"""


@pytest.fixture
def audit_page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    prepare(page)
    yield page
    context.close()


def blocking_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    return [v for v in page.evaluate(AXE_RUN) if v["impact"] in BLOCKING]


def audit(page: Any, pages: list[tuple[str, str]]) -> list[str]:
    """Visit each page at both sizes; return a readable line per blocking violation."""
    problems = []
    for name, url in pages:
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.goto(url)
            page.wait_for_load_state("load")
            for violation in blocking_violations(page):
                problems.append(f"{name} ({size}): {violation['impact']} {violation['id']}: {violation['help']}")
                problems.extend(f"    {node}" for node in violation["nodes"])
            screenshot(page, f"pages-{name}-{size}")
    return problems


def catalogue() -> dict[str, Any]:
    watch = sample_video(title="Test pattern", slug="test-pattern", duration=6, description="Colour bars and a tone.")
    VideoFactory(title="Knife skills", provider="youtube", external_id="aqz-KE-bpKQ", duration=635, members_only=False)
    VideoFactory(title="The Vimeo player", provider="vimeo", external_id="76979871", duration=62, members_only=False)
    VideoFactory(title="Wistia demo", provider="wistia", external_id="e4a27b971d", duration=None, members_only=False)
    # Self-hosted, so the member sees a real player (provider scripts cannot load here).
    members_only = sample_video(
        title="Members masterclass", slug="masterclass", external_id=static("video/sample.webm"), members_only=True
    )
    playlist = PlaylistFactory(title="Getting started", slug="getting-started")
    PlaylistItemFactory(playlist=playlist, video=watch)
    PlaylistItemFactory(playlist=playlist, video=members_only)
    return {"watch": watch, "members_only": members_only, "playlist": playlist}


def test_visitor_pages_have_no_serious_accessibility_violations(audit_page):
    videos = catalogue()

    problems = audit(
        audit_page,
        [
            ("home", "/"),
            ("search", "/?q=pattern"),
            ("watch", videos["watch"].get_absolute_url()),
            ("playlist", videos["playlist"].get_absolute_url()),
            ("gate", videos["members_only"].get_absolute_url()),
            ("login", reverse("account_login")),
            ("signup", reverse("account_signup")),
            ("password-reset", reverse("account_reset_password")),
            ("not-found", "/no-such-page/"),
        ],
    )

    assert problems == [], "\n".join(problems)


def test_member_pages_have_no_serious_accessibility_violations(audit_page, live_server):
    videos = catalogue()
    log_in(audit_page, live_server, MemberFactory())

    problems = audit(
        audit_page,
        [
            ("member-home", "/"),
            ("member-watch", videos["watch"].get_absolute_url()),
            ("member-watch-in-playlist", f"{videos['watch'].get_absolute_url()}?list={videos['playlist'].slug}"),
            ("member-playlist", videos["playlist"].get_absolute_url()),
            ("member-gate-open", videos["members_only"].get_absolute_url()),
            ("my-account", reverse("accounts:overview")),
        ],
    )

    assert problems == [], "\n".join(problems)


def test_the_resume_bar_sits_under_the_player_without_covering_the_title(page, live_server):
    prepare(page)
    video = sample_video(title="Thirty seconds", slug="thirty", external_id=static("video/sample-30s.mp4"), duration=30)
    log_in(page, live_server, MemberFactory())
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    # The bar's shown state, as the tracker leaves it when a position is saved (test_tracking.py
    # produces a real one through the worker and Cassandra).
    page.evaluate(
        "const p = document.querySelector('[data-resume-prompt]');"
        "p.querySelector('[data-resume-label]').textContent = 'Resume at 0:15'; p.hidden = false;"
    )

    bar = page.locator("[data-resume-prompt]").bounding_box()
    title = page.locator(".watch__title").bounding_box()
    player = page.locator(".player-frame-box").bounding_box()
    screenshot(page, "pages-resume-bar-desktop")

    assert bar is not None
    assert title is not None
    assert player is not None
    overlaps = not (bar["y"] + bar["height"] <= title["y"] or title["y"] + title["height"] <= bar["y"])
    assert not overlaps, (bar, title)
    assert player["y"] + player["height"] <= bar["y"] <= title["y"]  # under the player, above the title
    page.set_viewport_size(PHONE)
    screenshot(page, "pages-resume-bar-phone")


def test_an_unbroken_long_title_wraps_instead_of_widening_any_page(page, live_server):
    """A 200-character title with no space made the watch page 4,055 px wide, the player stretched."""
    prepare(page)
    title = "W" * 200
    video = sample_video(title=title, slug="long-title", external_id=static("video/sample-30s.mp4"), duration=30)
    video.description = "x" * 300
    video.save()
    playlist = PlaylistFactory(title="P" * 200, is_published=True)
    PlaylistItemFactory(playlist=playlist, video=video, position=1)
    log_in(page, live_server, MemberFactory())

    for name, url in (
        ("watch", video.get_absolute_url()),
        ("watch-in-playlist", f"{video.get_absolute_url()}?list={playlist.slug}"),
        ("playlist", playlist.get_absolute_url()),
        ("home", "/"),
        ("search", f"/?q={title}"),
    ):
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.goto(url)
            widest = page.evaluate("document.documentElement.scrollWidth")
            screenshot(page, f"pages-long-title-{name}-{size}")
            assert widest <= viewport["width"], (name, size, widest)
