"""Rebuild staff-analytics rollups from the raw events, for one video, a date range, or everything."""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from analytics.rollups import rollup_days_all, top_videos_refresh, video_rollups_recompute
from videos.selectors import video_ids_all


class Command(BaseCommand):
    help = (
        "Recompute rollups from the per-video copy of raw events (video_sessions) with the beat job's own "
        "code, backfilling members' all-time coverage (video_members) from it. Safe while workers and the "
        "beat job run: the latest read wins. All-time figures cover the days rebuilt plus what the "
        "pipeline recorded itself."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--video", type=int, action="append", help="a video id (repeatable); default: all")
        parser.add_argument("--since", type=date.fromisoformat, help="first UTC day, YYYY-MM-DD")
        parser.add_argument("--until", type=date.fromisoformat, help="last UTC day, YYYY-MM-DD (default today)")
        parser.add_argument("--days", type=int, help="the last N UTC days (instead of --since)")

    def handle(
        self,
        *args: Any,
        video: list[int] | None,
        since: date | None,
        until: date | None,
        days: int | None,
        verbosity: int = 1,
        **options: Any,
    ) -> None:
        every_day = rollup_days_all()
        until = until or every_day[0]
        if days is not None and since is not None:
            raise CommandError("give --since or --days, not both")
        if days is not None:
            if days < 1:
                raise CommandError("--days must be at least 1")
            since = until - timedelta(days=days - 1)
        since = max(since or every_day[-1], every_day[-1])
        if since > until:
            raise CommandError("--since is after --until")
        day_list = [until - timedelta(days=i) for i in range((until - since).days + 1)]
        video_ids = video or video_ids_all()
        started = time.monotonic()
        # A step is one video-day recomputed, or one video's all-time figures.
        with tqdm(desc="rebuild", unit="step", file=sys.stderr, disable=not verbosity) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            result = video_rollups_recompute(
                video_days=dict.fromkeys(video_ids, day_list), progress=progress, backfill_coverage=True
            )
        top_videos_refresh()
        elapsed = time.monotonic() - started
        if verbosity:
            self.stdout.write(
                f"rebuilt {result.days:,} video-days of {result.videos:,} videos from {result.raw_events:,} raw events "
                f"in {elapsed:.1f}s ({result.raw_events / max(elapsed, 1e-9):,.0f} events/s)"
            )
