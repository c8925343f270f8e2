"""Load a small demo catalogue (idempotent): what `make run` shows on a fresh checkout."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.templatetags.static import static

from videos.models import Playlist, PlaylistItem, Video
from videos.providers import VideoSource
from videos.services import DuplicateVideo, video_create_from_source

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
                    members_only=members_only,
                    is_published=True,
                    position=position,
                )
            except DuplicateVideo:
                continue  # the same source is already there under another slug
            created += 1
        title, slug, video_slugs = PLAYLIST
        playlist, _ = Playlist.objects.get_or_create(
            slug=slug, defaults={"title": title, "is_published": True, "description": "Three short videos to try."}
        )
        for position, video_slug in enumerate(video_slugs, start=1):
            video = Video.objects.get(slug=video_slug)
            PlaylistItem.objects.get_or_create(playlist=playlist, video=video, defaults={"position": position})
        self.stdout.write(f"demo catalogue: {created} video(s) created, {len(DEMO) - created} already there")
