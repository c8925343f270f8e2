"""Staff upload a video in the admin (with a progress bar); once transcoded, a member plays its
HLS ladder through hls.js in a real chromium, from signed, session-bound URLs."""

from __future__ import annotations

import pytest

from tests.browser.test_videos import log_in, prepare, wait_for_player, wait_js
from tests.conftest import screenshot
from tests.factories import MemberFactory
from tests.videos.clips import clip_make
from videos.models import Video
from videos.services import video_publish_set, video_transcode

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_PROGRESS = """
document.addEventListener("DOMContentLoaded", () => {
  new MutationObserver(() => {
    const box = document.querySelector("[data-upload-progress]");
    if (!box) return;
    const shown = `${box.querySelector("progress").value} ${box.querySelector("span").textContent}`;
    const seen = (sessionStorage.getItem("wpProgress") || "").split("|");
    if (seen[seen.length - 1] !== shown) sessionStorage.setItem("wpProgress", [...seen, shown].join("|"));
  }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
});
"""


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_WORK_DIR = tmp_path / "work"
    settings.MEDIA_TRANSCODE_MIN_FREE_BYTES = 0
    return tmp_path


def test_staff_upload_a_clip_with_a_progress_bar_and_a_member_plays_its_ladder(page, live_server, media, monkeypatch):
    monkeypatch.setattr("videos.tasks.video_transcode_task.delay", lambda *_: None)  # transcoded below
    clip = clip_make(media / "talk.mp4", seconds=10, size="640x360")
    prepare(page)
    log_in(page, live_server, MemberFactory(is_staff=True, is_superuser=True))

    # What the progress bar showed, kept across the navigation that follows the save.
    page.add_init_script(RECORD_PROGRESS)
    page.goto("/admin/videos/video/add/")
    page.fill("#id_title", "Uploaded talk")
    page.set_input_files("#id_source", str(clip))
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/videos/video/")
    shown = page.evaluate("sessionStorage.getItem('wpProgress')").split("|")
    assert shown[-1] == "100 Uploaded; saving…"
    assert "Queued" in page.inner_text("#result_list")

    video = Video.objects.get()
    assert video_transcode(video_id=video.pk) == "ready"
    assert video_publish_set(videos=[video], published=True) == 1

    member_page = page.context.browser.new_context(base_url=live_server.url).new_page()
    prepare(member_page)
    log_in(member_page, live_server, MemberFactory())
    member_page.goto(video.get_absolute_url())
    wait_for_player(member_page)
    member_page.evaluate("window.__wp.player.play()")

    wait_js(member_page, "document.querySelector('.player video').currentTime > 1", timeout=30)
    assert member_page.evaluate("window.__wp.player.hls.levels.map((l) => l.height)") == [240, 360]
    assert member_page.evaluate("document.querySelector('.player video').src").startswith("blob:")
    assert member_page.evaluate("window.__wp.csp") == []
    assert member_page.evaluate("window.__wp.player.duration()") == pytest.approx(10, abs=0.2)
    screenshot(member_page, "videos-watch-upload")
    member_page.context.close()


def test_a_part_whose_connection_drops_is_sent_again_and_the_stored_file_is_the_one_chosen(
    page, live_server, media, monkeypatch
):
    monkeypatch.setattr("videos.tasks.video_transcode_task.delay", lambda *_: None)
    clip = clip_make(media / "talk.mp4", seconds=2, size="320x180")
    prepare(page)
    log_in(page, live_server, MemberFactory(is_staff=True, is_superuser=True))
    dropped: list[str] = []

    def drop_once(route):
        if route.request.method == "PUT" and not dropped:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/admin/videos/video/upload/*/part/*/", drop_once)
    page.add_init_script(RECORD_PROGRESS)
    page.goto("/admin/videos/video/add/")
    page.fill("#id_title", "Resumed talk")
    page.set_input_files("#id_source", str(clip))
    page.click("input[name=_save]")
    page.wait_for_selector("text=trying again")
    screenshot(page, "upload-retrying")
    page.wait_for_url("**/admin/videos/video/", timeout=30_000)

    shown = page.evaluate("sessionStorage.getItem('wpProgress')").split("|")
    assert any("Part 1: connection lost; trying again in 1 s" in line for line in shown), shown
    assert len(dropped) == 1
    video = Video.objects.get()
    assert (media / "media" / video.source.name).read_bytes() == clip.read_bytes()
