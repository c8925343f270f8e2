"""Ring mode (`--ring N`): after the single-node stages, boot an N-node ring on 127.0.0.21.. (its own
data folders; bin/cassandra with CASSANDRA_FIRST_ADDRESS), create the bench keyspaces there with
NetworkTopologyStrategy dc1=min(N,3) written and read at LOCAL_QUORUM, repeat stages 1, 2, 3 and 4
against it and print both columns side by side. The ring is stopped at the end.

Stage 3 on the ring: RING_WEB_WORKERS ingest (granian) processes and the run's drain workers (--workers x
--concurrency prefork children: two by default) pointed at every node of the ring, with Cassandra's
CPU summed over the ring's JVMs."""

from __future__ import annotations

import argparse
import atexit
import os
import subprocess
import time

from accounts.services import member_demo_ensure
from analytics.acceptance import WatchBatch
from analytics.cassandra import cassandra_reset, cassandra_session
from analytics.stream import stream_client
from bench import BENCH_ENV, ROOT
from bench.common import PY, loadavg, log, stored_events, utc_from_ms, videos_ensure
from bench.e2e import E2E_DURATION, stage_e2e
from bench.ingest import stage_ingest
from bench.raw import stage_raw
from bench.resume import stage_resume

RING_FIRST_ADDRESS = "127.0.0.21"
RING_WEB_WORKERS = 2


def ring_jvm_pids(nodes: int) -> list[int]:
    """The pids of the ring's JVMs: whoever listens on each ring address's CQL port (from `ss`)."""
    prefix, first = RING_FIRST_ADDRESS.rsplit(".", 1)
    pids = []
    for i in range(nodes):
        out = subprocess.run(
            ["ss", "-ltnpH", f"src {prefix}.{int(first) + i}:9042"], capture_output=True, text=True
        ).stdout
        if "pid=" in out:
            pids.append(int(out.split("pid=", 1)[1].split(",", 1)[0]))
    return pids


def ring_script_env(nodes: int) -> dict[str, str]:
    return {**os.environ, "CASSANDRA_NODES": str(nodes), "CASSANDRA_FIRST_ADDRESS": RING_FIRST_ADDRESS}


def ring_start(nodes: int) -> float:
    started = time.perf_counter()
    subprocess.run([ROOT / "bin" / "cassandra", "start"], env=ring_script_env(nodes), check=True)
    atexit.register(
        lambda: subprocess.run([ROOT / "bin" / "cassandra", "stop"], env=ring_script_env(nodes), check=False)
    )
    return time.perf_counter() - started


def ring_use(nodes: int) -> None:
    """Point this process and every worker started from now on at the ring, with fresh bench keyspaces."""
    from cassandra import ConsistencyLevel
    from django.conf import settings

    prefix, first = RING_FIRST_ADDRESS.rsplit(".", 1)
    rf = min(nodes, 3)
    ring = {
        "CASSANDRA_HOSTS": ",".join(f"{prefix}.{int(first) + i}" for i in range(nodes)),
        "CASSANDRA_REPLICATION": f"NetworkTopologyStrategy:dc1={rf}",
        "CASSANDRA_LOCAL_DC": "dc1",
        "CASSANDRA_WRITE_CONSISTENCY": "LOCAL_QUORUM",
        "CASSANDRA_READ_CONSISTENCY": "LOCAL_QUORUM",
    }
    BENCH_ENV.update(ring)
    os.environ.update(ring)
    cassandra = settings.DATABASES["cassandra"]
    settings.DATABASES = {**settings.DATABASES, "cassandra": {**cassandra, "HOST": ring["CASSANDRA_HOSTS"]}}
    settings.CASSANDRA_LOCAL_DC = "dc1"
    settings.CASSANDRA_WRITE_CONSISTENCY = settings.CASSANDRA_READ_CONSISTENCY = ConsistencyLevel.LOCAL_QUORUM
    cassandra_reset()
    session = cassandra_session()
    for ks in ("bench", "bench_raw"):
        session.execute(f"DROP KEYSPACE IF EXISTS {ks}", timeout=120)
    # This process's django-cassandra-engine connection belongs to the single node: sync in a child.
    subprocess.run([PY, "manage.py", "sync_cassandra"], cwd=ROOT, env={**os.environ, **BENCH_ENV}, check=True)
    session.execute(
        f"CREATE KEYSPACE bench_raw WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': {rf}}}",
        timeout=120,
    )
    session.execute(
        "CREATE TABLE bench_raw.watch_events (user_id bigint, day date, video_id bigint, session_id uuid, "
        "position int, client_ts timestamp, rate float, PRIMARY KEY ((user_id, day), video_id, session_id, position))",
        timeout=120,
    )
    stream_client().flushdb()


def ring_compare(
    args: argparse.Namespace,
    users: list[int],
    vids: list[tuple[int, int]],
    batches: list[WatchBatch],
    single: dict[str, str],
) -> None:
    n_events = sum(len(b.events) for b in batches)
    log(f"ring mode: starting a {args.ring}-node ring on {RING_FIRST_ADDRESS}..")
    boot_s = ring_start(args.ring)
    ring_use(args.ring)
    log(f"ring stage 1: raw baseline, {n_events:,} events at LOCAL_QUORUM")
    raw_s = stage_raw(batches)
    log(f"ring stage 2: worker ingestion, {args.workers} worker(s) x {args.concurrency}")
    ingest_s = stage_ingest(batches, args.workers, args.concurrency).seconds
    keys = {(b.user_id, utc_from_ms(e[1]).date()) for b in batches for e in b.events[:1]}
    stored = stored_events(keys)
    log(f"ring stage 3: end to end, {RING_WEB_WORKERS} ingest processes, {args.http_clients} clients")
    e2e_users = [member_demo_ensure(index=10_000 + i).pk for i in range(args.http_members)]
    e2e = stage_e2e(
        e2e_users,
        videos_ensure(prefix="bench-e2e", count=args.videos, duration=E2E_DURATION),
        args.http_seconds,
        args.http_clients,
        args.workers,
        args.concurrency,
        RING_WEB_WORKERS,
        cassandra_pids=ring_jvm_pids(args.ring),
    )
    e2e_rate = e2e["events"] / e2e["total_seconds"]
    batches_ok, events_stored = max(e2e["accepted"], 1), max(e2e["stored"], 1)
    log("ring stage 4: resume reads")
    # Stage 2 wrote the resume rows on the ring; read them back at LOCAL_QUORUM.
    p50, p99 = stage_resume(users, vids, args.resume_reads)
    rf = min(args.ring, 3)
    ring = {
        "1 raw baseline (driver only)": f"{n_events / raw_s:,.0f} events/s",
        "2 worker ingestion (all tables)": f"{n_events / ingest_s:,.0f} events/s",
        "3 end to end (HTTP→stream→workers→Cassandra)": f"{e2e_rate:,.0f} events/s",
        "3 CPU cost (from /proc, during the stage)": f"{e2e['web_cpu_s'] * 1000 / batches_ok:.3f} ms/batch",
        "4 resume read p50 / p99": f"{p50:.2f} / {p99:.2f} ms",
    }
    title = f"ring ({args.ring} nodes, RF {rf}, LOCAL_QUORUM)"
    print(
        f"\nSingle node vs ring  (ring booted to CQL in {boot_s:.0f}s; {os.cpu_count()} CPUs shared by all; "
        f"load average after the ring stages {loadavg()})"
    )
    print(f"{'stage':<48} {'single node (RF 1, ONE)':>26} {title:>38}")
    for name, value in ring.items():
        print(f"{name:<48} {single.get(name, '-'):>26} {value:>38}")
    print(
        f"ring stage 3: {RING_WEB_WORKERS} ingest processes, {args.workers} x {args.concurrency} drain; "
        f"{e2e['requests'] / e2e['post_seconds']:,.0f} req/s; {e2e['events']:,} events accepted, "
        f"{int(e2e['stored']):,} stored; HTTP p50/p99 {e2e['p50_ms']:.1f}/{e2e['p99_ms']:.1f} ms; "
        f"{e2e['total_seconds']:.1f}s until all stored; CPU: web {e2e['web_cpu_s'] * 1000 / batches_ok:.3f} ms "
        f"per batch, drain {e2e['drain_cpu_s'] * 1000 / events_stored:.4f} ms and the {args.ring} JVMs "
        f"{e2e['cassandra_cpu_s'] * 1000 / events_stored:.4f} ms per stored event"
    )
    print(
        "bounds: single node — the 2 cores are shared by one Cassandra JVM and the Python drain "
        "processes (JSON decode, grouping, driver encoding); Cassandra's write path is not saturated.\n"
        f"        ring — the same 2 cores now run {args.ring} JVMs and every write is applied {rf} times "
        "(coordinator + replica hops over loopback), so the figures fall by roughly the replication "
        "factor: on this machine the ring buys availability (a node may die), not throughput; on real "
        "hardware each node brings its own cores and throughput grows with nodes / RF.\n"
        "        ring stage 3 — the web's CPU per batch does not change; the JVMs' CPU per stored event "
        "grows by more than RF (coordination, quorum reads of coverage), so Cassandra, not the web, bounds it."
    )
    # Close the ring session before the ring is stopped at exit (else the driver logs reconnects).
    cassandra_reset()
    if stored != n_events:
        raise SystemExit(f"MISMATCH on the ring: {stored:,} of {n_events:,} events stored")
    if int(e2e["stored"]) < e2e["events"]:
        raise SystemExit(f"MISMATCH on the ring, stage 3: {int(e2e['stored']):,} of {e2e['events']:,} stored")
