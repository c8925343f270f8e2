"""Scale-out on a real 3-node Cassandra ring: the pipeline survives losing a node or a worker, a node
that was down catches up (hints, then a full repair), and a fourth node joins under load.

The ring runs on 127.0.0.11-13 (bin/cassandra with CASSANDRA_FIRST_ADDRESS), beside the developer's
node on 127.0.0.1, with its own keyspace (NetworkTopologyStrategy dc1=3) written and read at
LOCAL_QUORUM. Two real Celery worker processes drain the stream into it while the test posts batches
through the real endpoint; mid-load, one Cassandra node (or one worker) is SIGKILLed, or one node is
stopped for a minute, or node 4 (127.0.0.14) bootstraps into the ring. One ring serves the module:
the join test runs last and the ring it leaves (four nodes) is stopped with the module.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import WhiteListRoundRobinPolicy
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client

from analytics.cassandra import cassandra_keyspace, cassandra_reset, cassandra_session
from analytics.selectors import resume_position_get
from analytics.stream import GROUP, STREAM, stream_client
from tests.analytics.helpers import batch_body, drained, now_ms, post, stored_state
from tests.analytics.rollup_oracle import brute_force, comparable, recent_days, stored_rollups
from tests.conftest import ROOT, WorkerProcess, broker, wait_until
from tests.factories import MemberFactory, VideoFactory

pytestmark = [
    pytest.mark.ring,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(600),
]

NODES = 3
FIRST_ADDRESS = "127.0.0.11"
KEYSPACE = "watchpoint_ring"
RING_SCRIPT_ENV = {"CASSANDRA_NODES": str(NODES), "CASSANDRA_FIRST_ADDRESS": FIRST_ADDRESS}
HOSTS = ",".join(f"127.0.0.{11 + i}" for i in range(NODES))
# What a deployment on this ring sets (config/env.py), for the workers and `sync_cassandra`.
RING_ENV = {
    "CASSANDRA_HOSTS": HOSTS,
    "CASSANDRA_KEYSPACE": KEYSPACE,
    "CASSANDRA_REPLICATION": f"NetworkTopologyStrategy:dc1={NODES}",
    "CASSANDRA_LOCAL_DC": "dc1",
    "CASSANDRA_WRITE_CONSISTENCY": "LOCAL_QUORUM",
    "CASSANDRA_READ_CONSISTENCY": "LOCAL_QUORUM",
}
TIMINGS: dict[str, float] = {}


# Node 4 joins with a 10 s ring delay instead of Cassandra's 30 s: on loopback every node has learnt
# the joining node's pending ranges (and sends it writes for them) within a few gossip rounds of 1 s.
JOIN_ENV = {"CASSANDRA_RING_DELAY_MS": "10000"}
JOINED_ADDRESS = f"127.0.0.{11 + NODES}"


def cassandra_script(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [ROOT / "bin" / "cassandra", *args], env={**os.environ, **RING_SCRIPT_ENV}, check=check, timeout=300
    )


def nodetool_start(node: int, *args: str) -> subprocess.Popen[str]:
    """Cassandra's nodetool against one node of the ring (bin/cassandra, local JMX), not waited for."""
    return subprocess.Popen(
        [ROOT / "bin" / "cassandra", "nodetool", str(node), *args],
        env={**os.environ, **RING_SCRIPT_ENV},
        stdout=subprocess.PIPE,
        text=True,
    )


def nodetool_each(nodes: list[int], *args: str) -> list[str]:
    """The same nodetool command on several nodes at once (each is a JVM start: seconds here)."""
    procs = [nodetool_start(node, *args) for node in nodes]
    outputs = []
    for node, proc in zip(nodes, procs, strict=True):
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"nodetool {' '.join(args)} on node {node} failed:\n{out}"
        outputs.append(out)
    return outputs


def nodetool(node: int, *args: str) -> str:
    return nodetool_each([node], *args)[0]


UNITS = {"bytes": 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def ring_status() -> dict[str, dict[str, Any]]:
    """`nodetool status <keyspace>` as node 1 sees it: per address, state (UN, UJ, DN…), load in bytes
    (live sstables) and effective ownership in percent."""
    rows = {}
    for line in nodetool(1, "status", KEYSPACE).splitlines():
        match = re.match(r"^([UD][NJLM])\s+(\S+)\s+(\?|[\d.]+ \w+)\s+(\d+)\s+([\d.]+)%", line)
        if match:
            state, address, load, _, owns = match.groups()
            size = 0.0 if load == "?" else float(load.split()[0]) * UNITS[load.split()[1]]
            rows[address] = {"state": state, "load": size, "owns": float(owns)}
    return rows


def read_repair_mismatches(nodes: list[int]) -> int:
    """Reads whose replicas disagreed, summed over `nodes` as coordinators (nodetool netstats,
    "Mismatch (Blocking)": the coordinator compared the replicas' digests, found a difference and
    repaired the stale replicas before answering)."""
    total = 0
    for out in nodetool_each(nodes, "netstats"):
        match = re.search(r"Mismatch \(Blocking\): (\d+)", out)
        assert match, out
        total += int(match.group(1))
    return total


@contextmanager
def node_session(address: str) -> Iterator[Session]:
    """A session whose every request is coordinated by the node at `address` (node-local virtual tables)."""
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]))
    cluster = Cluster([address], protocol_version=5, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


RING_DIR = ROOT / "var" / "cassandra" / f"ring{NODES}-{FIRST_ADDRESS}"


def hint_bytes(*, for_host_id: uuid.UUID | None = None) -> int:
    """Bytes of hints the ring's nodes hold (for one node, by host id, or for any). Read from the hint
    files themselves: while their target is down, hints go to an open file that neither nodetool
    listpendinghints nor system_views.pending_hints lists (they list files ready for delivery); a file
    is deleted once delivered."""
    pattern = f"{for_host_id or '*'}-*.hints"
    return sum(path.stat().st_size for path in RING_DIR.glob(f"node*/hints/{pattern}"))


def host_id(address: str) -> uuid.UUID:
    with node_session(address) as session:
        return uuid.UUID(str(session.execute("SELECT host_id FROM system.local").one().host_id))


SIZE_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def cleaned_bytes(node: int) -> tuple[float, float]:
    """Sstable bytes before and after `nodetool cleanup`, summed from the node's own log lines
    ("Cleaned up to <sstable>.  298B to 225B (~75% of original) for 6 keys.")."""
    log = (RING_DIR / f"node{node}" / "logs" / "system.log").read_text()
    before = after = 0.0
    for match in re.finditer(r"Cleaned up to \S+\s+([\d.]+)(\w+) to ([\d.]+)(\w+)", log):
        before += float(match[1]) * SIZE_UNITS[match[2]]
        after += float(match[3]) * SIZE_UNITS[match[4]]
    return before, after


def ring_addresses() -> list[str]:
    return cassandra_script_output("addresses").strip().split(",")


def cassandra_script_output(*args: str) -> str:
    return subprocess.run(
        [ROOT / "bin" / "cassandra", *args],
        env={**os.environ, **RING_SCRIPT_ENV},
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout


def timed(name: str, started: float) -> None:
    TIMINGS[name] = round(time.monotonic() - started, 1)
    sys.stderr.write(f"ring timing: {name} {TIMINGS[name]}s\n")
    # Kept for the operator's notes and CI logs (`make test` hides passing tests' output).
    (ROOT / "var" / "ring-timings.json").write_text(json.dumps(TIMINGS, indent=1))


def ring_replication() -> dict[str, str]:
    from cassandra.cluster import Cluster

    cluster = Cluster(HOSTS.split(","), protocol_version=5)
    try:
        row = cluster.connect().execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (KEYSPACE,)
        )
        return dict(row.one().replication)
    finally:
        cluster.shutdown()


@pytest.fixture(scope="module")
def ring() -> Iterator[None]:
    """A fresh 3-node ring with the schema; stopped (drained) when the module's tests are done."""
    lock_path = ROOT / "var" / "cassandra" / "ring-tests.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        # Two test runs on one machine would share (and stop) the same ring: take turns.
        fcntl.flock(lock, fcntl.LOCK_EX)
        cassandra_script("stop")
        subprocess.run(["rm", "-rf", str(RING_DIR)], check=True)
        started = time.monotonic()
        cassandra_script("start")
        timed("ring boot to CQL", started)
        try:
            started = time.monotonic()
            subprocess.run(
                [sys.executable, "manage.py", "sync_cassandra"],
                cwd=ROOT,
                env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", **RING_ENV},
                check=True,
                timeout=180,
            )
            timed("schema on the ring", started)
            replication = ring_replication()
            assert replication == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3"}
            yield
        finally:
            started = time.monotonic()
            cassandra_script("stop")
            timed("ring stop", started)


@pytest.fixture
def on_ring(ring: None, settings) -> Iterator[None]:
    """Point this test process (reads for assertions) at the ring, as the workers are."""
    # Shallow copies: the connection options hold driver policies (locks) that cannot be copied.
    settings.DATABASES = {
        **django_settings.DATABASES,
        "cassandra": {**django_settings.DATABASES["cassandra"], "HOST": HOSTS, "NAME": KEYSPACE},
    }
    settings.CASSANDRA_LOCAL_DC = "dc1"
    settings.CASSANDRA_WRITE_CONSISTENCY = ConsistencyLevel.LOCAL_QUORUM
    settings.CASSANDRA_READ_CONSISTENCY = ConsistencyLevel.LOCAL_QUORUM
    settings.WATCH_BATCHES_PER_MINUTE = 100_000
    session = cassandra_session()
    tables = session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (cassandra_keyspace(),)
    )
    for row in tables:
        session.execute(f"TRUNCATE {KEYSPACE}.{row.table_name}", timeout=60)
    broker().flushdb()
    yield
    # Close this process's ring session now: left open, it would keep reconnecting once the ring stops.
    cassandra_reset()


@dataclass
class Load:
    """Watch traffic for a few members and videos, with what the pipeline must end up storing."""

    clients: dict[int, Client]
    videos: list[int]
    plan: list[tuple[int, dict]] = field(default_factory=list)
    accepted: int = 0

    @classmethod
    def build(cls, *, members: int = 6, videos: int = 3, batches: int = 400) -> Load:
        # Each (member, video) gets its own session and fresh seconds in every batch (59 batches of
        # 10 distinct seconds fit a 600 s video): more batches than that need more members.
        assert batches <= 59 * members * videos
        clients = {}
        for _ in range(members):
            member: Any = MemberFactory()
            client = Client()
            client.force_login(member)
            clients[member.pk] = client
        load = cls(clients, [VideoFactory(members_only=False, duration=600).pk for _ in range(videos)])
        # Client times strictly increase with the batch index, so the newest batch per member and
        # video is the last one posted: its last second is the resume position. They span the last
        # 15 minutes: within the late window the endpoint accepts, for as long as a test posts.
        span = 15 * 60_000
        step = min(10_000, span // batches)
        t0 = now_ms() - span
        sessions = {(u, v): uuid.uuid4() for u in clients for v in load.videos}
        keys = list(sessions)
        for i in range(batches):
            user_id, video_id = keys[i % len(keys)]
            start = (i // len(keys)) * 10 % 590
            body = batch_body(video_id, sessions[(user_id, video_id)], range(start, start + 10), t0=t0 + i * step)
            load.plan.append((user_id, body))
        return load

    def post(self, index: int) -> None:
        user_id, body = self.plan[index]
        assert post(self.clients[user_id], body) == 202
        self.accepted += 1

    def post_while(self, busy: Callable[[], bool], *, pace: float, reserve: int = 0) -> int:
        """Post the next batches, `pace` seconds apart, while `busy()` (e.g. a node joining) holds and
        the plan has more than `reserve` batches left; returns how many were posted."""
        posted = 0
        while busy() and self.accepted < len(self.plan) - reserve:
            self.post(self.accepted)
            posted += 1
            time.sleep(pace)  # paced: the writes spread over the whole operation, as real viewers' do
        return posted

    def expected(self) -> dict[tuple[int, int], dict]:
        out: dict[tuple[int, int], dict] = defaultdict(lambda: {"cells": set(), "position": None})
        for user_id, body in self.plan[: self.accepted]:
            entry = out[(user_id, body["video_id"])]
            entry["cells"] |= {(uuid.UUID(body["session_id"]), e["position"]) for e in body["events"]}
            entry["position"] = body["events"][-1]["position"]
        return out

    def assert_stored_exactly_once(self) -> None:
        total = 0
        for (user_id, video_id), want in self.expected().items():
            state = stored_state(user_id, video_id)
            cells = [(e[1], e[2]) for e in state["events"]]
            assert len(cells) == len(set(cells)) == len(want["cells"]), (user_id, video_id)
            assert set(cells) == want["cells"]
            assert state["coverage"] == {p for _, p in want["cells"]}
            assert state["watched"] == len(state["coverage"])
            assert resume_position_get(user_id=user_id, video_id=video_id) == want["position"]
            total += len(cells)
        assert total == self.accepted * 10

    def assert_rollups_exact(self) -> None:
        # The operator's repair after an incident (docs/operations.md): rebuild, then compare every
        # figure with a brute-force recomputation from the raw events on the ring.
        call_command("rollups_rebuild", video=self.videos, days=2, verbosity=0)
        for video_id in self.videos:
            expected = brute_force(video_id=video_id, duration=600, user_ids=list(self.clients), days=recent_days(2))
            assert stored_rollups(video_id=video_id) == comparable(expected)


def read_everything_at_all(settings: Any) -> None:
    """From now on this process reads (and writes) at ALL: every replica of a partition answers."""
    settings.CASSANDRA_WRITE_CONSISTENCY = ConsistencyLevel.ALL
    settings.CASSANDRA_READ_CONSISTENCY = ConsistencyLevel.ALL
    cassandra_reset()  # the session's profiles carry the consistency: rebuild it


def assert_every_replica_holds_every_event(load: Load, nodes: list[int]) -> None:
    """Read every accepted event at ALL and count the coordinators' digest mismatches meanwhile: none
    means every replica of every partition read returned the same data, i.e. each one holds every event
    (a read at ALL alone would not say so: it repairs a stale replica before answering)."""
    before = read_repair_mismatches(nodes)
    load.assert_stored_exactly_once()
    assert read_repair_mismatches(nodes) == before


def ring_workers() -> list[WorkerProcess]:
    # concurrency 1 each: two worker processes on a 2-core machine already shared with three JVMs.
    return [WorkerProcess(concurrency=1, env=RING_ENV).start() for _ in range(2)]


def test_writes_continue_while_a_node_is_killed_and_every_event_is_stored_once_after_it_returns(on_ring):
    load = Load.build(batches=400)
    workers = ring_workers()
    try:
        # Posts are paced (10 ms apart, as clients spread over time would send them), so the node
        # dies while the workers are mid-load rather than after one burst has been written.
        for i in range(150):
            load.post(i)
            time.sleep(0.01)
        # Mid-load: the workers have started writing and the stream still holds batches.
        wait_until(lambda: stream_client().xlen(STREAM) < load.accepted, timeout=60, interval=0.05)
        killed_at = time.monotonic()
        cassandra_script("kill", "2")
        for i in range(150, 250):
            load.post(i)
            time.sleep(0.01)  # paced as above: writes keep arriving while the node is dead
        # LOCAL_QUORUM with RF 3 needs two replicas: everything drains with node 2 dead.
        wait_until(drained, timeout=120)
        timed("drained with a node SIGKILLed", killed_at)

        restarted_at = time.monotonic()
        restart = subprocess.Popen(
            [ROOT / "bin" / "cassandra", "start-node", "2"], env={**os.environ, **RING_SCRIPT_ENV}
        )
        for i in range(250, 400):
            load.post(i)
            time.sleep(0.01)  # paced as above: writes keep arriving while the node rejoins
        assert restart.wait(timeout=240) == 0
        timed("killed node back to CQL", restarted_at)
        wait_until(drained, timeout=120)
        assert cassandra_script("status", check=False).returncode == 0
    finally:
        for worker in workers:
            worker.stop()

    # Node 2 missed writes while down (hints are replayed in the background); LOCAL_QUORUM reads
    # reconcile any two replicas, so the assertions see every write.
    load.assert_stored_exactly_once()
    load.assert_rollups_exact()
    assert load.accepted == 400


def test_a_worker_killed_mid_load_loses_nothing_and_the_other_finishes(on_ring):
    load = Load.build(batches=400)
    victim, survivor = ring_workers()
    try:
        # Paced posts (10 ms apart) keep both workers draining, so the victim is killed mid-load.
        for i in range(150):
            load.post(i)
            time.sleep(0.01)

        def victim_holds_entries() -> bool:
            consumers = stream_client().xinfo_consumers(STREAM, GROUP)
            pids = {str(pid) for pid in victim.child_pids()}
            return any(c["pending"] and c["name"].decode().rsplit(":", 1)[-1] in pids for c in consumers)

        index = 150
        deadline = time.monotonic() + 60
        while not victim_holds_entries():
            assert time.monotonic() < deadline, "the victim never held unacknowledged entries"
            if index < 300:
                load.post(index)
                index += 1
            time.sleep(0.002)  # a poll for victim_holds_entries() that keeps posting (wait_until cannot)
        killed_at = time.monotonic()
        victim.kill()
        for i in range(index, 400):
            load.post(i)
            time.sleep(0.01)  # paced as above: the survivor drains while new batches keep arriving
        # The survivor's periodic drain claims the dead consumer's entries once idle (2 s in tests).
        wait_until(drained, timeout=120)
        timed("drained after a worker SIGKILLed", killed_at)
    finally:
        victim.stop()
        survivor.stop()

    load.assert_stored_exactly_once()
    load.assert_rollups_exact()
    assert load.accepted == 400


OUTAGE_SECONDS = 60


def test_a_node_down_for_a_minute_is_made_whole_by_a_full_repair_and_every_replica_holds_every_event(on_ring, settings):
    load = Load.build(batches=700)
    addresses = ring_addresses()
    assert addresses == HOSTS.split(",")
    down, others = 2, [1, 3]
    down_id = host_id("127.0.0.12")
    workers = ring_workers()
    try:
        for i in range(100):
            load.post(i)
            time.sleep(0.01)  # paced as in the tests above: the node stops while the workers are mid-load
        wait_until(lambda: stream_client().xlen(STREAM) < load.accepted, timeout=60, interval=0.05)
        stopped_at = time.monotonic()
        # SIGTERM: Cassandra drains and announces its shutdown, so coordinators store hints at once.
        cassandra_script("stop-node", str(down))
        # Down for a minute while ingestion continues on the other two replicas (LOCAL_QUORUM = 2 of 3).
        outage = load.post_while(lambda: time.monotonic() - stopped_at < OUTAGE_SECONDS, pace=0.1, reserve=150)
        # The writes node 2 missed wait as hints on the coordinators (written to hint files every 10 s).
        hints = wait_until(lambda: hint_bytes(for_host_id=down_id), timeout=60, interval=1)
        # Hold hint delivery while node 2 comes back, so that what the checks below see is the repair's
        # work, not the hints'. (An operator lets hints replay: they are the first, cheap, catch-up.)
        nodetool_each(others, "pausehandoff")
        timed("node down, ingestion on two replicas", stopped_at)

        restarted_at = time.monotonic()
        restart = subprocess.Popen(
            [ROOT / "bin" / "cassandra", "start-node", str(down)], env={**os.environ, **RING_SCRIPT_ENV}
        )
        load.post_while(lambda: restart.poll() is None, pace=0.1, reserve=50)
        assert restart.wait(timeout=240) == 0
        timed("stopped node back to CQL", restarted_at)
        for i in range(load.accepted, len(load.plan)):
            load.post(i)
            time.sleep(0.01)  # paced as above: the returned node takes writes again
        wait_until(drained, timeout=180)
    finally:
        for worker in workers:
            worker.stop()
    assert outage >= 100, outage  # a minute of ingestion with node 2 down
    assert load.accepted == len(load.plan)

    read_everything_at_all(settings)
    # Node 2 really is behind: reading one member who watched during the outage at ALL finds node 2's
    # copy of their events stale (the coordinators count the mismatch, and repair those partitions).
    user_id, body = load.plan[99 + outage]
    before = read_repair_mismatches([1, 2, 3])
    stored_state(user_id, body["video_id"])
    assert read_repair_mismatches([1, 2, 3]) > before

    # Full, not incremental: the question after an outage is whether this replica holds everything,
    # and a full repair compares all of its data (Merkle trees of every range it replicates) with the
    # other replicas', whatever was repaired before. Incremental repair compares only sstables not yet
    # marked repaired and marks them (anticompaction): the routine, frequent kind; this ring has never
    # run one, so its first incremental repair would be a full one plus anticompaction anyway.
    repair_started = time.monotonic()
    out = nodetool(down, "repair", "--full", KEYSPACE)
    timed("nodetool repair --full on the returned node", repair_started)
    assert "finished" in out.lower(), out
    assert "error" not in out.lower(), out
    nodetool_each(others, "resumehandoff")
    wait_until(lambda: not hint_bytes(for_host_id=down_id), timeout=120, interval=1)  # replayed (duplicates)

    assert_every_replica_holds_every_event(load, [1, 2, 3])
    load.assert_rollups_exact()
    sys.stderr.write(f"ring outage: {outage} batches while node 2 was down, {hints} bytes of hints\n")


def test_a_fourth_node_joins_while_ingestion_runs_and_every_replica_holds_every_event_after_cleanup(on_ring, settings):
    load = Load.build(members=8, batches=1400)
    workers = ring_workers()
    try:
        for i in range(100):
            load.post(i)
            time.sleep(0.01)  # paced as in the tests above: node 4 joins while the workers are mid-load
        wait_until(lambda: stream_client().xlen(STREAM) < load.accepted, timeout=60, interval=0.05)
        join_started = time.monotonic()
        # Node 4 on 127.0.0.14, seeds = the ring's (node 1), auto_bootstrap on: it streams its ranges
        # from the nodes that give them up while every coordinator also sends it the writes for them.
        join = subprocess.Popen([ROOT / "bin" / "cassandra", "join"], env={**os.environ, **RING_SCRIPT_ENV, **JOIN_ENV})
        during_join = load.post_while(lambda: join.poll() is None, pace=0.1, reserve=300)
        assert join.wait(timeout=600) == 0
        timed("fourth node bootstrapped (UN)", join_started)

        # Cleanup rewrites sstables only: flush first, so data of ranges a node gave up that still sits
        # in its memtables is dropped too.
        cleanup_started = time.monotonic()
        flush = [nodetool_start(node, "flush", KEYSPACE) for node in (1, 2, 3)]
        load.post_while(lambda: any(p.poll() is None for p in flush), pace=0.1, reserve=200)
        assert [p.wait(timeout=120) for p in flush] == [0, 0, 0]
        joined = ring_status()
        assert {address: row["state"] for address, row in joined.items()} == dict.fromkeys(ring_addresses(), "UN")
        for node in (1, 2, 3):  # one node at a time, as on a real cluster (each rewrites all its sstables)
            cleanup = nodetool_start(node, "cleanup", KEYSPACE)
            load.post_while(lambda: cleanup.poll() is None, pace=0.1, reserve=100)  # noqa: B023
            assert cleanup.wait(timeout=300) == 0
        timed("flush + cleanup on the three original nodes", cleanup_started)
        for i in range(load.accepted, len(load.plan)):
            load.post(i)
            time.sleep(0.01)  # paced as above: the four-node ring takes the last writes
        wait_until(drained, timeout=180)
    finally:
        for worker in workers:
            worker.stop()
    assert during_join >= 100, during_join  # the join really ran under ingestion
    assert load.accepted == len(load.plan)

    cleaned = ring_status()
    assert ring_addresses() == [*HOSTS.split(","), JOINED_ADDRESS]
    assert {address: row["state"] for address, row in cleaned.items()} == dict.fromkeys(ring_addresses(), "UN")
    # RF 3 over four nodes: three replicas of everything. Node 4 split node 2's primary range in two,
    # so with one token each, nodes 1 and 4 replicate 5/6 of the ring and nodes 2 and 3 2/3.
    assert {a: row["owns"] for a, row in cleaned.items()} == {
        "127.0.0.11": 83.3,
        "127.0.0.12": 66.7,
        "127.0.0.13": 66.7,
        JOINED_ADDRESS: 83.3,
    }
    # Nodes 2 and 3 gave up a third of the ring: cleanup rewrote their sstables smaller. (Their own logs
    # say so; the Load column of `nodetool status` is gossiped once a minute, too late to compare.)
    shrunk = {node: cleaned_bytes(node) for node in (2, 3)}
    for node, (before, after) in shrunk.items():
        assert after < before, (node, before, after)
    sys.stderr.write(f"ring join: {during_join} batches while node 4 joined; cleanup (bytes before, after) {shrunk}\n")

    # Writes that timed out on a replica under load left hints for it: let them land before comparing.
    wait_until(lambda: not hint_bytes(), timeout=120, interval=1)
    read_everything_at_all(settings)
    assert_every_replica_holds_every_event(load, [1, 2, 3, 4])
    load.assert_rollups_exact()
