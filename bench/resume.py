"""Stage 4: resume-position read latency through the selector."""

from __future__ import annotations

import random
import statistics
import time

from analytics.selectors import resume_position_get


def stage_resume(users: list[int], vids: list[tuple[int, int]], n: int) -> tuple[float, float]:
    rng = random.Random(7)
    samples = []
    for _ in range(n):
        user, (video, _) = rng.choice(users), rng.choice(vids)
        t = time.perf_counter()
        resume_position_get(user_id=user, video_id=video)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * len(samples)) - 1]
