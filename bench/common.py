"""What several stages share: set-up, synthetic batches, Celery worker processes, CPU accounting."""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cassandra.concurrent import execute_concurrent
from django.core.management import call_command

from accounts.services import member_demo_ensure
from analytics.acceptance import WatchBatch
from analytics.cassandra import cassandra_session
from analytics.stream import GROUP, STREAM, stream_client
from bench import BENCH_ENV, ROOT, VAR
from videos.models import Video

PY = sys.executable
CELERY = [PY, "-m", "celery", "-A", "config.celery_app", "worker", "-l", "warning", "-P", "prefork"]
CHILDREN: list[subprocess.Popen[Any]] = []


def utc_from_ms(ms: int) -> datetime:
    """A UTC datetime from milliseconds since the epoch."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@atexit.register
def _kill_children() -> None:
    # Whatever happens (an exception, Ctrl-C), no gunicorn or worker outlives the benchmark.
    for proc in CHILDREN:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def loadavg() -> str:
    """The machine's load average (1, 5, 15 min), printed beside the figures: other suites may share
    the cores, and the bench's own processes count in it too."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def setup(videos: int, members: int) -> tuple[list[int], list[tuple[int, int]]]:
    call_command("migrate", verbosity=0)
    # Stage 3 runs gunicorn with DEBUG off, as deployed: hashed static files must exist.
    call_command("collectstatic", interactive=False, verbosity=0)
    session = cassandra_session()
    for ks in ("bench", "bench_raw"):
        session.execute(f"DROP KEYSPACE IF EXISTS {ks}", timeout=60)
    call_command("sync_cassandra", verbosity=0)
    session.execute("CREATE KEYSPACE bench_raw WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    create = session.execute("SELECT * FROM system_schema.tables WHERE keyspace_name = 'bench'").all()
    assert create, "sync_cassandra did not create the bench keyspace"
    session.execute(
        "CREATE TABLE bench_raw.watch_events (user_id bigint, day date, video_id bigint, session_id uuid, "
        "position int, client_ts timestamp, rate float, PRIMARY KEY ((user_id, day), video_id, session_id, position))"
    )
    stream_client().flushdb()
    users = [member_demo_ensure(index=i).pk for i in range(members)]
    return users, videos_ensure(prefix="bench", count=videos, duration=600)


def videos_ensure(*, prefix: str, count: int, duration: int) -> list[tuple[int, int]]:
    vids = []
    for i in range(count):
        video, _ = Video.objects.get_or_create(
            slug=f"{prefix}-{i}",
            defaults={
                "title": f"{prefix} {i}",
                "provider": "youtube",
                "external_id": f"{prefix}{i:06d}"[:40],
                "duration": duration,
                "is_published": True,
                "access": "public",
            },
        )
        vids.append((video.pk, int(video.duration or duration)))
    return vids


def synthetic_batches(users: list[int], vids: list[tuple[int, int]], n_batches: int, seed: int) -> list[WatchBatch]:
    """n_batches 10-event batches: each member watching sequential seconds of one video per session."""
    rng = random.Random(seed)
    now = int(time.time() * 1000) - 3_600_000
    out: list[WatchBatch] = []
    while len(out) < n_batches:
        user = rng.choice(users)
        video, duration = rng.choice(vids)
        session_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        start = rng.randrange(0, duration - 100)
        t0 = now - rng.randrange(0, 600_000)
        for b in range(rng.randrange(3, 10)):
            events = tuple((start + b * 10 + i, t0 + (b * 10 + i) * 1000, 1.0) for i in range(10))
            out.append(WatchBatch(user, video, session_id, events))
    return out[:n_batches]


class Workers:
    """Celery worker processes (prefork), in their own process groups."""

    def __init__(self, processes: int, concurrency: int, *, wait: bool = True) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        env = {**os.environ, **BENCH_ENV}
        for i in range(processes):
            logf = open(VAR / f"bench-worker-{i}.log", "wb")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    [*CELERY, "-c", str(concurrency), "-n", f"bench{i}@%h", "--without-gossip", "--without-mingle"],
                    cwd=ROOT,
                    env=env,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            CHILDREN.append(self.procs[-1])
        if wait:
            time.sleep(4)

    def pids(self) -> list[int]:
        return [pid for p in self.procs for pid in process_tree(p.pid)]

    def peak_rss_mb(self) -> float:
        peak = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            except OSError:
                pass
        return peak / 1024

    def stop(self) -> None:
        for p in self.procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def kick() -> None:
    from analytics.tasks import watch_stream_drain_task

    for _ in range(4):
        watch_stream_drain_task.delay()


SWEEP_S = 1.0


def wait_drained(timeout: float = 600) -> None:
    """Until the stream is empty. Batches that arrive while a drain's wake-up flag is still set but
    after that drain's last read wait for the beat's sweep (every 5 s, settings.CELERY_BEAT_SCHEDULE)
    in production; the bench runs no beat, so it sweeps itself every SWEEP_S while it waits."""
    client = stream_client()
    deadline = time.monotonic() + timeout
    next_sweep = time.monotonic() + SWEEP_S
    while time.monotonic() < deadline:
        if client.xlen(STREAM) == 0 and client.xpending(STREAM, GROUP)["pending"] == 0:
            return
        if time.monotonic() >= next_sweep:
            from analytics.tasks import watch_stream_drain_task

            watch_stream_drain_task.delay()
            next_sweep = time.monotonic() + SWEEP_S
        time.sleep(0.05)
    raise SystemExit("timed out waiting for the stream to drain")


def wait_recounted(timeout: float = 120) -> None:
    """Until no watched-count recount is waiting (the drain recounts a grown coverage row once it has
    not grown for WATCH_COUNT_REFRESH_SECONDS, analytics.recount.watched_counts_schedule): a stage
    that stops counting CPU before then would leave that work out. Sweeps as the beat would."""
    from analytics.stream import COUNTS_DUE_KEY
    from analytics.tasks import watch_stream_drain_task

    client = stream_client()
    deadline = time.monotonic() + timeout
    while client.zcard(COUNTS_DUE_KEY):
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the watched-count recounts")
        watch_stream_drain_task.delay()
        time.sleep(SWEEP_S)


def stored_events(keys: set[tuple[int, date]]) -> int:
    session = cassandra_session()
    stmt = session.prepare("SELECT COUNT(*) FROM bench.watch_events WHERE user_id = ? AND day = ?")
    results = execute_concurrent(session, [(stmt, k) for k in keys], concurrency=64, raise_on_first_error=True)
    return sum(r.one()[0] for _, r in results)


# --- CPU accounting from /proc ---------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (read from /proc, nothing is signalled)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(entry.name))[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children.get(current, [])
    return out


def _stat_fields(pid: int) -> list[str]:
    # Fields after the command name (which may contain spaces): state, ppid, ...
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of `pids`, including their reaped children (a recycled worker's CPU moves to
    its parent's cutime/cstime, so a group's total stays continuous while it is sampled)."""
    total = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of /proc/<pid>/stat (11-14 after the name).
        total += sum(int(f) for f in fields[11:15])
    return total / _TICK


def port_owner(port: int) -> int | None:
    """The pid listening on 127.0.0.1:`port` (Cassandra's JVM, redis-server), from `ss`."""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    marker = "pid="
    if marker not in out:
        return None
    return int(out.split(marker, 1)[1].split(",", 1)[0])


@dataclass
class CpuGroups:
    """CPU seconds of named process groups (each the trees under some root pids) between `start()`
    and `stop()`; the trees are re-read at each sample, so recycled children are counted."""

    groups: dict[str, list[int]]

    def __post_init__(self) -> None:
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self.before = {name: self._sample(name) for name in self.groups}

    def stop(self, *names: str) -> None:
        for name in names or tuple(self.groups):
            self.used[name] = self._sample(name) - self.before[name]

    def _sample(self, name: str) -> float:
        return cpu_seconds([pid for root in self.groups[name] for pid in process_tree(root)])
