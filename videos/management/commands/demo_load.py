"""Load a small demo catalogue (idempotent): what `make run` shows on a fresh checkout."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from videos.models import Video

DEMO = [
    ("Big Buck Bunny", "big-buck-bunny", Video.Provider.YOUTUBE, "aqz-KE-bpKQ", 635, False),
    ("Sintel", "sintel", Video.Provider.YOUTUBE, "eRsGyueVLvQ", 888, True),
    ("Tears of Steel", "tears-of-steel", Video.Provider.YOUTUBE, "R6MlUcmOul8", 734, True),
]


class Command(BaseCommand):
    help = "Create the demo catalogue if it is missing."

    def handle(self, *args: Any, **options: Any) -> None:
        created = 0
        for title, slug, provider, external_id, duration, members_only in DEMO:
            _, was_created = Video.objects.get_or_create(
                slug=slug,
                defaults={
                    "title": title,
                    "provider": provider,
                    "external_id": external_id,
                    "duration": duration,
                    "members_only": members_only,
                    "is_published": True,
                    "published_at": timezone.now(),
                },
            )
            created += was_created
        self.stdout.write(f"demo catalogue: {created} video(s) created, {len(DEMO) - created} already there")
