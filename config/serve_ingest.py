"""The ingest process: granian (an HTTP server in Rust) serving config.wsgi_ingest, the watch-batch
paths only. `python -m config.serve_ingest` (Procfile `ingest`); the reverse proxy in front sends
/api/watch/ here and everything else to gunicorn (docs/operations.md).

Why a server of its own for one path: gunicorn's pure-Python HTTP parsing and thread hand-off cost
about as much CPU as the ingest handler itself; granian parses HTTP in Rust and runs the same WSGI
callable on its threads. The pages stay on gunicorn, where Django's own work dominates (the
measurements: docs/decisions/0002-watch-batches-ahead-of-django-on-granian.md, docs/benchmarks.md).

Values come from the typed settings (config/env.py: INGEST_BIND, INGEST_WORKERS, INGEST_THREADS,
INGEST_MAX_RSS_MB), so a bad value stops start-up naming the variable.
"""

from __future__ import annotations

import os

from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import MPServer

from config.env import get_settings


def ingest_server_build() -> MPServer:
    env = get_settings()
    host, _, port = env.ingest_bind.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"INGEST_BIND must be host:port, not {env.ingest_bind!r}")
    # MPServer: what `granian.Granian` is on a GIL build of Python (worker processes, not threads).
    return MPServer(
        "config.wsgi_ingest:application",
        interface=Interfaces.WSGI,
        address=host.strip("[]"),
        port=int(port),
        # One process per core: the handler is CPU-bound; threads overlap its Redis round trip.
        workers=env.ingest_workers or os.cpu_count() or 1,
        blocking_threads=env.ingest_threads,
        # No access log: a line per batch would cost more than the batch; /metrics counts them.
        log_access=False,
        log_level=LogLevels(env.log_level.lower()),
        respawn_failed_workers=True,
        workers_max_rss=env.ingest_max_rss_mb,
        # On TERM, requests in flight get this long to finish (gunicorn's graceful_timeout).
        workers_kill_timeout=30,
        # The proxy keeps connections open; no HTTP/2 or websockets on this path.
        websockets=False,
        # Slow clients are the proxy's to absorb (nginx reads each request whole, under 10 s timeouts:
        # etc/nginx/watchpoint.conf.in): granian hands a request to a Python thread before its body
        # has arrived and has no body-read timeout, so this port must be reachable only from the
        # proxy. What granian does offer, a header deadline, matches nginx's (its default is 30 s).
        http1_settings=HTTP1Settings(header_read_timeout=10_000),
    )


if __name__ == "__main__":
    ingest_server_build().serve()
