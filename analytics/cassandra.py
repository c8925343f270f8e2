"""The process's Cassandra session and prepared statements.

One driver Session per OS process, built from `settings.DATABASES["cassandra"]` on first use and
rebuilt after a fork (Celery prefork children, gunicorn workers): a Session owns sockets and event
loop threads that do not survive fork(). django-cassandra-engine keeps its own (lazy) connection
for schema sync and test keyspaces; hot paths use this one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.concurrent import execute_concurrent
from cassandra.policies import RetryPolicy
from cassandra.query import PreparedStatement, tuple_factory
from django.conf import settings

from config.cassandra_policies import load_balancing_policy, reconnection_policy

try:  # The manylinux wheels bundle libev: faster than the asyncore fallback.
    from cassandra.io.libevreactor import LibevConnection as _ConnectionClass
except ImportError:  # pragma: no cover
    from cassandra.io.asyncorereactor import AsyncoreConnection as _ConnectionClass

READ_PROFILE = "read"
READ_TUPLES_PROFILE = "read-tuples"


class IdempotentRetryPolicy(RetryPolicy):
    """Retry a timed-out or refused request once on the next coordinator.

    Safe because every statement this project sends is idempotent (cells keyed by member, day, video,
    session and second; set unions; client-time write timestamps). It bridges the failure-detector
    window on a ring: right after a node dies, coordinators still count it as a replica and a request
    may time out or find too few replicas; the next coordinator usually succeeds. What still fails
    goes back to the Celery task, whose retries (with backoff) outlast the window.
    """

    def on_read_timeout(
        self,
        query: Any,
        consistency: Any,
        required_responses: int,
        received_responses: int,
        data_retrieved: bool,
        retry_num: int,
    ) -> tuple[int, Any]:
        return (self.RETRY_NEXT_HOST, consistency) if retry_num == 0 else (self.RETHROW, None)

    def on_write_timeout(
        self,
        query: Any,
        consistency: Any,
        write_type: Any,
        required_responses: int,
        received_responses: int,
        retry_num: int,
    ) -> tuple[int, Any]:
        return (self.RETRY_NEXT_HOST, consistency) if retry_num == 0 else (self.RETHROW, None)

    def on_unavailable(
        self, query: Any, consistency: Any, required_replicas: int, alive_replicas: int, retry_num: int
    ) -> tuple[int, Any]:
        return (self.RETRY_NEXT_HOST, consistency) if retry_num == 0 else (self.RETHROW, None)

    def on_request_error(self, query: Any, consistency: Any, error: Exception, retry_num: int) -> tuple[int, Any]:
        return (self.RETRY_NEXT_HOST, consistency) if retry_num < 2 else (self.RETHROW, None)


@dataclass
class _State:
    pid: int
    key: tuple[Any, ...]
    cluster: Cluster
    session: Session
    prepared: dict[str, PreparedStatement] = field(default_factory=dict)


_state: _State | None = None
_lock = threading.Lock()


def _config_key() -> tuple[Any, ...]:
    db = settings.DATABASES["cassandra"]
    conn = db.get("OPTIONS", {}).get("connection", {})
    return (db["HOST"], conn.get("port"), db.get("USER"), str(conn.get("cloud")), settings.CASSANDRA_LOCAL_DC)


def _build() -> _State:
    db = settings.DATABASES["cassandra"]
    conn = dict(db.get("OPTIONS", {}).get("connection", {}))
    balancing = load_balancing_policy(local_dc=settings.CASSANDRA_LOCAL_DC)
    profiles = {
        EXEC_PROFILE_DEFAULT: ExecutionProfile(
            load_balancing_policy=balancing,
            retry_policy=IdempotentRetryPolicy(),
            consistency_level=settings.CASSANDRA_WRITE_CONSISTENCY,
            request_timeout=10,
        ),
        READ_PROFILE: ExecutionProfile(
            load_balancing_policy=balancing,
            retry_policy=IdempotentRetryPolicy(),
            consistency_level=settings.CASSANDRA_READ_CONSISTENCY,
            request_timeout=5,
        ),
        # The same, rows as plain tuples: the driver's default builds a namedtuple class for every
        # result (~0.05 ms of CPU), on the read every member page makes.
        READ_TUPLES_PROFILE: ExecutionProfile(
            load_balancing_policy=balancing,
            retry_policy=IdempotentRetryPolicy(),
            consistency_level=settings.CASSANDRA_READ_CONSISTENCY,
            request_timeout=5,
            row_factory=tuple_factory,
        ),
    }
    kwargs: dict[str, Any] = {
        "protocol_version": conn.get("protocol_version", 5),
        "connect_timeout": conn.get("connect_timeout", 5),
        "control_connection_timeout": conn.get("connect_timeout", 5),
        "execution_profiles": profiles,
        "connection_class": _ConnectionClass,
        "compression": False,
        "reconnection_policy": reconnection_policy(),
    }
    if "ssl_context" in conn:
        kwargs["ssl_context"] = conn["ssl_context"]
    if "cloud" in conn:
        kwargs["cloud"] = conn["cloud"]
    else:
        kwargs["contact_points"] = db["HOST"].split(",")
        kwargs["port"] = conn.get("port", 9042)
    if db.get("USER"):
        kwargs["auth_provider"] = PlainTextAuthProvider(username=db["USER"], password=db["PASSWORD"])
    cluster = Cluster(**kwargs)
    try:
        session = cluster.connect()
    except Exception:
        cluster.shutdown()
        raise
    from config.metrics import cassandra_request_observe

    # Every request's latency into /metrics (buffered in-process; see config/metrics.py).
    session.add_request_init_listener(cassandra_request_observe)
    return _State(pid=os.getpid(), key=_config_key(), cluster=cluster, session=session)


def cassandra_session() -> Session:
    """This process's session (connected on first use). Raises NoHostAvailable when unreachable."""
    global _state
    state = _state
    if state is not None and state.pid == os.getpid() and state.key == _config_key():
        return state.session
    with _lock:
        state = _state
        if state is None or state.pid != os.getpid() or state.key != _config_key():
            if state is not None and state.pid == os.getpid():
                state.cluster.shutdown()
            state = _state = _build()
    return state.session


def cassandra_keyspace() -> str:
    # Read at call time: the test runner swaps in `test_<keyspace>` after settings load.
    return str(settings.DATABASES["cassandra"]["NAME"])


def cassandra_prepared(cql: str) -> PreparedStatement:
    """Prepare `cql` once per process and keyspace; `{ks}` in it becomes the current keyspace."""
    session = cassandra_session()
    prepared = _state.prepared if _state is not None else {}
    text = cql.format(ks=cassandra_keyspace())
    statement = prepared.get(text)
    if statement is None:
        statement = prepared[text] = session.prepare(text)
    return statement


def cassandra_reset() -> None:
    """Forget the session without closing it (it may belong to the parent process)."""
    global _state
    with _lock:
        if _state is not None and _state.pid == os.getpid():
            _state.cluster.shutdown()
        _state = None


# Concurrent requests in flight per call: enough to keep one node's coordinator busy, bounded so a
# large rebuild cannot queue thousands of requests in the driver at once.
CONCURRENCY = 128


def cassandra_execute_all(statements: Sequence[tuple[Any, Sequence[Any]]], *, read: bool = False) -> list[Any]:
    """Run (statement, parameters) pairs concurrently on the process's session; raises the first
    error (every statement of this project is idempotent, so the caller retries the whole call).
    Returns each statement's result set in order; `read` uses the read profile (its consistency)."""
    results = execute_concurrent(
        cassandra_session(),
        statements,
        concurrency=CONCURRENCY,
        raise_on_first_error=True,
        **({"execution_profile": READ_PROFILE} if read else {}),
    )
    return [result for _, result in results]


def cassandra_date(value: Any) -> date:
    """A CQL `date` as the driver returns it (cassandra.util.Date) as a datetime.date."""
    return value if isinstance(value, date) else value.date()
