"""Ring mode (`--ring N`): after the single-node stages, boot an N-node ring on 127.0.0.21.. (its own
data folders; bin/cassandra with CASSANDRA_FIRST_ADDRESS), create the bench keyspaces there with
NetworkTopologyStrategy dc1=min(N,3) written and read at LOCAL_QUORUM, repeat stages 1, 2 and 4
against it and print both columns side by side. The ring is stopped at the end."""

from __future__ import annotations

import argparse
import atexit
import os
import subprocess
import time

from analytics.cassandra import cassandra_reset, cassandra_session
from analytics.services import WatchBatch, _utc
from analytics.stream import stream_client
from bench import BENCH_ENV, ROOT
from bench.common import PY, log, stored_events
from bench.ingest import stage_ingest
from bench.raw import stage_raw
from bench.resume import stage_resume

RING_FIRST_ADDRESS = "127.0.0.21"


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
    keys = {(b.user_id, _utc(e[1]).date()) for b in batches for e in b.events[:1]}
    stored = stored_events(keys)
    log("ring stage 4: resume reads")
    # Stage 2 wrote the resume rows on the ring; read them back at LOCAL_QUORUM.
    p50, p99 = stage_resume(users, vids, args.resume_reads)
    rf = min(args.ring, 3)
    ring = {
        "1 raw baseline (driver only)": f"{n_events / raw_s:,.0f} events/s",
        "2 worker ingestion (all tables)": f"{n_events / ingest_s:,.0f} events/s",
        "4 resume read p50 / p99": f"{p50:.2f} / {p99:.2f} ms",
    }
    title = f"ring ({args.ring} nodes, RF {rf}, LOCAL_QUORUM)"
    print(f"\nSingle node vs ring  (ring booted to CQL in {boot_s:.0f}s; {os.cpu_count()} CPUs shared by all)")
    print(f"{'stage':<40} {'single node (RF 1, ONE)':>26} {title:>38}")
    for name, value in ring.items():
        print(f"{name:<40} {single[name]:>26} {value:>38}")
    print(
        "bounds: single node — the 2 cores are shared by one Cassandra JVM and the Python drain "
        "processes (JSON decode, grouping, driver encoding); Cassandra's write path is not saturated.\n"
        f"        ring — the same 2 cores now run {args.ring} JVMs and every write is applied {rf} times "
        "(coordinator + replica hops over loopback), so the figures fall by roughly the replication "
        "factor: on this machine the ring buys availability (a node may die), not throughput; on real "
        "hardware each node brings its own cores and throughput grows with nodes / RF."
    )
    # Close the ring session before the ring is stopped at exit (else the driver logs reconnects).
    cassandra_reset()
    if stored != n_events:
        raise SystemExit(f"MISMATCH on the ring: {stored:,} of {n_events:,} events stored")
