"""A source already fit to be its top rung (H.264 4:2:0 at a rung's height and bitrate, a keyframe at
every multiple of the segment length) is copied into it, not re-encoded; the other rungs are encoded
as ever and every rung still cuts its segments on the same frames (videos/media.py `remux_suitable`,
`ladder_build`). Any other source is encoded whole, and a copy that would not line up is rebuilt."""

from __future__ import annotations

import subprocess
from pathlib import Path

import m3u8
import pytest

import videos.media
from tests.videos.test_transcode import _ladder, _upload, media  # noqa: F401 (fixture)
from videos.media import ladder_plan, remux_suitable, source_facts_read
from videos.services import video_transcode

pytestmark = pytest.mark.django_db


def source_make(
    path: Path,
    *,
    seconds: int = 9,
    size: str = "640x360",
    rate: int = 25,
    keyframe_seconds: float = 2,
    kbps: int = 500,
    pix_fmt: str = "yuv420p",
) -> Path:
    """An H.264 + AAC MP4 with a keyframe exactly every `keyframe_seconds` (no scene-cut ones)."""
    gop = round(keyframe_seconds * rate)
    command = [
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", pix_fmt,
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k",
        "-c:a", "aac", "-movflags", "+faststart", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=120)
    return path


def frame_hashes(path: Path, frames: int = 60) -> list[str]:
    """The MD5 of each of the first decoded frames: equal only for the same pictures, bit for bit."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-frames:v", str(frames), "-f", "framemd5", "-"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return [line.rsplit(",", 1)[-1].strip() for line in done.stdout.decode().splitlines() if not line.startswith("#")]


def suitable(path: Path) -> bool:
    facts = source_facts_read(path=path)
    return remux_suitable(path=path, facts=facts, top=ladder_plan(height=facts.height)[-1])


def segment_durations(renditions: list[m3u8.M3U8]) -> list[list[float]]:
    return [[float(s.duration) for s in r.segments] for r in renditions]


def test_a_suitable_source_is_copied_into_its_top_rung_and_the_rungs_stay_aligned(db, media):  # noqa: F811
    source = source_make(media / "fit.mp4")
    assert suitable(source)
    video = _upload(source)

    assert video_transcode(video_id=video.pk) == "ready"

    video.refresh_from_db()
    master, renditions = _ladder(media, video)
    assert [p.stream_info.resolution for p in master.playlists] == [(426, 240), (640, 360)]
    assert all(p.stream_info.bandwidth > 0 for p in master.playlists)
    # Named as the encoded rungs are (ffmpeg leaves a copied stream's out): the source's profile
    # (ultrafast's Constrained Baseline, 42 c0) and level (3.0, 1e) here.
    assert master.playlists[-1].stream_info.codecs == "avc1.42c01e,mp4a.40.2"
    top = media / "media" / video.ladder_path / master.playlists[-1].uri
    # The top rung is the source's own pictures (a re-encode, even at the same size, is lossy).
    assert frame_hashes(top) == frame_hashes(source)
    assert frame_hashes(media / "media" / video.ladder_path / master.playlists[0].uri) != frame_hashes(source)
    durations = segment_durations(renditions)
    assert durations[0] == durations[1] == [4.0, 4.0, 1.0]


@pytest.mark.parametrize(
    ("why", "options"),
    [
        ("keyframes every 3 s: not on the 4-s boundaries", {"keyframe_seconds": 3}),
        ("not a rung's height", {"size": "640x400"}),
        ("4:4:4, which many players cannot decode", {"pix_fmt": "yuv444p"}),
        ("more than the rung's bitrate", {"kbps": 2000}),
    ],
)
def test_an_unsuitable_source_is_not_copied(media, why, options):  # noqa: F811
    assert suitable(source_make(media / "src.mp4", **options)) is False, why


def test_an_unsuitable_source_is_encoded_into_every_rung_aligned(db, media):  # noqa: F811
    source = source_make(media / "gop3.mp4", keyframe_seconds=3)
    video = _upload(source)

    assert video_transcode(video_id=video.pk) == "ready"

    video.refresh_from_db()
    master, renditions = _ladder(media, video)
    assert frame_hashes(media / "media" / video.ladder_path / master.playlists[-1].uri) != frame_hashes(source)
    durations = segment_durations(renditions)
    assert durations[0] == durations[1] == [4.0, 4.0, 1.0]


def test_a_copy_whose_segments_would_not_line_up_is_rebuilt_with_every_rung_encoded(db, media, monkeypatch):  # noqa: F811
    # The prediction wrong on purpose: keyframes every 3 s, said to be fit. The copied rung would
    # cut at 6 s and 9 s, the encoded one at 4 s and 8 s: the ladder is built again, all encoded.
    source = source_make(media / "gop3.mp4", keyframe_seconds=3)
    monkeypatch.setattr(videos.media, "remux_suitable", lambda **_: True)
    video = _upload(source)

    assert video_transcode(video_id=video.pk) == "ready"

    video.refresh_from_db()
    master, renditions = _ladder(media, video)
    durations = segment_durations(renditions)
    assert durations[0] == durations[1] == [4.0, 4.0, 1.0]
    assert frame_hashes(media / "media" / video.ladder_path / master.playlists[-1].uri) != frame_hashes(source)
