"""Stage 2: the stage 1 batches pre-queued in the Redis stream, drained by Celery workers into every
table the pipeline writes; with the drain's CPU per stored event from /proc."""

from __future__ import annotations

import time
from dataclasses import dataclass

from analytics.acceptance import WatchBatch
from analytics.stream import GROUP, STREAM, group_ensure, stream_client
from bench.common import CpuGroups, Workers, wait_drained


@dataclass(frozen=True)
class IngestResult:
    seconds: float
    rss_mb: float
    drain_cpu_s: float


def stage_ingest(batches: list[WatchBatch], workers: int, concurrency: int) -> IngestResult:
    client = stream_client()
    client.delete(STREAM)
    group_ensure(client)
    pipe = client.pipeline(transaction=False)
    for batch in batches:
        pipe.xadd(STREAM, {"b": batch.to_json()})
    pipe.execute()
    total = client.xlen(STREAM)
    pool = Workers(workers, concurrency, wait=False)
    time.sleep(0.5)
    cpu = CpuGroups({"drain": [p.pid for p in pool.procs]})
    # The clock starts when the first worker takes entries (worker start-up is not ingestion).
    while client.xlen(STREAM) == total and client.xpending(STREAM, GROUP)["pending"] == 0:
        time.sleep(0.001)
    cpu.start()
    started = time.perf_counter()
    wait_drained()
    elapsed = time.perf_counter() - started
    cpu.stop()
    rss = pool.peak_rss_mb()
    pool.stop()
    return IngestResult(elapsed, rss, cpu.used["drain"])
