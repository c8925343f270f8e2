"""YouTube, Vimeo and Wistia watch pages against stand-ins for each provider's player script.

There is no internet here, so the test serves, at the real script URLs the product loads, a small
stand-in implementing the documented API surface the site uses (YouTube IFrame Player API,
Vimeo player.js, Wistia's `_wq` queue), plus a placeholder page for each provider's frame. What
this proves: the site loads the right URLs with the right options, the CSP lets them in, and each
provider module turns that API into the common Player interface. What it cannot prove: that the
real providers still behave like their documentation.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from tests.browser.test_videos import event_names, log_in, prepare, wait_for_player, wait_js
from tests.conftest import screenshot, wait_until
from tests.factories import MemberFactory, VideoFactory
from tests.videos.standins import StandIn, vimeo_answer, wistia_answer, youtube_answer
from tests.videos.standins import standin_fixture as standin_fixture  # the `standin` fixture
from videos.models import Video, VideoDurationVote, VideoPlaybackProblem
from videos.services import video_facts_refresh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STANDINS = Path(__file__).parent / "standins"


def standin(name: str) -> str:
    """A provider stand-in script, prefixed with the simulated playback clock they share."""
    return (STANDINS / "clock.js").read_text() + (STANDINS / name).read_text()


# A simulated clock shared by the stand-ins: plays from `time` at `rate`, ends at `duration`.

YOUTUBE_API = standin("youtube_iframe_api.js")

VIMEO_API = standin("vimeo_player.js")

WISTIA_API = standin("wistia_e_v1.js")

FRAME_HTML = """<!doctype html><html><body style="margin:0;background:#0f0f0f;color:#eee;font:20px system-ui;
display:flex;align-items:center;justify-content:center;height:100vh">{name} player stand-in</body></html>"""


def stand_in(page, *, script_url: str, script: str, frame_pattern: str, name: str) -> None:
    page.route(script_url, lambda route: route.fulfill(content_type="text/javascript", body=script))
    page.route(frame_pattern, lambda route: route.fulfill(content_type="text/html", body=FRAME_HTML.format(name=name)))


def stand_in_youtube(page) -> None:
    stand_in(
        page,
        script_url="https://www.youtube.com/iframe_api",
        script=YOUTUBE_API,
        frame_pattern="https://www.youtube-nocookie.com/embed/**",
        name="YouTube",
    )


def exercise_the_common_interface(page, *, seek_to: float) -> None:
    """play -> timeupdates ~4/s -> seek -> rate -> pause, through the one Player interface."""
    page.evaluate("window.__wp.player.play()")
    wait_js(page, "window.__wp.events.filter((e) => e[0] === 'timeupdate').length >= 6")
    assert page.evaluate("window.__wp.player.isPlaying()") is True
    times = page.evaluate("window.__wp.events.filter((e) => e[0] === 'timeupdate').map((e) => e[1].time)")
    assert times == sorted(times)
    assert times[-1] > times[0]

    page.evaluate(f"window.__wp.player.seek({seek_to})")
    wait_js(page, "window.__wp.events.some((e) => e[0] === 'seeked')")
    seeking = page.evaluate("window.__wp.events.find((e) => e[0] === 'seeking')[1]")
    assert seeking["to"] == seek_to
    assert 0 < seeking["from"] < 5
    wait_js(page, f"window.__wp.player.currentTime() >= {seek_to}")

    page.evaluate("window.__wp.player.pause()")
    wait_js(page, "window.__wp.events.some((e) => e[0] === 'pause')")
    assert page.evaluate("window.__wp.player.isPlaying()") is False
    assert page.evaluate("window.__wp.csp") == []
    assert "play" in event_names(page)


def test_a_youtube_video_plays_through_the_iframe_api_on_the_privacy_enhanced_host(page, live_server):
    prepare(page)
    stand_in_youtube(page)
    # Staff previewing the page: YouTube's oEmbed has no duration, so their player's fills it.
    log_in(page, live_server, MemberFactory(is_staff=True))
    video = VideoFactory(title="Big Buck Bunny", provider="youtube", external_id="aqz-KE-bpKQ", duration=None)

    page.goto(video.get_absolute_url() + "?t=1m30s")
    assert wait_for_player(page) == {"id": video.pk, "duration": None, "slug": video.slug}

    created = page.evaluate("window.__standIn.youtube[0]")
    assert created["options"]["host"] == "https://www.youtube-nocookie.com"
    assert created["options"]["videoId"] == "aqz-KE-bpKQ"
    assert created["options"]["playerVars"] == {
        "enablejsapi": 1,
        "origin": live_server.url,
        "playsinline": 1,
        "rel": 0,
        "start": 90,
    }
    assert created["src"].startswith("https://www.youtube-nocookie.com/embed/aqz-KE-bpKQ?")
    # The first real duration a staff member's player knows fills the empty one, once.
    wait_until(lambda: Video.objects.get(pk=video.pk).duration == 212, timeout=10)

    page.evaluate("window.__wp.player.seek(0); window.__wp.events.length = 0")
    exercise_the_common_interface(page, seek_to=120)
    page.evaluate("window.__standIn.youtubePlayer.setPlaybackRate(2)")
    wait_js(page, "window.__wp.player.playbackRate() === 2")
    assert ["ratechange", {"rate": 2}] in page.evaluate("window.__wp.events")
    screenshot(page, "videos-watch-youtube")


def test_a_provider_that_cannot_be_reached_gets_a_message_that_blames_nobody(page, live_server):
    prepare(page)
    page.route("https://www.youtube.com/iframe_api", lambda route: route.abort("connectionrefused"))
    video = VideoFactory(provider="youtube", external_id="aqz-KE-bpKQ", members_only=False)

    page.goto(video.get_absolute_url())
    page.wait_for_selector("[data-watchpoint-player][data-player-state='failed']")

    message = page.locator(".player-failed").inner_text()
    screenshot(page, "provider-unreachable")
    assert message == (
        "The YouTube player is not responding right now. Please try again in a few minutes: your place is saved."
    )
    assert "your connection" not in message.lower()


def test_a_youtube_scrub_without_our_seek_is_noticed_as_a_seek(page, live_server):
    prepare(page)
    stand_in_youtube(page)
    video = VideoFactory(provider="youtube", external_id="aqz-KE-bpKQ", members_only=False)
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    page.evaluate("window.__wp.player.play()")
    wait_js(page, "window.__wp.player.currentTime() > 0.5")

    # The member drags YouTube's own progress bar: the API has no seek event, only a time jump.
    page.evaluate("window.__standIn.youtubePlayer.seekTo(150)")

    wait_js(page, "window.__wp.events.some((e) => e[0] === 'seeked')")
    seeking = page.evaluate("window.__wp.events.find((e) => e[0] === 'seeking')[1]")
    assert seeking["to"] == pytest.approx(150, abs=0.5)
    assert seeking["from"] < 5


def test_a_removed_youtube_video_is_reported_as_a_playback_problem_once(page, live_server, standin: StandIn):
    prepare(page)
    stand_in_youtube(page)
    member = MemberFactory()
    log_in(page, live_server, member)
    video = VideoFactory(title="Removed", provider="youtube", external_id="gone0000000")

    page.goto(video.get_absolute_url())
    wait_for_player(page)

    page.wait_for_selector("[data-player-notice]:not([hidden])")
    assert ["error", {"code": 150, "unavailable": True}] in page.evaluate("window.__wp.events")
    problem = wait_until(
        lambda: VideoPlaybackProblem.objects.filter(video_id=video.pk, user_id=member.pk).first(), timeout=10
    )
    assert problem.code == "150"
    # A member's player only reports; the server's own check decides availability.
    assert Video.objects.get(pk=video.pk).is_unavailable is False
    # YouTube's oEmbed (the stand-in knows no such video) answers 404 to the server's check.
    checked = video_facts_refresh(video_id=video.pk)
    assert checked is not None
    assert (checked.is_unavailable, checked.unavailable_code) == (True, "oembed-404")
    screenshot(page, "videos-watch-youtube-unavailable")


def test_a_vimeo_video_plays_through_player_js_with_do_not_track(page, live_server):
    prepare(page)
    stand_in(
        page,
        script_url="https://player.vimeo.com/api/player.js",
        script=VIMEO_API,
        frame_pattern="https://player.vimeo.com/video/**",
        name="Vimeo",
    )
    member = MemberFactory()
    log_in(page, live_server, member)
    video = VideoFactory(title="The Vimeo player", provider="vimeo", external_id="76979871", duration=None)

    page.goto(video.get_absolute_url())
    wait_for_player(page)

    options = page.evaluate("window.__standIn.vimeo[0].options")
    assert options["id"] == 76979871
    assert options["dnt"] is True
    assert page.evaluate("window.__wp.player.duration()") == 62
    # One member's player is one vote for the duration, not the duration.
    vote = wait_until(
        lambda: VideoDurationVote.objects.filter(video_id=video.pk, user_id=member.pk).first(), timeout=10
    )
    assert vote.seconds == 62
    assert Video.objects.get(pk=video.pk).duration is None
    exercise_the_common_interface(page, seek_to=30)
    screenshot(page, "videos-watch-vimeo")


def test_an_unlisted_vimeo_video_is_embedded_with_its_hash(page, live_server):
    prepare(page)
    stand_in(
        page,
        script_url="https://player.vimeo.com/api/player.js",
        script=VIMEO_API,
        frame_pattern="https://player.vimeo.com/video/**",
        name="Vimeo",
    )
    video = VideoFactory(provider="vimeo", external_id="76979871:8272103f6e", members_only=False)

    page.goto(video.get_absolute_url())
    wait_for_player(page)

    assert page.evaluate("window.__standIn.vimeo[0].options.url") == "https://vimeo.com/76979871/8272103f6e"


def test_a_wistia_video_plays_through_the_wq_api(page, live_server):
    prepare(page)
    stand_in(
        page,
        script_url="https://fast.wistia.com/assets/external/E-v1.js",
        script=WISTIA_API,
        frame_pattern="https://fast.wistia.net/embed/iframe/**",
        name="Wistia",
    )
    log_in(page, live_server, MemberFactory(is_staff=True))
    video = VideoFactory(title="Wistia demo", provider="wistia", external_id="e4a27b971d", duration=None)

    page.goto(video.get_absolute_url())
    wait_for_player(page)

    created = page.evaluate("window.__standIn.wistia[0]")
    assert created["id"] == "e4a27b971d"
    assert created["src"].startswith("https://fast.wistia.net/embed/iframe/e4a27b971d?")
    assert "doNotTrack=true" in created["src"]
    # A staff preview fills the unknown duration.
    wait_until(lambda: Video.objects.get(pk=video.pk).duration == 95, timeout=10)
    exercise_the_common_interface(page, seek_to=40)
    page.evaluate("window.__wp.player.seek(94.5); window.__wp.player.play()")
    wait_js(page, "window.__wp.events.some((e) => e[0] === 'ended')")
    screenshot(page, "videos-watch-wistia")


# --- Facts read by the server, seen by staff and members ------------------------------------------


def staff_add_video(page, live_server, url: str, title: str = "") -> None:
    log_in(page, live_server, MemberFactory(is_staff=True, is_superuser=True))
    page.goto("/admin/videos/video/add/")
    page.get_by_label("Video URL").fill(url)
    page.get_by_label("Title").fill(title)
    page.get_by_role("button", name="Save", exact=True).click()


def test_staff_paste_a_vimeo_url_and_the_background_task_fills_title_thumbnail_and_duration(
    page, live_server, standin, monkeypatch
):
    # The task runs in this process (Celery's apply), when the admin's transaction commits: a
    # spawned worker cannot open the in-memory SQLite test database (see the report/notes).
    from videos import tasks

    monkeypatch.setattr(
        tasks.video_facts_refresh_task, "delay", lambda pk: tasks.video_facts_refresh_task.apply(args=(pk,))
    )
    prepare(page)
    standin.oembed["https://vimeo.com/76979871"] = vimeo_answer(standin, title="The Vimeo player", duration=62)
    staff_add_video(page, live_server, "https://vimeo.com/76979871")
    page.wait_for_url("**/admin/videos/video/")
    video = Video.objects.get(external_id="76979871")
    assert video.title == "The Vimeo player"
    # Nobody has watched it: the background task read the duration and made the cards.
    wait_until(lambda: Video.objects.get(pk=video.pk).facts_checked_at is not None, timeout=30)
    video.refresh_from_db()
    assert (video.duration, video.author_name, video.facts_error) == (62, "Vimeo Staff", "")
    assert video.card_image
    assert standin.count("/oembed/vimeo") == 2  # the form's title, the task's facts
    page.reload()
    row = page.locator("tr", has_text="The Vimeo player")
    assert "1:02" in row.inner_text()
    wait_js(page, "[...document.querySelectorAll('#result_list img')].some((i) => i.naturalWidth > 0)")
    screenshot(page, "videos-admin-facts-from-vimeo")


@pytest.mark.parametrize(
    ("url", "provider", "answer", "title", "duration"),
    [
        # YouTube's oEmbed has no duration: it stays unknown until a staff preview reports it.
        ("https://www.youtube.com/watch?v=aqz-KE-bpKQ", "youtube", youtube_answer, "Big Buck Bunny", None),
        ("https://home.wistia.com/medias/e4a27b971d", "wistia", wistia_answer, "Wistia demo", 95),
        # A self-hosted file: ffprobe reads the duration, ffmpeg the poster frame; staff type the title.
        ("FILE", "file", None, "Knife skills clip", 6),
    ],
)
def test_staff_paste_each_providers_url_and_the_server_fills_the_facts(
    page, live_server, standin, monkeypatch, url, provider, answer, title, duration
):
    from videos import tasks

    monkeypatch.setattr(
        tasks.video_facts_refresh_task, "delay", lambda pk: tasks.video_facts_refresh_task.apply(args=(pk,))
    )
    prepare(page)
    if answer is not None:
        standin.oembed[url] = answer(standin)
    else:
        from tests.videos.standins import SAMPLE_MP4

        standin.files["/media/sample.mp4"] = SAMPLE_MP4
        url = standin.url("/media/sample.mp4")

    staff_add_video(page, live_server, url, title="" if answer is not None else title)
    page.wait_for_url("**/admin/videos/video/")

    video = Video.objects.get(provider=provider)
    assert video.title == title
    wait_until(lambda: Video.objects.get(pk=video.pk).facts_checked_at is not None, timeout=30)
    video.refresh_from_db()
    assert video.facts_error == ""
    assert video.card_image  # served by us, not hotlinked
    if duration is None:
        assert video.duration is None
    else:
        assert video.duration == pytest.approx(duration, abs=1)
    page.reload()
    wait_js(page, "[...document.querySelectorAll('#result_list img')].some((i) => i.naturalWidth > 0)")
    screenshot(page, f"videos-admin-facts-from-{provider}")


def test_a_file_url_that_404s_is_flagged_at_once(page, live_server, standin):
    prepare(page)
    staff_add_video(page, live_server, standin.url("/media/missing.mp4"), title="Missing clip")

    error = page.locator(".errorlist").first
    assert "The file answered 404: check the link." in error.inner_text()
    assert not Video.objects.exists()
    screenshot(page, "videos-admin-file-404")


def test_a_video_going_dead_leaves_the_member_catalogue_after_one_check(page, live_server, standin):
    prepare(page)
    log_in(page, live_server, MemberFactory())
    alive = VideoFactory(title="Still here", provider="youtube", external_id="aqz-KE-bpKQ")
    dying = VideoFactory(title="Going away", provider="youtube", external_id="gone0000000")
    standin.oembed["https://www.youtube.com/watch?v=aqz-KE-bpKQ"] = youtube_answer(standin)
    standin.oembed["https://www.youtube.com/watch?v=gone0000000"] = youtube_answer(standin, title="Going away")
    call_command("videos_refresh", "--all")
    page.goto("/")
    assert page.locator(".video-card__title").all_inner_texts() == ["Still here", "Going away"] or set(
        page.locator(".video-card__title").all_inner_texts()
    ) == {"Still here", "Going away"}

    del standin.oembed["https://www.youtube.com/watch?v=gone0000000"]  # removed from YouTube
    call_command("videos_refresh", "--all")

    page.reload()
    assert page.locator(".video-card__title").all_inner_texts() == ["Still here"]
    screenshot(page, "videos-catalogue-after-check")
    page.goto(dying.get_absolute_url())
    assert "no longer available" in page.locator("[data-video-unavailable]").inner_text()
    assert alive.pk != dying.pk
