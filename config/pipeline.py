"""What is waiting in the watch pipeline right now: for /healthz, /metrics and `pipeline_status`."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from analytics.services import DEAD_LETTERS
from analytics.stream import GROUP, STREAM, stream_client

# kombu's Redis transport keeps a queue with priorities in several lists: the name (priority 0)
# and name + "\x06\x16" + step for the other steps of its default [0, 3, 6, 9].
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@dataclass(frozen=True)
class PipelineDepths:
    queues: dict[str, int]  # "watch_stream" (entries not yet stored) and each Celery queue
    stream_pending: int  # delivered to a drain, not yet acknowledged
    dead_letters: int
    oldest_age_seconds: float | None  # None when the stream is empty


def celery_queue_names() -> list[str]:
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


def pipeline_depths(client: redis.Redis | None = None) -> PipelineDepths:
    """One pipelined Redis round trip. Raises redis errors (callers decide how to report them)."""
    client = client or stream_client()
    names = celery_queue_names()
    pipe = client.pipeline(transaction=False)
    pipe.xlen(STREAM)
    pipe.xrange(STREAM, "-", "+", count=1)
    pipe.exists(DEAD_LETTERS)
    for name in names:
        for suffix in _PRIORITY_SUFFIXES:
            pipe.llen(name + suffix)
    length, oldest, has_dead, *lengths = pipe.execute()
    pending = 0
    with contextlib.suppress(redis.ResponseError):  # no group yet: nothing was ever drained
        pending = int(client.xpending(STREAM, GROUP)["pending"])
    dead = int(client.xlen(DEAD_LETTERS)) if has_dead else 0
    queues = {"watch_stream": int(length)}
    for i, name in enumerate(names):
        queues[name] = sum(int(n) for n in lengths[i * len(_PRIORITY_SUFFIXES) : (i + 1) * len(_PRIORITY_SUFFIXES)])
    age = None
    if oldest:
        # A stream id is "<milliseconds>-<sequence>": the time Redis appended the entry.
        entry_ms = int(oldest[0][0].decode().split("-")[0])
        age = max(0.0, time.time() - entry_ms / 1000)
    return PipelineDepths(queues=queues, stream_pending=pending, dead_letters=dead, oldest_age_seconds=age)
