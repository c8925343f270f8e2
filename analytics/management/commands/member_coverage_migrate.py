"""Move members' coverage stored before the 64-second rows (member_videos.seconds) into them, once,
after upgrading: until then those members' progress bars count only what they watched since."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from analytics.drain import member_coverage_migrate


class Command(BaseCommand):
    help = (
        "Copy each member's old per-video coverage set (member_videos.seconds) into member_video_coverage "
        "and its counts, then delete the old set. Idempotent; safe while workers run."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        moved = member_coverage_migrate()
        self.stdout.write(f"moved the coverage of {moved} (member, video) rows")
