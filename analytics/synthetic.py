"""Synthetic watch traffic: realistic viewing sessions as the browser tracker would report them.

Used by `manage.py watch_traffic_generate` (demos, charts) and by `bin/bench`. Sessions start at 0 or
somewhere earlier watched, play on, pause, seek forward and back (re-watching), and stop following a
drop-off curve, so retention charts look like real ones. Each session is cut into ~10-second
batches, as the tracker flushes them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from analytics.acceptance import WatchBatch

FLUSH_SECONDS = 10


@dataclass(frozen=True)
class SyntheticVideo:
    id: int
    duration: int


def session_batches(
    *, rng: random.Random, user_id: int, video: SyntheticVideo, start_ms: int, flush_seconds: int = FLUSH_SECONDS
) -> Iterator[WatchBatch]:
    """One viewing session of `video` by `user_id`, starting at `start_ms` (client clock), as batches."""
    session_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    duration = max(1, video.duration)
    position = 0 if rng.random() < 0.8 else rng.randrange(0, max(1, duration // 2))
    # Most viewers stop early, some watch to the end: an exponential-ish drop-off.
    stop = (
        duration if rng.random() < 0.35 else min(duration, position + int(rng.expovariate(1 / max(30, duration / 3))))
    )
    rate = rng.choice([1.0] * 8 + [1.25, 1.5, 2.0])
    clock_ms = start_ms
    seen: set[int] = set()
    pending: list[tuple[int, int, float]] = []
    while position < stop:
        if pending and (len(pending) >= flush_seconds or rng.random() < 0.02):  # flush, or a pause
            yield WatchBatch(user_id, video.id, session_id, tuple(pending))
            pending = []
            clock_ms += rng.randrange(0, 20_000) if rng.random() < 0.5 else 0
        if rng.random() < 0.01:  # seek: forward skips seconds, backward re-watches them (next session)
            position = max(0, min(stop - 1, position + rng.choice([-30, -10, 10, 30, 60])))
        if position not in seen:  # the tracker sends a second once per session
            seen.add(position)
            pending.append((position, clock_ms, rate))
        position += 1
        clock_ms += int(1000 / rate)
    if pending:
        yield WatchBatch(user_id, video.id, session_id, tuple(pending))


def traffic_batches(
    *,
    seed: int,
    user_ids: list[int],
    videos: list[SyntheticVideo],
    sessions: int,
    now_ms: int,
    spread_days: float = 7.0,
) -> Iterator[WatchBatch]:
    """`sessions` viewing sessions by random members of random videos over the last `spread_days`."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
    for _ in range(sessions):
        start = now_ms - int(rng.random() * spread_days * 86_400_000) - 3_600_000
        yield from session_batches(rng=rng, user_id=rng.choice(user_ids), video=rng.choice(videos), start_ms=start)
