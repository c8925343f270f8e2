"""Generate synthetic watch traffic through the real pipeline (stream → Celery workers → Cassandra)."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from accounts.services import member_demo_ensure
from analytics.acceptance import watch_batch_enqueue
from analytics.stream import DRAIN_WAKE_KEY, stream_client
from analytics.synthetic import SyntheticVideo, traffic_batches
from videos.selectors import video_published_durations


class Command(BaseCommand):
    help = (
        "Simulate members watching the published catalogue (pauses, seeks, re-watches, drop-off) and "
        "hand every batch to the same stream the watch endpoint writes; running workers store them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=50)
        parser.add_argument("--sessions", type=int, default=500)
        parser.add_argument("--days", type=float, default=14.0, help="spread sessions over the last N days (≤ 30)")
        parser.add_argument("--seed", type=int, default=1)

    def handle(
        self, *args: Any, members: int, sessions: int, days: float, seed: int, verbosity: int = 1, **options: Any
    ) -> None:
        if not 0 < days <= 30:
            raise CommandError("--days must be within (0, 30]: the endpoint refuses older events too")
        videos = [SyntheticVideo(pk, duration) for pk, duration in video_published_durations().items() if duration]
        if not videos:
            raise CommandError("no published video with a known duration: run `manage.py demo_load` first")
        user_ids = [member_demo_ensure(index=i).pk for i in range(members)]
        done_sessions, batches, events, last_session = 0, 0, 0, None
        with tqdm(total=sessions, unit="session", file=sys.stderr, disable=not verbosity) as bar:
            for batch in traffic_batches(
                seed=seed,
                user_ids=user_ids,
                videos=videos,
                sessions=sessions,
                now_ms=int(time.time() * 1000),
                spread_days=days,
            ):
                watch_batch_enqueue(batch=batch, claims=None)
                batches += 1
                events += len(batch.events)
                if batch.session_id != last_session:
                    done_sessions += 1
                    last_session = batch.session_id
                    bar.update(1)
        stream_client().delete(DRAIN_WAKE_KEY)
        from analytics.tasks import watch_stream_drain_task

        watch_stream_drain_task.delay()
        self.stdout.write(f"queued {events:,} events in {batches:,} batches from {done_sessions} sessions")
