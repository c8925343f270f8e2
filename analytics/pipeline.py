"""What is waiting in the watch pipeline right now: for /healthz, /metrics and `pipeline_status`.

(Moved from config/: config imports no app module. /healthz and /metrics reach this through the
probe and collector analytics registers in `AnalyticsConfig.ready()`, see analytics/health.py.)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from kombu.exceptions import ChannelError
from prometheus_client.core import GaugeMetricFamily

from analytics.stream import DEAD_LETTERS, GROUP, STREAM, stream_client
from config.celery_app import app as celery_app


@dataclass(frozen=True)
class PipelineDepths:
    queues: dict[str, int]  # "watch_stream" (entries not yet stored) and each Celery queue
    stream_pending: int  # delivered to a drain, not yet acknowledged
    dead_letters: int
    oldest_age_seconds: float | None  # None when the stream is empty

    @property
    def stream_ratio(self) -> float:
        """Entries not yet stored over the stream's cap (the endpoint answers 503 at 1.0)."""
        return self.queues["watch_stream"] / settings.WATCH_STREAM_MAX_BATCHES

    @property
    def dead_letters_ratio(self) -> float:
        """Dead letters over their cap (past it the drain leaves bad entries pending)."""
        return self.dead_letters / settings.WATCH_DEAD_LETTERS_MAX


def celery_queue_names() -> list[str]:
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


def celery_queue_sizes(*, names: list[str]) -> dict[str, int]:
    """Messages waiting in each Celery queue, through kombu's public channel API (a passive
    declare answers the count; the Redis transport sums the lists it keeps per priority)."""
    sizes = {}
    with celery_app.connection_for_read() as connection:
        # kombu's stubs type it as the minimal StdChannel; every transport's Channel has queue_declare.
        channel: Any = connection.default_channel
        for name in names:
            try:
                sizes[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
            except ChannelError:  # never declared: nothing was ever sent to it
                sizes[name] = 0
    return sizes


def pipeline_depths(client: redis.Redis | None = None) -> PipelineDepths:
    """The stream in one pipelined round trip, then the Celery queues. Raises redis (or kombu)
    connection errors: callers decide how to report them."""
    client = client or stream_client()
    names = celery_queue_names()
    pipe = client.pipeline(transaction=False)
    pipe.xlen(STREAM)
    pipe.xrange(STREAM, "-", "+", count=1)
    pipe.exists(DEAD_LETTERS)
    length, oldest, has_dead = pipe.execute()
    pending = 0
    with contextlib.suppress(redis.ResponseError):  # no group yet: nothing was ever drained
        pending = int(client.xpending(STREAM, GROUP)["pending"])
    dead = int(client.xlen(DEAD_LETTERS)) if has_dead else 0
    queues = {"watch_stream": int(length), **celery_queue_sizes(names=names)}
    age = None
    if oldest:
        # A stream id is "<milliseconds>-<sequence>": the time Redis appended the entry.
        entry_ms = int(oldest[0][0].decode().split("-")[0])
        age = max(0.0, time.time() - entry_ms / 1000)
    return PipelineDepths(queues=queues, stream_pending=pending, dead_letters=dead, oldest_age_seconds=age)


# Warn at 80 % of a cap, before the endpoint starts answering 503: the cap is sized to minutes of
# the drain's sustained rate (WATCH_STREAM_MAX_BATCHES), so its last 20 % leaves an operator time to
# add drain workers or bring Cassandra back.
WARN_RATIO = 0.8


def pipeline_warnings(depths: PipelineDepths) -> list[str]:
    """Human-readable warnings when the backlog or the dead letters near their caps."""
    warnings = []
    if depths.stream_ratio >= WARN_RATIO:
        warnings.append(
            f"watch backlog at {int(depths.stream_ratio * 100)} % of its cap"
            f" ({depths.queues['watch_stream']} of {settings.WATCH_STREAM_MAX_BATCHES} batches)"
        )
    if depths.dead_letters_ratio >= WARN_RATIO:
        warnings.append(
            f"dead letters at {int(depths.dead_letters_ratio * 100)} % of their cap"
            f" ({depths.dead_letters} of {settings.WATCH_DEAD_LETTERS_MAX})"
        )
    return warnings


def pipeline_summary(depths: PipelineDepths) -> dict[str, Any]:
    """The one pipeline-status dict: /healthz details and `manage.py pipeline_status` both show it."""
    age = depths.oldest_age_seconds
    return {
        "queues": depths.queues,
        "watch_stream_pending": depths.stream_pending,
        "watch_dead_letters": depths.dead_letters,
        "oldest_batch_age_seconds": None if age is None else round(age, 1),
    }


def pipeline_gauges() -> Iterator[GaugeMetricFamily]:
    """Scrape-time gauges for /metrics (registered with `config.metrics.metrics_collector_register`)."""
    depths = pipeline_depths()
    queued = GaugeMetricFamily("watchpoint_queue_depth", "Messages or batches waiting.", labels=["queue"])
    for queue, depth in depths.queues.items():
        queued.add_metric([queue], depth)
    yield queued
    yield GaugeMetricFamily(
        "watchpoint_watch_stream_pending",
        "Stream batches delivered to a drain but not yet acknowledged.",
        value=depths.stream_pending,
    )
    yield GaugeMetricFamily(
        "watchpoint_watch_oldest_batch_age_seconds",
        "Age of the oldest batch still in the stream (0 when empty).",
        value=depths.oldest_age_seconds or 0.0,
    )
    yield GaugeMetricFamily(
        "watchpoint_watch_stream_max_batches",
        "Cap on batches not yet stored (WATCH_STREAM_MAX_BATCHES); the endpoint answers 503 past it.",
        value=settings.WATCH_STREAM_MAX_BATCHES,
    )
    yield GaugeMetricFamily(
        "watchpoint_watch_stream_fill_ratio",
        "Batches not yet stored over their cap (/healthz warns from 0.8).",
        value=depths.stream_ratio,
    )
    yield GaugeMetricFamily(
        "watchpoint_watch_dead_letters", "Batches set aside as never storable.", value=depths.dead_letters
    )
    yield GaugeMetricFamily(
        "watchpoint_watch_dead_letters_max",
        "Cap on dead letters (WATCH_DEAD_LETTERS_MAX).",
        value=settings.WATCH_DEAD_LETTERS_MAX,
    )
    yield GaugeMetricFamily(
        "watchpoint_watch_dead_letters_fill_ratio",
        "Dead letters over their cap (/healthz warns from 0.8).",
        value=depths.dead_letters_ratio,
    )
