"""Read videos' facts from their hosts now (in this process): `videos_refresh --all | <id or slug>`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from videos.models import Video
from videos.services import video_facts_refresh


class Command(BaseCommand):
    help = "Read the facts of one video or of all (duration, author, thumbnail cards, availability) from their hosts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("video", nargs="?", help="A video id or slug.")
        parser.add_argument("--all", action="store_true", help="Every video, published or not.")

    def handle(self, *args: Any, **options: Any) -> None:
        ref: str | None = options["video"]
        if options["all"] == bool(ref):
            raise CommandError("Give either --all or one video id or slug.")
        if options["all"]:
            ids = list(Video.objects.order_by("pk").values_list("pk", flat=True))
        elif ref is not None:
            found = Video.objects.filter(pk=int(ref)) if ref.isdigit() else Video.objects.filter(slug=ref)
            ids = list(found.values_list("pk", flat=True))
            if not ids:
                raise CommandError(f"No video with id or slug {ref!r}.")
        failed = 0
        for video_id in ids:
            # Staff asked for a refresh: make the cards again too.
            video = video_facts_refresh(video_id=video_id, with_image=True)
            if video is None:
                continue
            state = "unavailable" if video.is_unavailable else "ok"
            line = f"{video.pk} {video.slug}: {state}"
            if video.facts_error:
                failed += 1
                line += f" ({video.facts_error})"
            self.stdout.write(line)
        self.stdout.write(f"{len(ids)} video(s) checked, {failed} with a problem.")
