"""Soak mode (`--soak MINUTES`): stage 3's machinery (wrk with real tokens -> ingest -> stream ->
drain workers -> Cassandra) held at a fixed rate for MINUTES, sampled every SAMPLE_S seconds.

Each sample reads, without touching the load: batches accepted (the stream's entries-added counter,
server side, exact) and events stored (the drains' `watchpoint_watch_events_written` counter, summed
over this host's PROMETHEUS_MULTIPROC_DIR), the stream depth (XLEN: entries not yet written and deleted), the drain
workers' RSS (sum of VmRSS over every process of the Celery workers) and Cassandra's JVM RSS (from
/proc). Cassandra's heap ("Heap Memory (MB)" of nodetool info, through bin/cassandra's nodetool
helper) is read every HEAP_EVERY_S in a side thread: one nodetool call costs ~1.7 s of CPU (a
JVM start) on these 2 cores, so every 10 s would take ~8 % of the machine from the load measured.

Verdicts at the end: the depth stayed bounded, and the drain workers' RSS stayed flat (last
minute's mean within ± 10 % of the first minute's); and every accepted event was stored.

Bounded means no drift: the depth's least-squares trend, fitted from TREND_FROM_S to the end, grows
by less than TREND_LIMIT_S seconds of the soak's load over that span. Not "the last minute against
the first": Cassandra flushes its memtables and compacts every minute or two, the drain falls behind
for ~20-30 s each time and catches up at ~20,000 events/s, so the depth oscillates (0 to ~20,000
batches) around a level that does not grow, and any one minute may hold a peak or a trough. A drift
(the drain's steady rate below the load's) shows as a trend: 700 batches/s, 420,000 over 10 minutes,
in the drifting runs README quotes.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from accounts.services import member_demo_ensure
from analytics.stream import STREAM, stream_client
from bench import ROOT, VAR
from bench.common import CHILDREN, Workers, cpu_seconds, log, port_owner, videos_ensure, wait_drained
from bench.e2e import PORT, ingest_start, members_prepare, probe_batches, web_stop, wrk_script
from config.metrics import counter_total

SAMPLE_S = 10
HEAP_EVERY_S = 60
TREND_FROM_S = 60  # the first minute fills the pipeline (connections, first rounds)
TREND_LIMIT_S = 10  # seconds of load the depth's trend may add over the soak
RSS_TOLERANCE = 0.10
# Four-hour videos: 1,440 fresh 10-second windows per session, so no second is sent twice in the soak.
SOAK_DURATION = 4 * 3600
SOAK_CLIENTS = 32
# After the load: how long the backlog may take to be written before the verdicts (a soak that
# drifted may hold minutes of it; the verdicts then say how much was left).
DRAIN_WAIT_S = 120


@dataclass
class Sample:
    t: float
    accepted: int  # batches, since the start
    stored: int  # events, since the start
    depth: int
    worker_rss_mb: float
    jvm_rss_mb: float
    heap_mb: float | None
    drain_cpu_s: float = 0.0  # CPU seconds since the start: the drain workers (all processes)
    cassandra_cpu_s: float = 0.0  # and the Cassandra JVM


@dataclass
class SoakResult:
    rate: float  # requested events/s
    samples: list[Sample] = field(default_factory=list)
    accepted_events: int = 0
    stored_events: int = 0
    drained_s: float = 0.0
    left_depth: int = 0  # batches still in the stream after DRAIN_WAIT_S
    requests: int = 0


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def heap_mb() -> float | None:
    """Cassandra's used heap from `bin/cassandra nodetool 1 info` (the single node), or None."""
    out = subprocess.run(
        [str(ROOT / "bin/cassandra"), "nodetool", "1", "info"], capture_output=True, text=True, timeout=60
    ).stdout
    for line in out.splitlines():
        if line.startswith("Heap Memory (MB)"):
            return float(line.split(":", 1)[1].split("/")[0])
    return None


def _counters() -> tuple[int, int, int]:
    """(batches ever added to the stream, events ever written by drains, stream length)."""
    client = stream_client()
    info = client.xinfo_stream(STREAM)
    written = counter_total("watchpoint_watch_events_written")
    return int(info["entries-added"]), int(written), int(info["length"])


def stage_soak(
    *, minutes: float, rate: float, members: int, videos: int, workers: int, concurrency: int, ingest_workers: int
) -> SoakResult:
    """`rate` events/s (10-event batches) for `minutes`; prints a line every SAMPLE_S seconds."""
    # Members 30,000.. (apart from the other stages'); each sends rate / 10 / members batches a second.
    users = [member_demo_ensure(index=30_000 + i).pk for i in range(members)]
    vids = videos_ensure(prefix="bench-soak", count=videos, duration=SOAK_DURATION)
    seconds = int(minutes * 60)
    capacity = members * 3 * (SOAK_DURATION // 10)
    if rate / 10 * seconds > capacity:
        raise SystemExit(f"--soak: {members} members cannot send {rate:,.0f} events/s for {seconds}s fresh")
    web = ingest_start(ingest_workers)
    pool = Workers(workers, concurrency)
    cassandra = port_owner(9042)
    result = SoakResult(rate=rate)
    try:
        prepared = members_prepare(users, vids)
        script = VAR / "bench-wrk-soak.lua"
        script.write_text(wrk_script(prepared, threads=2, duration=SOAK_DURATION, rate=rate / 10))
        probe_batches(prepared, ingest_workers * 4)
        wait_drained()
        heap: list[float | None] = [None]
        stop = threading.Event()

        def heap_reader() -> None:
            while not stop.is_set():
                heap[0] = heap_mb()
                stop.wait(HEAP_EVERY_S)

        reader = threading.Thread(target=heap_reader, daemon=True)
        reader.start()
        added0, written0, _ = _counters()
        url = f"http://127.0.0.1:{PORT}/api/watch/"
        log(f"soak: {rate:,.0f} events/s for {minutes:g} min, {SOAK_CLIENTS} connections")
        print(
            f"\nSoak: {rate:,.0f} events/s requested ({rate / 10:,.0f} batches/s) for {minutes:g} min; "
            f"every {SAMPLE_S}s (rates over the last {SAMPLE_S}s)",
            flush=True,
        )
        print(
            f"{'t (s)':>6} {'accepted ev/s':>14} {'stored ev/s':>12} {'depth':>7} {'workers RSS':>12} "
            f"{'JVM RSS':>9} {'heap (nodetool)':>16} {'drain ms/ev':>12} {'Cassandra ms/ev':>16}",
            flush=True,
        )
        started = time.monotonic()
        wrk = subprocess.Popen(
            ["wrk", "-t", "2", "-c", str(SOAK_CLIENTS), "-d", f"{seconds}s", "-s", str(script), url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        CHILDREN.append(wrk)  # an interrupted soak must not leave wrk posting for the rest of its run
        # CPU per stored event of the drain and of Cassandra, per sample: which stage's cost grows
        # when the depth drifts (the profile README's soak section quotes).
        drain_cpu0, cassandra_cpu0 = cpu_seconds(pool.pids()), cpu_seconds([cassandra or 0])
        last = (0.0, 0, 0, 0.0, 0.0)
        while wrk.poll() is None:
            time.sleep(max(0.0, started + (len(result.samples) + 1) * SAMPLE_S - time.monotonic()))
            if time.monotonic() - started > seconds + 1:
                break
            added, written, depth = _counters()
            sample = Sample(
                t=time.monotonic() - started,
                accepted=added - added0,
                stored=written - written0,
                depth=depth,
                worker_rss_mb=_rss_mb(pool.pids()),
                jvm_rss_mb=_rss_mb([cassandra]) if cassandra else 0.0,
                heap_mb=heap[0],
                drain_cpu_s=cpu_seconds(pool.pids()) - drain_cpu0,
                cassandra_cpu_s=cpu_seconds([cassandra or 0]) - cassandra_cpu0,
            )
            dt = sample.t - last[0]
            stored_now = max(1, sample.stored - last[2])
            print(
                f"{sample.t:>6.0f} {(sample.accepted - last[1]) * 10 / dt:>14,.0f} "
                f"{(sample.stored - last[2]) / dt:>12,.0f} {sample.depth:>7,} {sample.worker_rss_mb:>9.0f} MB "
                f"{sample.jvm_rss_mb:>6.0f} MB {(f'{sample.heap_mb:.0f} MB' if sample.heap_mb else '-'):>16} "
                f"{(sample.drain_cpu_s - last[3]) * 1000 / stored_now:>12.4f} "
                f"{(sample.cassandra_cpu_s - last[4]) * 1000 / stored_now:>16.4f}",
                flush=True,
            )
            result.samples.append(sample)
            last = (sample.t, sample.accepted, sample.stored, sample.drain_cpu_s, sample.cassandra_cpu_s)
        out, err = wrk.communicate()
        stop.set()
        if err.strip():
            log(err.strip())
        result.requests = int(json.loads(out.strip().splitlines()[-1])["requests"]) if out.strip() else 0
        finished = time.monotonic()
        try:
            wait_drained(timeout=DRAIN_WAIT_S)
        except SystemExit:
            log(f"soak: the backlog was not written within {DRAIN_WAIT_S}s of the load's end")
        result.drained_s = time.monotonic() - finished
        time.sleep(1)  # the last drain counts its events just after its XDEL
        added, written, result.left_depth = _counters()
        result.accepted_events = (added - added0) * 10
        result.stored_events = written - written0
    finally:
        pool.stop()
        web_stop(web)
    return result


def soak_verdicts(result: SoakResult) -> list[str]:
    """The end-of-soak lines: depth bounded, RSS flat, everything stored."""
    samples = result.samples
    if len(samples) < 2:
        return ["soak: too short for verdicts"]
    end = samples[-1].t
    first = [s for s in samples if s.t <= 60] or samples[:1]
    last_minute = [s for s in samples if s.t > end - 60] or samples[-1:]
    steady = [s for s in samples if s.t >= TREND_FROM_S] or samples
    span = steady[-1].t - steady[0].t
    slope = statistics.linear_regression([s.t for s in steady], [s.depth for s in steady]).slope if span else 0.0
    limit = result.rate / 10 * TREND_LIMIT_S  # batches
    depth_ok = slope * span < limit
    depth_mean = statistics.fmean(s.depth for s in steady)
    rss_first = statistics.fmean(s.worker_rss_mb for s in first)
    rss_last = statistics.fmean(s.worker_rss_mb for s in last_minute)
    rss_ok = abs(rss_last - rss_first) <= RSS_TOLERANCE * rss_first
    jvm_first = statistics.fmean(s.jvm_rss_mb for s in first)
    jvm_last = statistics.fmean(s.jvm_rss_mb for s in last_minute)
    heaps = [s.heap_mb for s in samples if s.heap_mb]
    mean_accepted = result.accepted_events / end
    mean_stored = samples[-1].stored / end
    return [
        f"soak mean rates: accepted {mean_accepted:,.0f} events/s, stored {mean_stored:,.0f} events/s "
        f"(requested {result.rate:,.0f}); {result.requests:,} requests; "
        + (
            f"backlog written {result.drained_s:.1f}s after the load stopped"
            if not result.left_depth
            else f"{result.left_depth:,} batches still queued {result.drained_s:.0f}s after the load stopped"
        ),
        f"stream depth bounded (trend from {TREND_FROM_S}s {slope:+,.1f} batches/s = {slope * span:+,.0f} over "
        f"{span:.0f}s, limit {limit:,.0f} = {TREND_LIMIT_S}s of load; mean {depth_mean:,.0f}, "
        f"max {max(s.depth for s in samples):,}): {'✓' if depth_ok else '✗'}",
        f"drain workers' RSS flat (last minute {rss_last:.0f} MB vs first minute {rss_first:.0f} MB, "
        f"{(rss_last / rss_first - 1) * 100:+.1f} %, tolerance ± {RSS_TOLERANCE * 100:.0f} %): "
        f"{'✓' if rss_ok else '✗'}",
        f"Cassandra JVM RSS {jvm_first:.0f} → {jvm_last:.0f} MB ({(jvm_last / jvm_first - 1) * 100:+.1f} %); "
        f"heap (nodetool info, every {HEAP_EVERY_S}s) "
        + (f"{min(heaps):.0f}-{max(heaps):.0f} MB, last {heaps[-1]:.0f} MB" if heaps else "not read"),
        # At least once: a round retried after a timeout writes (idempotently) and counts again.
        f"every accepted event stored (server counters: {result.stored_events:,} written for "
        f"{result.accepted_events:,} accepted): " + ("✓" if result.stored_events >= result.accepted_events else "✗"),
    ]
