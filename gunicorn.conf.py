"""gunicorn configuration: `gunicorn config.wsgi` picks this file up from the working directory.

Values come from the typed settings (config/env.py: WEB_CONCURRENCY, WEB_THREADS, WEB_BIND,
WEB_TIMEOUT), so a bad value stops gunicorn before it forks, naming the variable.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.env import get_settings

_env = get_settings()

wsgi_app = "config.wsgi:application"
bind = _env.web_bind
# gthread: each worker serves WEB_THREADS requests at once. Requests mostly wait on Redis,
# PostgreSQL or Cassandra (reads), so threads overlap that waiting cheaply; processes give
# CPU parallelism. The classic 2 x CPUs + 1 processes keeps every core busy while some wait.
# Not `sync`: it costs about the same CPU per page but keeps no connection alive between requests
# and serves one connection per process, so a slow client holds a whole process (docs/benchmarks.md).
worker_class = "gthread"
workers = _env.web_concurrency or 2 * multiprocessing.cpu_count() + 1
threads = _env.web_threads
# A request still running after this long is stuck (every backend call has its own shorter
# timeout): the worker is killed and replaced. graceful_timeout: time to finish requests on HUP/TERM.
timeout = _env.web_timeout
graceful_timeout = 30
# Behind a proxy (nginx, a load balancer) that keeps connections open between requests.
keepalive = 5
# Recycle workers now and then (jittered so they do not restart together): caps slow leaks. Not
# often: a fresh worker re-imports Django and opens its own Cassandra session and Redis pools, so a
# worker should live long enough for that start-up to be noise against the requests it serves.
# (Watch batches do not count here: they go to the ingest process, config/serve_ingest.py.)
max_requests = 100_000
max_requests_jitter = 10_000
# Load the app in each worker after fork: the per-process Cassandra session and Redis pools must
# never be shared across fork() (analytics/cassandra.py).
preload_app = False
# Gunicorn's own temp files on tmpfs: heartbeat writes never block on a slow disk.
_SHM = "/dev/shm"  # noqa: S108 (gunicorn heartbeat files: only this process writes them)
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None

# Access log to stdout, one JSON object per request (same shipper as the app's JSON logs on stderr),
# built with json.dumps whatever the request holds; its fields are config/gunicorn_log.py's
# ACCESS_LOG_FIELDS (access_log_format is not read). No line for the watch-batch paths: they are
# counted in /metrics instead.
accesslog = "-"
logger_class = "config.gunicorn_log.UnloggedIngestPathsLogger"
errorlog = "-"
loglevel = _env.log_level.lower()


def child_exit(server: Any, worker: Any) -> None:
    """prometheus-client's multiprocess mode: drop a dead worker's live gauges (its counters stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
