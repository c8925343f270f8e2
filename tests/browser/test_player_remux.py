"""A remuxed ladder plays in a real chromium through nginx: the top rung is the source's own H.264
stream (copied, its own profile), the 240p rung encoded; hls.js plays both and switches between them
(videos/media.py `remux_suitable`; the full player test: tests/browser/test_player.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from tests.browser.test_player import VIDEO_JS, edge, member_page  # noqa: F401 (fixture)
from tests.browser.test_videos import wait_for_player, wait_js
from tests.conftest import CASSANDRA_DBS, screenshot
from tests.factories import MemberFactory
from tests.videos.test_transcode_remux import frame_hashes, source_make
from videos.models import Video
from videos.services import video_publish_set, video_transcode

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True),
]


def test_a_member_plays_a_ladder_whose_top_rung_was_copied_at_both_qualities(browser, edge, settings):  # noqa: F811
    source = source_make(Path(settings.MEDIA_WORK_DIR).parent / "fit.mp4", seconds=12, keyframe_seconds=2)
    video = Video.objects.create(title="Remuxed talk", slug="remuxed-talk", provider="file", external_id="upload:fit")
    video.source.save("fit.mp4", ContentFile(source.read_bytes()))
    Video.objects.filter(pk=video.pk).update(ladder_state="queued")
    assert video_transcode(video_id=video.pk) == "ready"
    video.refresh_from_db()
    assert frame_hashes(Path(settings.MEDIA_ROOT) / video.ladder_path / "1" / "index.m3u8") == frame_hashes(source)
    assert video_publish_set(videos=[video], published=True) == 1

    page = member_page(browser, edge, MemberFactory())
    page.goto(video.get_absolute_url())
    wait_for_player(page)
    assert page.evaluate(f"{VIDEO_JS}.src").startswith("blob:")  # hls.js
    menu = page.locator("[data-player-quality]")
    assert menu.locator("option").all_inner_texts()[1:] == ["360p", "240p"]
    page.evaluate(f"{VIDEO_JS}.muted = true; window.__wp.player.play()")
    wait_js(page, f"{VIDEO_JS}.currentTime > 0.5", timeout=20)
    for height in (360, 240, 360):
        menu.select_option(label=f"{height}p")
        wait_js(page, f"window.__wp.player.hls.levels[window.__wp.player.hls.currentLevel].height === {height}")
        wait_js(page, f"{VIDEO_JS}.videoHeight === {height}", timeout=20)
    # Past a segment boundary on the copied rung: it keeps playing across it.
    wait_js(page, f"{VIDEO_JS}.currentTime > 4.5 && !{VIDEO_JS}.paused && !{VIDEO_JS}.error", timeout=30)
    assert page.evaluate("window.__wp.csp") == []
    screenshot(page, "player-remuxed-top-rung")
