"""Load a small demo catalogue (idempotent): what `make run` shows on a fresh checkout."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand
from django.templatetags.static import static

from videos.models import AccessLevel, LadderState, Playlist, PlaylistItem, Video
from videos.providers import VideoSource
from videos.services import (
    DuplicateVideo,
    video_create_from_source,
    video_poster_cards_make,
    video_publish_set,
    video_transcode,
)

P = Video.Provider
# (title, slug, provider, external id, duration, members only, description)
DEMO: list[tuple[str, str, str, str, int | None, bool, str]] = [
    (
        "Test pattern (self-hosted MP4)",
        "test-pattern-mp4",
        P.FILE,
        # The sample clip the site ships (bin/make-sample-clips): plays with no internet at all.
        static("video/sample.mp4"),
        6,
        False,
        "Six seconds of colour bars and a tone, served by the site itself.",
    ),
    (
        "Test pattern (self-hosted HLS)",
        "test-pattern-hls",
        P.FILE,
        static("video/hls/sample.m3u8"),
        None,
        True,
        "The same clip as an HLS stream, played through hls.js.",
    ),
    ("Big Buck Bunny", "big-buck-bunny", P.YOUTUBE, "aqz-KE-bpKQ", 635, False, "Blender Foundation, 2008."),
    ("Sintel", "sintel", P.YOUTUBE, "eRsGyueVLvQ", 888, True, "Blender Foundation, 2010."),
    ("Tears of Steel", "tears-of-steel", P.YOUTUBE, "R6MlUcmOul8", 734, True, "Blender Foundation, 2012."),
    ("The Vimeo player", "vimeo-player", P.VIMEO, "76979871", 62, True, "Vimeo's own player demo."),
    ("Wistia demo", "wistia-demo", P.WISTIA, "j38ihh83m5", None, True, "A Wistia-hosted demo video."),
]
# An uploaded video, made here with ffmpeg's test sources (no internet) and transcoded at once: the
# members-only HLS ladder served through signed URLs (videos/media.py).
UPLOAD = ("Test pattern (uploaded, members only)", "test-pattern-upload", 20, "1280x720")
PLAYLIST = ("Getting started", "getting-started", ["test-pattern-mp4", "test-pattern-hls", "big-buck-bunny"])


class Command(BaseCommand):
    help = "Create the demo catalogue if it is missing."

    def handle(self, *args: Any, **options: Any) -> None:
        created = 0
        for position, (title, slug, provider, external_id, duration, members_only, description) in enumerate(DEMO):
            if Video.objects.filter(slug=slug).exists():
                continue
            try:
                # The one way a video enters the catalogue outside the admin form (duplicates refused).
                video_create_from_source(
                    source=VideoSource(provider=provider, external_id=external_id),  # type: ignore[arg-type]
                    title=title,
                    slug=slug,
                    description=description,
                    duration=duration,
                    access=AccessLevel.MEMBERS if members_only else AccessLevel.PUBLIC,
                    is_published=True,
                    position=position,
                )
            except DuplicateVideo:
                continue  # the same source is already there under another slug
            created += 1
        created += self._upload_demo()
        title, slug, video_slugs = PLAYLIST
        playlist, _ = Playlist.objects.get_or_create(
            slug=slug, defaults={"title": title, "is_published": True, "description": "Three short videos to try."}
        )
        for position, video_slug in enumerate(video_slugs, start=1):
            video = Video.objects.get(slug=video_slug)
            PlaylistItem.objects.get_or_create(playlist=playlist, video=video, defaults={"position": position})
        self.stdout.write(f"demo catalogue: {created} video(s) created, {len(DEMO) + 1 - created} already there")

    def _upload_demo(self) -> int:
        title, slug, seconds, size = UPLOAD
        if Video.objects.filter(slug=slug).exists():
            return 0
        with tempfile.TemporaryDirectory(prefix="watchpoint-demo-") as directory:
            clip = Path(directory) / "test-pattern.mp4"
            made = subprocess.run(  # noqa: S603 (our arguments)
                [
                    settings.FFMPEG_BINARY,
                    *("-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30"),
                    *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds)),
                    *("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)),
                ],
                capture_output=True,
                check=False,
            )
            if made.returncode != 0:
                self.stderr.write(f"demo upload skipped: ffmpeg could not make the clip ({made.stderr[-300:]!r})")
                return 0
            video = Video.objects.create(
                title=title,
                slug=slug,
                provider=Video.Provider.FILE,
                external_id=f"upload:{slug}",
                description="Twenty seconds of a test pattern, uploaded and transcoded into an HLS ladder.",
                access=AccessLevel.MEMBERS,
                position=len(DEMO),
                ladder_state=LadderState.QUEUED,
            )
            with open(clip, "rb") as handle:
                video.source.save("test-pattern.mp4", File(handle))
        outcome = video_transcode(video_id=video.pk)
        if outcome != "ready":
            video.refresh_from_db()
            self.stderr.write(f"demo upload not transcoded ({outcome}): {video.ladder_error}")
            return 1
        video_poster_cards_make(video_id=video.pk)
        video_publish_set(videos=[video], published=True)
        return 1
