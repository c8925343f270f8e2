"""The analytics app's health probes, registered with config.probes from `AnalyticsConfig.ready()`.

/healthz runs them at most once per few seconds per process (config/health.py), so each may take a
network round trip, but none may open a connection per call: they use the process's pooled clients.
"""

from __future__ import annotations

from typing import cast

from kombu.connection import Connection, ConnectionPool

from analytics.cassandra import READ_PROFILE, cassandra_session
from analytics.pipeline import pipeline_depths, pipeline_summary, pipeline_warnings
from config.celery_app import app as celery_app
from config.probes import ProbeResult

CELERY_PING_TIMEOUT = 1.0


def cassandra_probe() -> None:
    cassandra_session().execute("SELECT release_version FROM system.local", execution_profile=READ_PROFILE, timeout=2)


def celery_probe() -> None:
    """Raises unless at least one worker answers a ping.

    On a pooled broker connection (the site's kombu pool). After a Redis restart a pooled
    connection fails once with a connection error: it is then replaced (closed, not returned to the
    pool) and the ping retried once on another, so a restart costs no false "down".
    limit=1: return at the first reply instead of waiting the whole timeout for more workers.
    """
    # celery-types calls `app.pool` a ProducerPool; at run time it is kombu's ConnectionPool.
    pool = cast(ConnectionPool, celery_app.pool)
    for attempt in (1, 2):
        connection: Connection = pool.acquire(block=True, timeout=2)
        try:
            replies = celery_app.control.ping(timeout=CELERY_PING_TIMEOUT, limit=1, connection=connection)
        except Exception as exc:
            # A connection that failed never goes back to the pool.
            pool.replace(connection)
            if attempt == 2 or not isinstance(exc, connection.connection_errors):
                raise
            continue
        connection.release()
        if not replies:
            raise RuntimeError("no worker answered ping")
        return


def pipeline_probe() -> ProbeResult:
    """Informational (not critical): the depths for operators, warnings near a cap."""
    depths = pipeline_depths()
    return ProbeResult(details=pipeline_summary(depths), warnings=tuple(pipeline_warnings(depths)))
