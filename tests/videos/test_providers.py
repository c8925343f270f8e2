"""parse_video_url: the URL shapes staff really paste, and the ones the site must refuse."""

from __future__ import annotations

import dataclasses

import pytest

from videos.providers import UnsupportedVideoURL, VideoSource, parse_timestamp, parse_video_url

YT = "dQw4w9WgXcQ"
ACCEPTED = [
    # YouTube
    (f"https://www.youtube.com/watch?v={YT}", "youtube", YT, None),
    (f"https://youtube.com/watch?v={YT}", "youtube", YT, None),
    (f"http://www.youtube.com/watch?v={YT}", "youtube", YT, None),
    (f"www.youtube.com/watch?v={YT}", "youtube", YT, None),
    (f"https://www.youtube.com/watch?v={YT}&list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs&index=2", "youtube", YT, None),
    (f"https://www.youtube.com/watch?feature=share&v={YT}&ab_channel=RickAstley", "youtube", YT, None),
    (f"https://www.youtube.com/watch?v={YT}&t=90", "youtube", YT, 90),
    (f"https://www.youtube.com/watch?v={YT}&t=90s", "youtube", YT, 90),
    (f"https://www.youtube.com/watch?v={YT}&t=1m30s", "youtube", YT, 90),
    (f"https://www.youtube.com/watch?v={YT}&t=1h2m3s", "youtube", YT, 3723),
    (f"https://m.youtube.com/watch?v={YT}", "youtube", YT, None),
    (f"https://music.youtube.com/watch?v={YT}&si=abcdef", "youtube", YT, None),
    (f"https://youtu.be/{YT}", "youtube", YT, None),
    (f"https://youtu.be/{YT}?t=42", "youtube", YT, 42),
    (f"https://youtu.be/{YT}?si=Xb2Ap0Qz_kLmN3Rt", "youtube", YT, None),
    (f"youtu.be/{YT}", "youtube", YT, None),
    (f"https://www.youtube.com/embed/{YT}", "youtube", YT, None),
    (f"https://www.youtube.com/embed/{YT}?start=30&autoplay=1", "youtube", YT, 30),
    (f"https://www.youtube-nocookie.com/embed/{YT}?rel=0", "youtube", YT, None),
    (f"https://www.youtube.com/shorts/{YT}", "youtube", YT, None),
    (f"https://youtube.com/shorts/{YT}?feature=share", "youtube", YT, None),
    (f"https://www.youtube.com/live/{YT}?si=abc", "youtube", YT, None),
    (f"https://www.youtube.com/v/{YT}", "youtube", YT, None),
    (f"  https://WWW.YOUTUBE.COM/watch?v={YT}  ", "youtube", YT, None),
    ("https://www.youtube.com/watch?v=aqz-KE-bpKQ", "youtube", "aqz-KE-bpKQ", None),
    ("https://youtu.be/_OBlgSz8sSM", "youtube", "_OBlgSz8sSM", None),
    # Vimeo
    ("https://vimeo.com/76979871", "vimeo", "76979871", None),
    ("https://www.vimeo.com/76979871", "vimeo", "76979871", None),
    ("https://vimeo.com/76979871#t=1m30s", "vimeo", "76979871", 90),
    ("https://vimeo.com/76979871/8272103f6e", "vimeo", "76979871:8272103f6e", None),
    ("https://player.vimeo.com/video/76979871", "vimeo", "76979871", None),
    ("https://player.vimeo.com/video/76979871?h=8272103f6e&badge=0", "vimeo", "76979871:8272103f6e", None),
    ("https://vimeo.com/channels/staffpicks/76979871", "vimeo", "76979871", None),
    ("https://vimeo.com/groups/motion/videos/76979871", "vimeo", "76979871", None),
    # Wistia
    ("https://home.wistia.com/medias/e4a27b971d", "wistia", "e4a27b971d", None),
    ("https://acme.wistia.com/medias/e4a27b971d?wtime=45", "wistia", "e4a27b971d", 45),
    ("https://fast.wistia.net/embed/iframe/e4a27b971d", "wistia", "e4a27b971d", None),
    ("https://fast.wistia.net/embed/iframe/e4a27b971d?videoFoam=true&time=1m", "wistia", "e4a27b971d", 60),
    ("https://fast.wistia.com/embed/medias/e4a27b971d", "wistia", "e4a27b971d", None),
    ("https://fast.wistia.com/embed/medias/e4a27b971d.jsonp", "wistia", "e4a27b971d", None),
    ("https://wi.st/medias/e4a27b971d", "wistia", "e4a27b971d", None),
    # Self-hosted files
    ("https://cdn.example.com/videos/intro.mp4", "file", "https://cdn.example.com/videos/intro.mp4", None),
    ("https://CDN.Example.com/videos/Intro.MP4", "file", "https://cdn.example.com/videos/Intro.MP4", None),
    ("https://media.example.org/a/b/clip.webm#t=12", "file", "https://media.example.org/a/b/clip.webm", 12),
    ("https://stream.example.net/hls/master.m3u8", "file", "https://stream.example.net/hls/master.m3u8", None),
    (
        "https://files.example.com:8443/v.mp4?token=abc&expires=1",
        "file",
        "https://files.example.com:8443/v.mp4?token=abc&expires=1",
        None,
    ),
    ("https://Bücher.example/v.mp4", "file", "https://xn--bcher-kva.example/v.mp4", None),
    ("https://192.0.2.10/v.mp4", "file", "https://192.0.2.10/v.mp4", None),
    ("https://[2001:DB8::1]:8443/v.mp4", "file", "https://[2001:db8::1]:8443/v.mp4", None),
]

REJECTED = [
    ("", "empty"),
    ("   ", "empty"),
    ("javascript:alert(document.cookie)", "javascript"),
    ("JavaScript:alert(1)//https://youtu.be/dQw4w9WgXcQ", "javascript"),
    ("data:text/html,<script>alert(1)</script>", "data"),
    ("ftp://example.com/video.mp4", "ftp"),
    ("https://example.com/watch?v=dQw4w9WgXcQ", "not a supported video host"),
    ("https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ", "not a supported video host"),
    ("https://dailymotion.com/video/x8abcd", "not a supported video host"),
    ("https://www.youtube.com/playlist?list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs", "Playlist"),
    ("https://www.youtube.com/watch?list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs", "Playlist"),
    ("https://www.youtube.com/@RickAstleyYT", "does not point at one video"),
    ("https://www.youtube.com/watch?v=short", "is not a YouTube video id"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ!!", "is not a YouTube video id"),
    ("https://youtu.be/", "does not point at one video"),
    ("https://www.youtube.com/embed/<script>", "is not a YouTube video id"),
    ("https://vimeo.com/showcase/123456", "showcases"),
    ("https://vimeo.com/user12345", "does not point at one video"),
    ("https://player.vimeo.com/video/abc", "is not a Vimeo video id"),
    ("https://vimeo.com/76979871/NOT-A-HASH", "hash"),
    ("https://home.wistia.com/medias/tooshort", "is not a Wistia media id"),
    ("https://home.wistia.com/projects/abc123", "does not point at one media"),
    ("https://fast.wistia.net/embed/playlists/e4a27b971d", "does not point at one media"),
    ("http://cdn.example.com/video.mp4", "https"),
    ("https://cdn.example.com/video.avi", "not a supported video host"),
    ("https://user:secret@cdn.example.com/video.mp4", "user name or password"),
    ("https://cdn.example.com:99999/video.mp4", "malformed"),
    ("https://[::1/video.mp4", "malformed"),
    # Finding 8: a file URL's host went into the Content-Security-Policy header, adding a directive.
    ("https://cdn.example.com; script-src-elem 'unsafe-inline' *; x/clip.mp4", "may not contain"),
    ("https://cdn.example.com,evil.example/clip.mp4", "may not contain"),
    ("https://cdn.example.com/a b.mp4", "may not contain"),
    ("https://cdn.example.com/a\tb.mp4", "may not contain"),
    ("https://cdn.example.com/a\nb.mp4", "may not contain"),
    ("https://cdn.example.com\\evil.example/clip.mp4", "may not contain"),
    ('https://cdn.example.com/"onload=x.mp4', "may not contain"),
    ("https://cdn.exa_mple.com/clip.mp4", "not a valid host name"),
    ("https://-cdn.example.com/clip.mp4", "not a valid host name"),
    ("https://cdn..example.com/clip.mp4", "not a valid host name"),
    (f"https://{'a' * 64}.example.com/clip.mp4", "not a valid host name"),
    ("https://[fe80::zz]/clip.mp4", "malformed"),
    ("https://cdn.example.com:0/clip.mp4", "bad port"),
    ("https://user@cdn.example.com/clip.mp4", "user name or password"),
]


@pytest.mark.parametrize(("url", "provider", "external_id", "start"), ACCEPTED)
def test_a_supported_url_gives_its_provider_id_and_start(url, provider, external_id, start):
    assert parse_video_url(url) == VideoSource(provider, external_id, start)


@pytest.mark.parametrize(("url", "reason"), REJECTED)
def test_an_unsupported_url_is_refused_saying_why_and_what_is_accepted(url, reason):
    with pytest.raises(UnsupportedVideoURL) as excinfo:
        parse_video_url(url)

    message = str(excinfo.value)
    assert reason.lower() in message.lower()
    assert "youtube" in message.lower()
    assert ".m3u8" in message
    assert isinstance(excinfo.value, ValueError)


def test_the_table_covers_at_least_30_accepted_and_15_rejected_shapes():
    assert len(ACCEPTED) >= 30
    assert len(REJECTED) >= 15


def test_a_video_source_is_immutable():
    source = parse_video_url(f"https://youtu.be/{YT}")

    with pytest.raises(dataclasses.FrozenInstanceError):
        source.external_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("1m30s", 90),
        ("1h", 3600),
        ("2m", 120),
        ("0", None),
        ("", None),
        ("abc", None),
        (None, None),
        ("1m30x", None),
        ("24h", 86400),
        # Finding 6: 5,000 digits made int() raise (a 500 on the watch page); absurd values are unreadable.
        ("1" * 5000, None),
        ("9" * 17, None),
        ("86401", None),
        ("24h1s", None),
        ("999999h", None),
        ("\u0669\u0660", None),
    ],
)
def test_timestamps_read_as_seconds(value, seconds):
    assert parse_timestamp(value) == seconds
