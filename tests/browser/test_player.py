"""The player of uploaded videos in a real chromium, through nginx (bin/nginx in front of the live
server; nginx serves the signed /hls/ ladder itself, Django's stand-in is off): a member plays a
transcoded clip with hls.js, switches between its two qualities in the player's menu, sees the
default captions, lists and seeks the chapters, previews frames over the seek rail, and resumes
where they stopped, with keyboard focus on the player afterwards. A signed ladder URL lives only
seconds here: playback runs on past many expiries of the first, on the fresh URLs the player asks
the site for (a member's, and a visitor's on a public upload, with no tracker), while a copy of the
first is refused.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from analytics.selectors import resume_position_get
from tests.browser.test_videos import RECORD_PLAYER_EVENTS, wait_for_player, wait_js
from tests.conftest import CASSANDRA_DBS, ROOT, free_port, screenshot, wait_until
from tests.factories import MemberFactory
from tests.videos.clips import clip_make
from videos.models import Video, VideoCaption
from videos.selectors import video_ladder_url_get
from videos.services import video_publish_set, video_transcode
from videos.tracks import captions_webvtt

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True),
]

SECRET = secrets.token_urlsafe(32)
SECONDS = 20  # resume is offered only more than 10 s before the end (tracker.js shouldOfferResume)
CAPTIONS_SRT = "1\n00:00:00,000 --> 00:00:14,000\nHello from the test pattern\n"
CHAPTERS = "0:00 Intro\n0:03 Middle\n0:08 Ending"
VIDEO_JS = "document.querySelector('.player video')"


@pytest.fixture
def edge(live_server, settings) -> Iterator[str]:
    """nginx on a free port in front of the live server (pages and watch batches), serving the
    ladders from MEDIA_ROOT with the secret Django signs with."""
    # Not pytest's tmp_path (mode 700): nginx's workers (www-data) read MEDIA_ROOT.
    tmp = Path(tempfile.mkdtemp(prefix="watchpoint-player-test-"))
    tmp.chmod(0o755)
    settings.MEDIA_ROOT = tmp / "media"
    settings.MEDIA_WORK_DIR = tmp / "work"
    settings.MEDIA_TRANSCODE_MIN_FREE_BYTES = 0
    settings.MEDIA_URL_SIGNING_KEY = SECRET
    settings.MEDIA_SERVE_FROM_DJANGO = False  # every /hls/ byte from nginx, or none
    port, upstream = free_port(), urlsplit(live_server.url).netloc
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MEDIA_", "NGINX_", "WEB_", "INGEST_"))},
        "NGINX_LISTEN": f"127.0.0.1:{port}",
        "WEB_BIND": upstream,
        "INGEST_BIND": upstream,
        "MEDIA_ROOT": str(tmp / "media"),
        "MEDIA_URL_SECRET": SECRET,
        "WATCHPOINT_VAR": str(tmp),
    }
    nginx = str(ROOT / "bin" / "nginx")
    subprocess.run([nginx, "start"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([nginx, "stop"], cwd=ROOT, env=env, check=False, capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


def sprite_make(*, clip: Path, folder: Path) -> None:
    """What the transcode adds beside master.m3u8: a 160x90 tile a second, and their WebVTT."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(clip),
            "-vf",
            "fps=1,scale=160:90,tile=5x4",
            "-frames:v",
            "1",
            str(folder / "sprite.jpg"),
        ],
        check=True,
        timeout=60,
    )
    cues = [
        f"00:00:{i:02d}.000 --> 00:00:{i + 1:02d}.000\nsprite.jpg#xywh={i % 5 * 160},{i // 5 * 90},160,90\n"
        for i in range(SECONDS)
    ]
    (folder / "thumbnails.vtt").write_text("WEBVTT\n\n" + "\n".join(cues))


def uploaded_video_publish(*, settings, name: str, seconds: int, **fields: Any) -> tuple[Video, Path]:
    """A `seconds`-long 360p clip uploaded as the source of a new video (slug `name`), transcoded
    into its ladder in this process and published; the video and the clip."""
    clip = clip_make(Path(settings.MEDIA_WORK_DIR).parent / f"{name}.mp4", seconds=seconds, size="640x360", rate=10)
    video = Video.objects.create(
        title=f"Uploaded {name}", slug=name, provider="file", external_id=f"upload:{name}", **fields
    )
    video.source.save(f"{name}.mp4", ContentFile(clip.read_bytes()))
    Video.objects.filter(pk=video.pk).update(ladder_state="queued")
    assert video_transcode(video_id=video.pk) == "ready"
    video.refresh_from_db()
    assert video_publish_set(videos=[video], published=True) == 1
    return video, clip


def member_page(browser, base_url: str, member):
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    client = Client()
    client.force_login(member)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}])
    page = context.new_page()
    page.add_init_script(RECORD_PLAYER_EVENTS)
    return page


def test_a_member_plays_an_upload_at_two_qualities_with_captions_chapters_and_resume(
    browser, edge, settings, celery_worker_process
):
    video, clip = uploaded_video_publish(settings=settings, name="talk", seconds=SECONDS, chapters=CHAPTERS)
    sprite_make(clip=clip, folder=Path(settings.MEDIA_ROOT) / video.ladder_path)
    text, cues = captions_webvtt(data=CAPTIONS_SRT.encode())
    VideoCaption.objects.create(
        video=video, language="en", label="English", is_default=True, webvtt=text, cue_count=cues
    )

    member = MemberFactory()
    page = member_page(browser, edge, member)
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    assert page.evaluate(f"{VIDEO_JS}.src").startswith("blob:")  # hls.js, not the browser's HLS

    # Quality menu: Auto and each rung, tallest first; each choice plays that rung.
    menu = page.locator("[data-player-quality]")
    assert page.locator("label", has=menu).inner_text().startswith("Quality")
    assert menu.locator("option").all_inner_texts()[1:] == ["360p", "240p"]
    page.evaluate(f"{VIDEO_JS}.muted = true; window.__wp.player.play()")
    wait_js(page, f"{VIDEO_JS}.currentTime > 0.5", timeout=20)
    for height in (240, 360):
        menu.select_option(label=f"{height}p")
        wait_js(page, f"window.__wp.player.hls.levels[window.__wp.player.hls.currentLevel].height === {height}")
        wait_js(page, f"{VIDEO_JS}.videoHeight === {height}", timeout=20)
    # Every ladder request went to nginx's /hls/ location (Django's stand-in is off here).
    ladder = page.evaluate(
        "performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/hls/'))"
    )
    assert any(name.endswith(".ts") for name in ladder)

    # Chapters: in the player (a menu, and marks on the rail) and as links that seek the player.
    assert page.locator("[data-player-chapters] option").all_inner_texts() == [
        "0:00 Intro",
        "0:03 Middle",
        "0:08 Ending",
    ]
    assert page.locator(".player-rail__mark").count() == 2
    links = page.locator(".chapter-list a")
    assert [" ".join(text.split()) for text in links.all_inner_texts()] == ["0:00 Intro", "0:03 Middle", "0:08 Ending"]
    page.evaluate("window.__wp.player.pause()")
    links.nth(2).click()
    wait_js(page, f"{VIDEO_JS}.currentTime >= 8")
    assert page.evaluate("document.activeElement.tagName") == "VIDEO"

    # Captions: the default track shows its cue (the seek above updated the cues shown).
    track = f"{VIDEO_JS}.textTracks[0]"
    assert page.evaluate(f"{track}.label") == "English"
    wait_js(page, f"{track}.mode === 'showing' && {track}.activeCues && {track}.activeCues.length > 0")
    assert page.evaluate(f"{track}.activeCues[0].text") == "Hello from the test pattern"

    # Stop a second into the last chapter; the pause sends the position (tracker → worker → Cassandra).
    wait_js(page, f"{VIDEO_JS}.currentTime >= 9")
    page.evaluate("window.__wp.player.pause()")
    wait_until(lambda: 8 <= (resume_position_get(user_id=member.pk, video_id=video.pk) or 0) < 12, timeout=30)

    # Scrubbing previews: hovering over the rail shows the sprite's tile for that time.
    rail = page.locator("[data-player-seek]").bounding_box()
    page.mouse.move(rail["x"] + rail["width"] * 0.5, rail["y"] + rail["height"] / 2)
    preview = page.locator("[data-player-preview]")
    preview.wait_for(state="visible")
    assert preview.get_attribute("data-time") == str(SECONDS // 2)
    assert "sprite.jpg" in page.evaluate(
        "getComputedStyle(document.querySelector('.player-preview__image')).backgroundImage"
    )
    assert page.evaluate("window.__wp.csp") == []
    screenshot(page, "player-upload-chapters-preview")

    position = resume_position_get(user_id=member.pk, video_id=video.pk)

    page.reload()
    wait_for_player(page)
    prompt = page.locator("[data-resume-prompt]")
    prompt.wait_for(state="visible")
    # A keyboard user: the prompt's Resume button has focus; Enter presses it.
    assert page.evaluate("document.activeElement.matches('[data-resume]')")
    page.keyboard.press("Enter")
    wait_js(page, f"{VIDEO_JS}.currentTime >= {position}")
    # Keyboard focus is on the player, with a visible ring.
    assert page.evaluate("document.activeElement === document.querySelector('.player video')")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.evaluate("window.__wp.player.pause()")
    screenshot(page, "player-upload-resumed-focus")

    # Without Media Source Extensions (Safari on iPhone), the browser's own HLS gets the master
    # playlist; it picks the rung itself, so there is no quality menu. Chapters stay.
    native = page.context.new_page()
    native.add_init_script("delete window.MediaSource; delete window.ManagedMediaSource;")
    native.add_init_script(RECORD_PLAYER_EVENTS)
    native.goto(video.get_absolute_url())
    wait_for_player(native)
    assert urlsplit(native.evaluate(f"{VIDEO_JS}.src")).path.endswith(f"/{video.ladder_path[4:]}master.m3u8")
    assert native.evaluate("window.__wp.player.hls") is None
    assert native.locator("[data-player-quality]").count() == 0
    assert native.locator("[data-player-chapters] option").count() == 3
    page.context.close()


def _expires(url: str) -> int:
    found = re.search(r"/hls/[A-Za-z0-9_-]{22}/([0-9]+)/", url)
    assert found, url
    return int(found.group(1))


RENEWED_SECONDS = 40


def _long_upload(*, settings, monkeypatch, access: str = "members") -> tuple[Video, float]:
    """A published 40 s upload in 1 s segments, and a link speed a little above its tallest rung's."""
    # One-second segments: requests all along the playback, not a few long ones.
    monkeypatch.setattr("videos.media.SEGMENT_SECONDS", 1)
    video, _clip = uploaded_video_publish(settings=settings, name="long", seconds=RENEWED_SECONDS, access=access)
    folder = Path(settings.MEDIA_ROOT) / video.ladder_path
    rung_bytes = [sum(f.stat().st_size for f in (folder / rung).glob("*.ts")) for rung in ("0", "1")]
    return video, max(rung_bytes) / RENEWED_SECONDS * 1.3


def _throttled_watch(page, *, video: Video, bytes_per_second: float) -> tuple[str, list[tuple[float, str, int]]]:
    """Open the watch page over a link of `bytes_per_second`: the first ladder URL it was given, and
    every /hls/ answer as (request start, URL, status) as they come. Failed requests fail the test."""
    # The page's scripts into the browser's cache first, so that the throttled load below signs
    # its first URL and asks for the master playlist within a second, as a real page load does.
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    page.goto("about:blank")
    # hls.js buffers up to 600 s ahead at these bitrates, so on a local link it would fetch the
    # whole clip before the first URL expires. A link a little faster than the tallest rung plays
    # keeps it fetching all along, as a long video over a real connection does.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": bytes_per_second, "uploadThroughput": -1},
    )
    ladder: list[tuple[float, str, int]] = []

    def answered(response) -> None:
        if "/hls/" in response.url:
            ladder.append((response.request.timing["startTime"] / 1000, response.url, response.status))

    def unanswered(request) -> None:
        # Status 0: cancelled by the page itself (a source reloaded mid-request); -1: failed.
        if "/hls/" in request.url:
            status = 0 if request.failure == "net::ERR_ABORTED" else -1
            ladder.append((request.timing["startTime"] / 1000, request.url, status))

    page.on("response", answered)
    page.on("requestfailed", unanswered)
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    first = page.locator(".player[data-watchpoint-player]").first.get_attribute("data-external-id")
    assert first is not None
    return first, ladder


def _played_past_many_expiries_of(page, *, edge: str, first: str, ladder: list[tuple[float, str, int]]) -> None:
    """Play 20 s from the page's first URL (one that works 4 s): it expired some 15 s before the
    end, and the fresh ones of as many renewals since. Nothing was refused on the way."""
    first_expires = _expires(first)
    assert first_expires <= time.time() + 4
    page.evaluate(f"{VIDEO_JS}.muted = true; window.__wp.player.play()")
    wait_js(page, f"{VIDEO_JS}.currentTime >= 20", timeout=60)
    assert time.time() > first_expires + 10

    # The master playlist came through the first URL; the requests made after it expired carried
    # later expiries, and the ladder was still being fetched well after that.
    assert (f"{edge}{first}", 200) in [(url, status) for _, url, status in ladder]
    later = [(url, status) for at, url, status in ladder if at > first_expires + 1]
    assert len([url for url, _ in later if url.endswith(".ts")]) >= 5, ladder
    assert all(_expires(url) > first_expires for url, _ in later)
    assert max(_expires(url) for url, _ in later) >= first_expires + 10
    # Nothing was refused or failed along the way: no request waited on a URL that had expired.
    assert [(url, status) for _, url, status in ladder if status != 200] == []
    assert "error" not in page.evaluate("window.__wp.events.map((e) => e[0])")


def _media_url_answers(page) -> list[int]:
    """The status of each fresh URL the page's player asks the site for, as they come."""
    answers: list[int] = []

    def answered(response) -> None:
        if "/media-url/" in response.url:
            answers.append(response.status)

    page.on("response", answered)
    return answers


def test_playback_outlives_the_first_signed_url_on_the_fresh_ones_the_player_asks_for(
    browser, edge, settings, monkeypatch
):
    # Ladder URLs that work 4 s after issue: the first one the page was given expires a few seconds
    # into playback. The player asks for a fresh one every ~1 s (a third of its life).
    settings.MEDIA_URL_TTL_SECONDS = 4
    video, speed = _long_upload(settings=settings, monkeypatch=monkeypatch)
    page = member_page(browser, edge, MemberFactory())
    renewals = _media_url_answers(page)
    first, ladder = _throttled_watch(page, video=video, bytes_per_second=speed)
    first_expires = _expires(first)

    _played_past_many_expiries_of(page, edge=edge, first=first, ladder=ladder)
    assert len(renewals) >= 10
    assert set(renewals) == {200}

    # The scrubbing previews' sprite, first asked for long after the first URL expired.
    rail = page.locator("[data-player-seek]").bounding_box()
    with page.expect_request_finished(lambda r: r.url.endswith("/sprite.jpg")) as sprite:
        page.mouse.move(rail["x"] + rail["width"] * 0.75, rail["y"] + rail["height"] / 2)
    assert sprite.value.response().status == 200
    assert _expires(sprite.value.url) > first_expires + 10
    page.wait_for_timeout(300)  # the tile drawn, for the screenshot
    screenshot(page, "player-upload-renewed-url")

    # A copy of the first URL, with this very session's cookie, is refused now; a URL freshly
    # signed for the same cookie works: the expiry alone refuses it.
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    assert page.request.get(f"{edge}{first}").status == 403
    assert page.request.get(f"{edge}{video_ladder_url_get(video=video, session_cookie=cookie)}").status == 200
    page.context.close()


def test_a_visitor_plays_a_public_upload_past_many_expiries_of_its_first_url_with_no_tracker(
    browser, edge, settings, monkeypatch
):
    # No account, no session, no tracker (it runs for confirmed members only): the player alone
    # keeps its URL fresh, as for the member above.
    settings.MEDIA_URL_TTL_SECONDS = 4
    video, speed = _long_upload(settings=settings, monkeypatch=monkeypatch, access="public")
    context = browser.new_context(base_url=edge, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.add_init_script(RECORD_PLAYER_EVENTS)
    renewals = _media_url_answers(page)
    first, ladder = _throttled_watch(page, video=video, bytes_per_second=speed)
    assert page.evaluate("JSON.parse(document.getElementById('watch-tracker-config').textContent)") is None

    _played_past_many_expiries_of(page, edge=edge, first=first, ladder=ladder)
    assert len(renewals) >= 10
    assert set(renewals) == {200}
    assert "sessionid" not in {c["name"] for c in context.cookies()}

    # As after a sleep: the URL the player holds has expired (its renewals failed meanwhile), and
    # the site answers slowly. hls.js resumes loading at once; the player renews the URL before
    # that request goes out, rather than letting it go to nginx and be refused (hls.js never
    # retries a 403).
    renewal_mode = ["refuse"]

    def media_url_route(route) -> None:
        if renewal_mode[0] == "refuse":
            route.abort()
            return
        time.sleep(1)
        route.continue_()

    page.route("**/media-url/", media_url_route)
    page.evaluate("window.__wp.player.pause(); window.__wp.player.hls.stopLoad()")
    time.sleep(6)
    renewal_mode[0] = "slow"
    woke = time.time()
    page.evaluate("window.__wp.player.hls.startLoad(-1); window.__wp.player.play()")
    wait_js(page, f"{VIDEO_JS}.currentTime >= 26", timeout=60)
    woken = [(url, status) for at, url, status in ladder if at > woke]
    assert any(url.endswith(".ts") for url, _ in woken), ladder
    assert [(url, status) for url, status in woken if status != 200] == []
    assert min(_expires(url) for url, _ in woken) >= int(woke) + 1
    screenshot(page, "player-upload-visitor-renewed-url")
    context.close()


def test_the_admin_preview_of_an_upload_renews_its_url_too(browser, edge, settings, monkeypatch):
    # The preview is rendered without a request (no CSRF token in the player's data): the player
    # sends the CSRF cookie's, and staff are answered for an unpublished upload too.
    settings.MEDIA_URL_TTL_SECONDS = 4
    video, _speed = _long_upload(settings=settings, monkeypatch=monkeypatch)
    assert video_publish_set(videos=[video], published=False) == 1
    page = member_page(browser, edge, MemberFactory(is_staff=True, is_superuser=True))
    renewals = _media_url_answers(page)

    page.goto(f"/admin/videos/video/{video.pk}/change/")
    wait_for_player(page)
    assert page.locator(".player[data-watchpoint-player]").get_attribute("data-csrf-token") == ""
    page.wait_for_timeout(4000)

    assert len(renewals) >= 2
    assert set(renewals) == {200}
    page.context.close()


def test_the_browsers_own_hls_reloads_the_fresh_url_where_the_expired_one_stopped(browser, edge, settings, monkeypatch):
    # Without Media Source Extensions (Safari on iPhone) the browser fetches the ladder itself and
    # cannot be handed a new URL per request: the first refusal after the URL expired ends its
    # playback, and the player loads the latest URL at the same position. Each such reload costs
    # the playlists and a segment again (seconds on this link): URLs live 8 s here, not 4.
    settings.MEDIA_URL_TTL_SECONDS = 8
    video, speed = _long_upload(settings=settings, monkeypatch=monkeypatch)
    page = member_page(browser, edge, MemberFactory())
    page.add_init_script("delete window.MediaSource; delete window.ManagedMediaSource;")
    first, ladder = _throttled_watch(page, video=video, bytes_per_second=speed)
    first_expires = _expires(first)
    assert page.evaluate("window.__wp.player.hls") is None

    page.evaluate(f"{VIDEO_JS}.muted = true; window.__wp.player.play()")
    wait_js(page, f"{VIDEO_JS}.currentTime >= 15", timeout=60)

    # Refused first once the first URL expired, then played on from later URLs. A URL is refused
    # only after its expiry (each one the browser was playing from expires in turn); the rest is
    # answered (206: the browser's own HLS asks for ranges) or cancelled by a reload.
    refused = [(at, url) for at, url, status in ladder if status == 403]
    assert refused, ladder
    assert _expires(refused[0][1]) == first_expires
    assert all(at > _expires(url) for at, url in refused), refused
    assert {status for _, _, status in ladder} <= {0, 200, 206, 403}, ladder
    assert _expires(page.evaluate(f"{VIDEO_JS}.src")) > first_expires
    assert any(url.endswith(".ts") and _expires(url) > first_expires for _, url, _ in ladder), ladder
    # Each reload resumed where playback stopped (never from the start), and no error reached the
    # page: Chromium reports the refused segment as MEDIA_ERR_SRC_NOT_SUPPORTED, which would
    # otherwise have told the team the video is unavailable.
    seeks = page.evaluate("window.__wp.events.filter((e) => e[0] === 'seeking').map((e) => e[1].to)")
    assert seeks
    assert all(to > 1 for to in seeks), seeks
    assert "error" not in page.evaluate("window.__wp.events.map((e) => e[0])")
    assert page.locator("[data-player-notice]").is_hidden()
    screenshot(page, "player-upload-native-hls-renewed-url")
    page.context.close()
