"""`manage.py pipeline_status`: the watch pipeline at a glance, for an operator at a terminal.

Queue depths (stream, pending, dead letters, Celery queues), the oldest queued batch's age, which
workers answer a ping, when events were last written, the write rate over the last minute, and the
warnings /healthz shows (backlog or dead letters at 80 % of their cap).
`--watch N` refreshes every N seconds; `--json` prints one object (for scripts).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.pipeline import pipeline_depths, pipeline_summary, pipeline_warnings
from config.celery_app import app as celery_app
from config.metrics import last_write_at, written_per_second


def pipeline_snapshot(*, ping_timeout: float = 1.0) -> dict[str, Any]:
    depths = pipeline_depths()
    # No limit: an operator wants every worker that answers, so this waits the whole timeout.
    replies = celery_app.control.ping(timeout=ping_timeout) or []
    last = last_write_at()
    return {
        **pipeline_summary(depths),
        "warnings": pipeline_warnings(depths),
        "workers": sorted(name for reply in replies for name in reply),
        "last_write": datetime.fromtimestamp(last, tz=UTC).isoformat(timespec="seconds") if last else None,
        "last_write_seconds_ago": round(time.time() - last, 1) if last else None,
        "events_per_second_last_minute": round(written_per_second(), 1),
    }


class Command(BaseCommand):
    help = "Show the watch pipeline at a glance: queue depths, workers alive, last write, events/s."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--watch", type=float, metavar="SECONDS", help="refresh every SECONDS until Ctrl-C")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            snapshot = pipeline_snapshot()
            if options["json"]:
                self.stdout.write(json.dumps(snapshot))
            else:
                self.stdout.write(self._render(snapshot))
            if not options["watch"]:
                return
            time.sleep(options["watch"])

    def _render(self, s: dict[str, Any]) -> str:
        age = s["oldest_batch_age_seconds"]
        lines = [
            f"watch pipeline at {datetime.now(tz=UTC).isoformat(timespec='seconds')}",
            "  queue depths:",
            *(f"    {name:<14} {depth:>8}" for name, depth in s["queues"].items()),
            f"    {'(pending)':<14} {s['watch_stream_pending']:>8}   delivered to a drain, not yet acknowledged",
            f"    {'(dead letters)':<14} {s['watch_dead_letters']:>8}",
            f"  oldest queued batch: {'none queued' if age is None else f'{age} s old'}",
            f"  workers alive ({len(s['workers'])}): {', '.join(s['workers']) or 'NONE answered ping'}",
            f"  last write: {s['last_write'] or 'never'}"
            + (f" ({s['last_write_seconds_ago']} s ago)" if s["last_write"] else ""),
            f"  events written/s over the last minute: {s['events_per_second_last_minute']}",
            *(f"  WARNING: {warning}" for warning in s["warnings"]),
        ]
        return "\n".join(lines)
