"""Recount the students report (course_members) of one course or of every course, from member_videos."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.students import course_members_recount
from videos.selectors import playlist_ids_all


class Command(BaseCommand):
    help = (
        "Recompute every member's row of the students report, for one playlist or all, from their "
        "member_videos rows (the members already in the report and every member with coverage of the "
        "course's videos). Idempotent and safe beside running workers: the latest read wins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--playlist", type=int, action="append", help="a playlist id (repeatable); default: all")

    def handle(self, *args: Any, playlist: list[int] | None, **options: Any) -> None:
        for playlist_id in playlist or playlist_ids_all():
            started = time.monotonic()
            changed = course_members_recount(playlist_id=playlist_id)
            self.stdout.write(
                f"playlist {playlist_id}: {changed} member row(s) changed in {time.monotonic() - started:.1f}s"
            )
