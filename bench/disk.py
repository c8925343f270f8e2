"""Stage 5 (part): bytes on disk per raw event after the node is drained (restarts Cassandra)."""

from __future__ import annotations

import subprocess

from analytics.cassandra import cassandra_reset
from bench import ROOT, VAR


def stage_disk(events: int) -> float:
    data = VAR / "cassandra" / "ring1" / "node1" / "data" / "bench"
    subprocess.run([str(ROOT / "bin/cassandra"), "stop"], check=True)  # SIGTERM drains memtables to SSTables
    size = sum(f.stat().st_size for d in data.glob("watch_events-*") for f in d.rglob("*") if f.is_file())
    subprocess.run([str(ROOT / "bin/cassandra"), "start"], check=True)
    # The old session's connections died with the node: start the next stages on a fresh one.
    cassandra_reset()
    return size / events
