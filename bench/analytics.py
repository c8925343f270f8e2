"""Stages 6-7: rollup recomputation of one video with --analytics-events raw events (stored in-process
through the pipeline's own store, not over HTTP), rebuilt by the beat job's code; then the staff
analytics page's server time for that video (Django test client in process, 30-day range)."""

from __future__ import annotations

import argparse
import random
import statistics
import time

from accounts.services import member_demo_ensure
from bench.common import log
from videos.models import Video

PLAIN_STATIC = "django.contrib.staticfiles.storage.StaticFilesStorage"


def stage_analytics(events: int, members: int, page_requests: int) -> dict[str, float]:
    """Fill one video with `events` raw events, rebuild its rollups, then time its admin page."""
    from datetime import timedelta

    from django.conf import settings
    from django.test import Client, override_settings
    from django.urls import reverse

    from analytics.drain import watch_batches_store
    from analytics.rollups import rollup_days_all, video_rollups_recompute
    from analytics.synthetic import SyntheticVideo, session_batches

    video, _ = Video.objects.get_or_create(
        slug="bench-analytics",
        defaults={
            "title": "Bench analytics",
            "provider": "youtube",
            "external_id": "benchanalytics",
            "duration": 1200,
            "is_published": True,
        },
    )
    users = [member_demo_ensure(index=20_000 + i).pk for i in range(members)]
    rng = random.Random(11)
    now_ms = int(time.time() * 1000)
    target = SyntheticVideo(video.pk, 1200)
    stored, queued, pending, started = 0, 0, [], time.perf_counter()
    while stored + queued < events:
        start = now_ms - int(rng.random() * 29 * 86_400_000) - 3_600_000
        for batch in session_batches(rng=rng, user_id=rng.choice(users), video=target, start_ms=start):
            pending.append(batch)
            queued += len(batch.events)
        if len(pending) >= 2000:
            stored += watch_batches_store(batches=pending)
            pending, queued = [], 0
    stored += watch_batches_store(batches=pending)
    fill_s = time.perf_counter() - started
    log(f"stage 6: {stored:,} raw events stored in {fill_s:.1f}s; rebuilding the video's rollups")

    today = rollup_days_all()[0]
    days = [today - timedelta(days=i) for i in range(31)]
    started = time.perf_counter()
    result = video_rollups_recompute(video_days={video.pk: days})
    rebuild_s = time.perf_counter() - started

    staff = member_demo_ensure(index=29_999)
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    client = Client(HTTP_HOST="localhost")
    client.force_login(staff)
    url = reverse("analytics_admin:video", args=[video.pk])
    samples = []
    # Plain static names: the bench does not run collectstatic for the manifest storage.
    with override_settings(STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": PLAIN_STATIC}}):
        for i in range(page_requests + 3):
            t = time.perf_counter()
            response = client.get(url, {"range": "30"}, secure=True)
            if i >= 3:  # the first requests warm the process (templates, prepared statements)
                samples.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200 or b"wp-chart retention" not in response.content:
                raise SystemExit(f"analytics page answered {response.status_code}")
    samples.sort()
    return {
        "events": stored,
        "fill_s": fill_s,
        "raw_read": result.raw_events,
        "rebuild_s": rebuild_s,
        "days": result.days,
        "p50_ms": statistics.median(samples),
        "p95_ms": samples[max(0, int(0.95 * len(samples)) - 1)],
        "max_ms": samples[-1],
    }


def analytics_rows(args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    log(f"stages 6-7: staff analytics, one video with {args.analytics_events:,} raw events")
    a = stage_analytics(args.analytics_events, args.analytics_members, args.page_requests)
    return [
        (
            "6 rollup recomputation",
            f"{a['raw_read'] / a['rebuild_s']:,.0f} events/s",
            "",
            f"{a['raw_read']:,} raw events of one video, {a['days']} days + all-time, rebuilt in "
            f"{a['rebuild_s']:.1f}s (stored in-process in {a['fill_s']:.0f}s)",
        ),
        (
            "7 staff analytics page p50 / p95",
            f"{a['p50_ms']:.1f} / {a['p95_ms']:.1f} ms",
            "",
            f"{args.page_requests} requests, 30-day range, video with {a['events']:,} raw events; "
            f"max {a['max_ms']:.1f} ms; target ≤ 200 ms",
        ),
    ]
