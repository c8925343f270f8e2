"""Catalogue, playlist and self-hosted watch pages in a real chromium: the <video> really plays."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from django.conf import settings
from django.core.cache import cache
from django.templatetags.static import static
from django.test import Client

from tests.conftest import ROOT, screenshot, wait_until
from tests.factories import MemberFactory, PlaylistFactory, PlaylistItemFactory, VideoFactory
from tests.videos.standins import StandIn, youtube_answer
from tests.videos.standins import standin_fixture as standin_fixture  # the `standin` fixture
from videos.models import Video, VideoDurationVote, VideoPlaybackProblem
from videos.services import video_facts_refresh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Records the player-ready event and every player event, the way the tracker will attach.
RECORD_PLAYER_EVENTS = """
window.__wp = { ready: null, player: null, events: [], csp: [] };
document.addEventListener("securitypolicyviolation", (e) => {
  window.__wp.csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
document.addEventListener("watchpoint:player-ready", (event) => {
  window.__wp.ready = event.detail.video;
  window.__wp.player = event.detail.player;
  for (const name of ["play", "pause", "seeking", "seeked", "timeupdate", "ratechange", "ended", "error",
                      "durationchange"]) {
    event.detail.player.on(name, (detail) => window.__wp.events.push([name, detail]));
  }
});
"""
# Every navigation the page starts (the Navigation API's "navigate" fires synchronously inside
# location.assign), and an "ended" listener registered after watch.js's: the player calls its
# listeners in order, so once this one has run, watch.js has decided whether to move on.
RECORD_NAVIGATIONS_AFTER_ENDED = """() => {
  window.__wp.navigations = [];
  window.navigation.addEventListener("navigate", (e) => window.__wp.navigations.push(e.destination.url));
  window.__wp.endedHandled = false;
  window.__wp.player.on("ended", () => { window.__wp.endedHandled = true; });
}"""
THUMBNAIL_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="480" height="360" viewBox="0 0 480 360">'
    '<rect width="480" height="360" fill="#2d3142"/><circle cx="240" cy="180" r="48" fill="#e5484d"/>'
    '<path d="M225 155v50l40-25z" fill="#fff"/></svg>'
)


def log_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])


def serve_with_ranges(route) -> None:
    """Serve a sample clip answering Range requests, as any production web server or CDN does.

    Django's test static handler ignores Range, and without it chromium cannot seek in a file it
    is still fetching (every seek lands on 0). The bytes are the committed clip's own.
    """
    path = ROOT / "static" / unquote(urlsplit(route.request.url).path).removeprefix("/static/")
    if not path.is_file():
        route.fallback()
        return
    data = path.read_bytes()
    kind = {".mp4": "video/mp4", ".webm": "video/webm"}.get(path.suffix, "application/octet-stream")
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", route.request.headers.get("range", ""))
    if match is None:
        route.fulfill(status=200, body=data, headers={"Content-Type": kind, "Accept-Ranges": "bytes"})
        return
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) else len(data) - 1
    route.fulfill(
        status=206,
        body=data[start : end + 1],
        headers={
            "Content-Type": kind,
            "Accept-Ranges": "bytes",
            "Content-Range": f"bytes {start}-{end}/{len(data)}",
        },
    )


def serve_media(route) -> None:
    """MEDIA as the production web server serves it (Django serves it only with DEBUG on)."""
    name = unquote(urlsplit(route.request.url).path).removeprefix("/media/")
    path = Path(settings.MEDIA_ROOT) / name
    if ".." in name or not path.is_file():
        route.fulfill(status=404, body="")
        return
    kind = {".webp": "image/webp", ".jpg": "image/jpeg", ".png": "image/png"}.get(
        path.suffix, "application/octet-stream"
    )
    route.fulfill(status=200, body=path.read_bytes(), headers={"Content-Type": kind})


def prepare(page) -> None:
    """Record player events; serve the sample clips with Range support and MEDIA (the cards)."""
    page.add_init_script(RECORD_PLAYER_EVENTS)
    # Nothing may be loaded from YouTube's image host any more: fail loudly if a template hotlinks.
    page.route("https://i.ytimg.com/**", lambda route: route.fulfill(status=599, body="hotlinked"))
    page.route(re.compile(r".*/static/video/.*\.(mp4|webm)$"), serve_with_ranges)
    page.route(re.compile(r".*/media/.*"), serve_media)


def wait_js(page, expression: str, *, timeout: float = 15) -> object:
    """Poll a JS expression until truthy. (page.wait_for_function evaluates with eval(), which our
    CSP rightly forbids; page.evaluate goes through the DevTools protocol instead.)"""
    return wait_until(lambda: page.evaluate(expression), timeout=timeout, interval=0.1)


def wait_for_player(page) -> dict:
    wait_js(page, "window.__wp && window.__wp.ready !== null")
    return page.evaluate("window.__wp.ready")


def event_names(page) -> list[str]:
    return page.evaluate("window.__wp.events.map((e) => e[0])")


def sample_video(**kwargs) -> Any:
    defaults = {
        "title": "Test pattern",
        "provider": "file",
        "external_id": static("video/sample.mp4"),
        "members_only": False,
        "duration": None,
    }
    return VideoFactory(**{**defaults, **kwargs})


def test_the_catalogue_shows_cards_playlists_and_search(page, live_server, standin: StandIn, settings, tmp_path):
    prepare(page)
    settings.MEDIA_ROOT = tmp_path / "media"
    bunny_video = VideoFactory(
        title="Big Buck Bunny",
        provider="youtube",
        external_id="aqz-KE-bpKQ",
        duration=635,
        members_only=False,
        description="A giant rabbit.",
    )
    # The server downloads the thumbnail oEmbed names and makes the cards (no hotlinking).
    standin.oembed["https://www.youtube.com/watch?v=aqz-KE-bpKQ"] = youtube_answer(standin)
    assert video_facts_refresh(video_id=bunny_video.pk) is not None
    VideoFactory(title="The Vimeo player", provider="vimeo", external_id="76979871", duration=62)
    VideoFactory(title="Wistia demo", provider="wistia", external_id="e4a27b971d", duration=None)
    mp4 = sample_video(duration=6)
    playlist = PlaylistFactory(title="Getting started")
    PlaylistItemFactory(playlist=playlist, video=mp4)

    page.goto("/")

    assert page.locator("h1").inner_text() == "Catalogue"
    assert page.locator(".video-card").count() == 4
    assert page.get_by_role("link", name=re.compile("Getting started")).is_visible()
    assert page.locator(".playlist-chip__count").inner_text() == "1 video"
    bunny = page.locator(".video-card", has_text="Big Buck Bunny")
    assert bunny.locator(".video-card__duration").inner_text() == "10:35"
    # The card made by the server rendered, from our own MEDIA (WebP, 320 or 640 px wide).
    assert page.evaluate("document.querySelector('.video-card img').naturalWidth") in (320, 640)
    assert "/media/thumbnails/cards/" in page.evaluate("document.querySelector('.video-card img').currentSrc")
    screenshot(page, "videos-catalogue")

    page.get_by_label("Search videos").fill("rabbit")
    page.get_by_role("button", name="Search").click()

    assert page.locator(".video-card").count() == 1
    assert page.locator(".video-card__title").inner_text() == "Big Buck Bunny"
    screenshot(page, "videos-catalogue-search")


def test_a_self_hosted_mp4_really_plays_and_reports_its_duration(page, live_server):
    prepare(page)
    member = MemberFactory()
    log_in(page, live_server, member)
    video = sample_video(members_only=True)

    page.goto(video.get_absolute_url())
    ready = wait_for_player(page)
    assert ready == {"id": video.pk, "duration": None, "slug": video.slug}

    page.evaluate("window.__wp.player.play()")
    wait_js(page, "document.querySelector('.player video').currentTime > 1.5")
    # The wrapper reports the time moving on while playing: several ticks, the last one past 1.5 s
    # (the "from" of the seek below is the last tick's time).
    wait_js(
        page,
        "(() => { const t = window.__wp.events.filter((e) => e[0] === 'timeupdate');"
        " return t.length >= 4 && t[t.length - 1][1].time > 1.5; })()",
    )
    time_before = page.evaluate("window.__wp.player.currentTime()")
    wait_js(page, f"window.__wp.player.currentTime() > {time_before!r}")
    assert page.evaluate("window.__wp.player.isPlaying()") is True
    names = event_names(page)
    assert "play" in names
    assert names.count("timeupdate") >= 4
    assert page.evaluate("window.__wp.player.duration()") == pytest.approx(6, abs=0.2)
    # A member's report is one vote (three confirmed members must agree), not the duration.
    vote = wait_until(
        lambda: VideoDurationVote.objects.filter(video_id=video.pk, user_id=member.pk).first(), timeout=10
    )
    assert vote.seconds == 6
    assert Video.objects.get(pk=video.pk).duration is None

    page.evaluate("window.__wp.player.pause()")
    wait_js(page, "window.__wp.events.some((e) => e[0] === 'pause')")
    page.evaluate("window.__wp.player.seek(1)")
    wait_js(page, "window.__wp.events.some((e) => e[0] === 'seeked')")
    seeking = page.evaluate("window.__wp.events.find((e) => e[0] === 'seeking')[1]")
    assert seeking["to"] == 1
    assert seeking["from"] > 1.5
    assert page.evaluate("window.__wp.csp") == []
    screenshot(page, "videos-watch-mp4")

    # A staff member previewing the video sets the unknown duration at once.
    log_in(page, live_server, MemberFactory(is_staff=True))
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    wait_until(lambda: Video.objects.get(pk=video.pk).duration == 6, timeout=10)


def test_a_deep_link_starts_the_mp4_at_that_time(page, live_server):
    prepare(page)
    video = sample_video()

    page.goto(video.get_absolute_url() + "?t=3")
    wait_for_player(page)

    assert page.evaluate("window.__wp.player.currentTime()") == pytest.approx(3, abs=0.5)


def test_an_hls_stream_plays_through_the_vendored_hls_js(page, live_server):
    prepare(page)
    video = sample_video(title="Test pattern (HLS)", external_id=static("video/hls/sample.m3u8"))

    page.goto(video.get_absolute_url())
    wait_for_player(page)
    page.evaluate("window.__wp.player.play()")

    wait_js(page, "document.querySelector('.player video').currentTime > 1")
    assert page.evaluate("typeof window.Hls") == "function"
    assert page.evaluate("document.querySelector('.player video').src").startswith("blob:")
    assert page.evaluate("window.__wp.csp") == []
    screenshot(page, "videos-watch-hls")


def test_a_missing_file_is_reported_as_a_playback_problem_once(page, live_server):
    prepare(page)
    member = MemberFactory()
    log_in(page, live_server, member)
    video = sample_video(external_id="/static/video/missing.mp4")

    page.goto(video.get_absolute_url())
    wait_for_player(page)

    page.wait_for_selector("[data-player-notice]:not([hidden])")
    assert "no longer available" in page.locator("[data-player-notice]").inner_text()
    problem = wait_until(
        lambda: VideoPlaybackProblem.objects.filter(video_id=video.pk, user_id=member.pk).first(), timeout=10
    )
    assert problem.code == "4"
    # One member's player does not hide the video from everyone else: it asks the server to check.
    assert Video.objects.get(pk=video.pk).is_unavailable is False
    assert cache.get(f"videos:recheck:{video.pk}") == 1
    screenshot(page, "videos-watch-missing-file")

    # The server's check (the queued task's work, run here) finds the file missing.
    checked = video_facts_refresh(video_id=video.pk)
    assert checked is not None
    assert checked.unavailable_code == "file-404"
    page.reload()
    assert "no longer available from its host" in page.locator("[data-video-unavailable]").inner_text()
    assert page.locator("[data-watchpoint-player]").count() == 0
    screenshot(page, "videos-watch-missing-file-notice")


def test_a_playlist_plays_on_into_the_next_video(page, live_server):
    prepare(page)
    playlist = PlaylistFactory(title="Test patterns", description="Two short clips, one after the other.")
    first = PlaylistItemFactory(playlist=playlist, position=1, video=sample_video(title="Part one", duration=6)).video
    second = PlaylistItemFactory(
        playlist=playlist, position=2, video=sample_video(title="Part two", external_id=static("video/sample.webm"))
    ).video

    page.goto(playlist.get_absolute_url())
    assert page.locator(".playlist-item__title").all_inner_texts() == ["Part one", "Part two"]
    screenshot(page, "videos-playlist")

    page.get_by_role("link", name="Play from the start").click()
    wait_for_player(page)
    assert page.get_by_label("Play the next video automatically").is_checked()
    screenshot(page, "videos-watch-in-playlist")
    page.evaluate("window.__wp.player.seek(5); window.__wp.player.play()")

    page.wait_for_url(re.compile(rf"/watch/{second.slug}/\?list={playlist.slug}&autoplay=1$"))
    wait_for_player(page)
    # Arrived by auto-advance, it plays on its own (WebM this time).
    wait_js(page, "document.querySelector('.player video').currentTime > 0.5")
    assert page.locator(".playlist-item--current").inner_text().startswith("2")
    assert first.slug not in page.url


def test_a_member_can_turn_auto_advance_off(page, live_server):
    prepare(page)
    playlist = PlaylistFactory()
    first = PlaylistItemFactory(playlist=playlist, position=1, video=sample_video(title="One")).video
    PlaylistItemFactory(playlist=playlist, position=2, video=sample_video(external_id=static("video/sample.webm")))

    page.goto(f"{first.get_absolute_url()}?list={playlist.slug}")
    wait_for_player(page)
    page.get_by_label("Play the next video automatically").uncheck()
    page.evaluate(RECORD_NAVIGATIONS_AFTER_ENDED)
    page.evaluate("window.__wp.player.seek(5.5); window.__wp.player.play()")
    # The page's own "ended" listener has returned, and it started no navigation.
    wait_js(page, "window.__wp.endedHandled")

    assert page.evaluate("window.__wp.navigations") == []
    assert f"/watch/{first.slug}/" in page.url
    page.reload()
    wait_for_player(page)
    assert not page.get_by_label("Play the next video automatically").is_checked()


def test_a_members_only_video_shows_anonymous_visitors_how_to_get_in(page, live_server):
    video = VideoFactory(title="Members masterclass", provider="youtube", external_id="aqz-KE-bpKQ")
    prepare(page)

    page.goto(video.get_absolute_url())

    assert page.get_by_role("link", name="Log in").first.is_visible()
    assert page.locator(".gate").get_by_role("link", name="Sign up").is_visible()
    assert page.locator("[data-watchpoint-player]").count() == 0
    screenshot(page, "videos-gate-anonymous")


def test_staff_preview_the_player_on_the_admin_change_page(page, live_server):
    prepare(page)
    log_in(page, live_server, MemberFactory(is_staff=True, is_superuser=True))
    video = sample_video(title="Preview me", is_published=False)

    page.goto(f"/admin/videos/video/{video.pk}/change/")
    wait_for_player(page)
    page.evaluate("window.__wp.player.play()")

    wait_js(page, "window.__wp.player.currentTime() > 0.5")
    assert page.evaluate("window.__wp.csp") == []
    screenshot(page, "videos-admin-change")
