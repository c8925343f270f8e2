"""Uploaded sources that are not plain landscape constant-rate clips (issue 21's bad input), beyond
the ones tests/videos/test_transcode.py covers (not a video, empty, truncated, audio only, no audio
track, odd dimensions): each gets either a ladder or a clear reason, never a half-published video."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.videos.clips import clip_make
from tests.videos.test_transcode import _ladder, _upload, media  # noqa: F401 (the fixture)
from videos.media import TranscodeFailed, source_facts_read
from videos.services import video_transcode

pytestmark = pytest.mark.django_db


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=60)


def test_a_portrait_phone_video_is_laddered_as_shown_not_as_stored(media):  # noqa: F811
    stored = clip_make(media / "stored.mp4", seconds=2, size="320x180")
    _ffmpeg("-i", str(stored), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(media / "portrait.mp4"))
    video = _upload(media / "portrait.mp4")

    assert video_transcode(video_id=video.pk) == "ready"

    video.refresh_from_db()
    assert (video.width, video.height) == (180, 320)
    master, _ = _ladder(media, video)
    # Turned upright: as stored (180 px tall) it would have had one 180-px rung, no 240p.
    assert [p.stream_info.resolution for p in master.playlists] == [(136, 240)]


def test_a_variable_frame_rate_source_becomes_a_complete_ladder_of_its_duration(media):  # noqa: F811
    # 25 frames in the first second, then one frame in five: irregular frame durations.
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "4",
        "-vf", "select='lt(n,25)+not(mod(n,5))'", "-vsync", "vfr",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(media / "vfr.mp4"),
    )  # fmt: skip
    video = _upload(media / "vfr.mp4")

    assert video_transcode(video_id=video.pk) == "ready"

    video.refresh_from_db()
    _, renditions = _ladder(media, video)
    assert video.duration == 4
    assert all(abs(sum(s.duration for s in r.segments) - 4) < 0.5 for r in renditions)


def test_a_file_ffprobe_cannot_parse_fails_with_its_reason(media):  # noqa: F811
    # An MP4's first box, then bytes that are no box at all.
    broken = media / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 64)
    video = _upload(broken)

    assert video_transcode(video_id=video.pk) == "failed"

    video.refresh_from_db()
    assert video.ladder_error == "The file is not a video ffprobe can read (MP4, MOV, MKV, WebM or MPEG-TS)."
    assert (video.ladder_path, video.is_published) == ("", False)


def _looped(folder: Path, name: str, hours: int) -> Path:
    """A `hours`-long file made in seconds: 10 minutes at 1 frame/s and 16x16, stream-copied in a loop."""
    part = folder / "ten-minutes.mp4"
    if not part.exists():
        clip_make(part, seconds=600, size="16x16", rate=1, audio=False)
    _ffmpeg("-stream_loop", str(hours * 6 - 1), "-i", str(part), "-c", "copy", str(folder / name))
    return folder / name


def test_a_ten_hour_file_is_accepted_with_its_duration_and_one_over_a_day_is_refused(media):  # noqa: F811
    # The product's choice: up to 24 hours is a video (a long stream's recording); the transcode
    # then takes its time (ffmpeg's limit is 10x the duration). Past a day it is a mistake.
    assert round(source_facts_read(path=_looped(media, "ten-hours.mp4", 10)).duration) == 10 * 3600

    with pytest.raises(TranscodeFailed, match="longer than 24 hours"):
        source_facts_read(path=_looped(media, "day-and-more.mp4", 25))
