"""Watchpoint benchmark (`make bench` = `bin/bench`): every stage of the watch pipeline on the real
services, one module per stage, ratios against the raw-driver baseline of the same run.

Importing this package points the process at the bench's own Cassandra keyspaces (bench,
bench_raw), Redis database 14 and SQLite file, then sets Django up, so every module below may
import the project's code at module level. Stage modules: raw (1), ingest (2), e2e (3), resume (4),
disk (5), analytics (6-7), ring (--ring); common: set-up, workers, CPU accounting; main: the table.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
VAR = ROOT / "var"


def _persistent(url: str) -> str:
    """`url`, an SQLite one keeping its connection (`?conn_max_age=60`, config/env.py) unless it
    says otherwise: production's PostgreSQL connections persist (settings: conn_max_age=60), while
    an SQLite connection opened per request re-reads the schema at its first statement, ~0.45 ms of
    CPU per page that production never pays."""
    if not url.startswith("sqlite:") or "conn_max_age=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}conn_max_age=60"


# BENCH_CASSANDRA_KEYSPACE / BENCH_REDIS_URL / BENCH_DATABASE_URL move a run elsewhere, so an
# in-process measurement (bench.page_cost) can run beside a full bench without sharing its stores.
BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "CASSANDRA_KEYSPACE": os.environ.get("BENCH_CASSANDRA_KEYSPACE", "bench"),
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
    "DATABASE_URL": _persistent(os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{VAR / 'bench.sqlite3'}")),
    "DJANGO_DEBUG": "false",
    # Shared with gunicorn: stage 3 signs the viewing-session tokens in this process.
    "DJANGO_SECRET_KEY": "bench-" + secrets.token_hex(32),
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "WATCH_CLAIM_IDLE_SECONDS": "30",
    # Each simulated client posts for several members far faster than a browser (one per 10 s).
    "WATCH_BATCHES_PER_MINUTE": "1000000",
}
os.environ.update(BENCH_ENV)

import django  # noqa: E402

django.setup()
