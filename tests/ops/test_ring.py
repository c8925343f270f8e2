"""Scale-out on a real 3-node Cassandra ring: the pipeline survives losing a node or a worker.

The ring runs on 127.0.0.11-13 (bin/cassandra with CASSANDRA_FIRST_ADDRESS), beside the developer's
node on 127.0.0.1, with its own keyspace (NetworkTopologyStrategy dc1=3) written and read at
LOCAL_QUORUM. Two real Celery worker processes drain the stream into it while the test posts batches
through the real endpoint; mid-load, one Cassandra node (or one worker) is SIGKILLed.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cassandra import ConsistencyLevel
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


def cassandra_script(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [ROOT / "bin" / "cassandra", *args], env={**os.environ, **RING_SCRIPT_ENV}, check=check, timeout=300
    )


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
        subprocess.run(["rm", "-rf", str(ROOT / "var" / "cassandra" / f"ring{NODES}-{FIRST_ADDRESS}")], check=True)
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
        clients = {}
        for _ in range(members):
            member: Any = MemberFactory()
            client = Client()
            client.force_login(member)
            clients[member.pk] = client
        load = cls(clients, [VideoFactory(members_only=False, duration=600).pk for _ in range(videos)])
        # Client times strictly increase with the batch index, so the newest batch per member and
        # video is the last one posted: its last second is the resume position.
        t0 = now_ms() - 3 * 3_600_000
        sessions = {(u, v): uuid.uuid4() for u in clients for v in load.videos}
        keys = list(sessions)
        for i in range(batches):
            user_id, video_id = keys[i % len(keys)]
            start = (i // len(keys)) * 10 % 590
            body = batch_body(video_id, sessions[(user_id, video_id)], range(start, start + 10), t0=t0 + i * 10_000)
            load.plan.append((user_id, body))
        return load

    def post(self, index: int) -> None:
        user_id, body = self.plan[index]
        assert post(self.clients[user_id], body) == 202
        self.accepted += 1

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
