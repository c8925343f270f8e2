"""The process's Cassandra session and prepared statements.

One driver Session per OS process, built from `settings.DATABASES["cassandra"]` on first use and
rebuilt after a fork (Celery prefork children, gunicorn workers): a Session owns sockets and event
loop threads that do not survive fork(). django-cassandra-engine keeps its own (lazy) connection
for schema sync and test keyspaces; hot paths use this one.
"""

from __future__ import annotations

import inspect
import logging
import operator
import os
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.concurrent import execute_concurrent
from cassandra.policies import RetryPolicy
from cassandra.query import BatchStatement, BatchType, PreparedStatement, tuple_factory
from django.conf import settings

from config.cassandra_policies import load_balancing_policy, reconnection_policy
from config.metrics import counter_inc

logger = logging.getLogger(__name__)

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
        "protocol_version": conn.get("protocol_version", 4),
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
CONCURRENCY = settings.CASSANDRA_CONCURRENCY
# For BatchPacker's batches (up to 100 rows each), far fewer: 128 of them per drain child put tens
# of thousands of mutations in the node's queue at once, and when compaction slowed the node (the
# drifting soak README describes) some waited past the 2-s write timeout and were dropped (19 in one
# run), so their whole round was written again. 8 per call keeps a few thousand rows queued per
# child, a fraction of a second of work, which still keeps the node busy (stage 3 measured no loss).
PACKED_CONCURRENCY = settings.CASSANDRA_PACKED_CONCURRENCY


def cassandra_execute_all(
    statements: Sequence[tuple[Any, Sequence[Any]]], *, read: bool = False, concurrency: int = CONCURRENCY
) -> list[Any]:
    """Run (statement, parameters) pairs concurrently on the process's session; raises the first
    error (every statement of this project is idempotent, so the caller retries the whole call).
    Returns each statement's result set in order; `read` uses the read profile (its consistency)."""
    results = execute_concurrent(
        cassandra_session(),
        statements,
        concurrency=concurrency,
        raise_on_first_error=True,
        **({"execution_profile": READ_PROFILE} if read else {}),
    )
    return [result for _, result in results]


# Binding by hand: the driver's bind() costs ~8 us a row here (checks, a BoundStatement, its
# routing key), these packers ~1. They serialize exactly as the driver does for the value types this
# project passes (tests/analytics/test_ingest_drain.py compares the bytes for every drain statement);
# a value they do not take (None, a datetime for a timestamp) falls back to bind().
_pack_i16, _pack_i32, _pack_i64 = struct.Struct(">h").pack, struct.Struct(">i").pack, struct.Struct(">q").pack
_pack_u32, _pack_f32, _pack_u16 = struct.Struct(">I").pack, struct.Struct(">f").pack, struct.Struct(">H").pack
_pack_int_element = struct.Struct(">ii").pack  # a collection element: its length (4), the int
_pack_int_pair = struct.Struct(">iiii").pack
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DATE_CENTRE = 2**31  # CQL dates are unsigned days with the epoch at 2^31


def _pack_date(value: date) -> bytes:
    return _pack_u32(value.toordinal() - _EPOCH_ORDINAL + _DATE_CENTRE)


def _pack_int_set(values: Any) -> bytes:
    return b"".join([_pack_i32(len(values)), *[_pack_int_element(4, v) for v in values]])


def _pack_int_map(values: Any) -> bytes:
    return b"".join([_pack_i32(len(values)), *[_pack_int_pair(4, k, 4, v) for k, v in values.items()]])


_PACKERS: dict[str, Callable[[Any], bytes]] = {
    "LongType": _pack_i64,
    "Int32Type": _pack_i32,
    "ShortType": _pack_i16,
    "FloatType": _pack_f32,
    "UUIDType": operator.attrgetter("bytes"),
    "SimpleDateType": _pack_date,
    "DateType": _pack_i64,  # ms since the epoch, as an int
    "SetType(Int32Type)": _pack_int_set,
    "MapType(Int32Type, Int32Type)": _pack_int_map,
}
_row_packers: dict[bytes, tuple[Callable[[Any], bytes], ...] | None] = {}


def cassandra_row_encode(statement: PreparedStatement, values: Sequence[Any]) -> list[bytes]:
    """`values` serialized for `statement`, as BoundStatement.values would hold them.

    A statement with a column type the packers do not know, or a value they do not take, goes
    through the driver's bind() instead: correct, but ~8x the cost, so it is logged (once per
    statement and reason) and counted, never silent."""
    packers = _row_packers.get(statement.query_id, ())
    if packers == ():
        found = [_PACKERS.get(column.type.__name__) for column in statement.column_metadata]
        packers = _row_packers[statement.query_id] = None if None in found else tuple(found)  # type: ignore[arg-type]
        if packers is None:
            _slow_path(statement, "a column type the hand packers do not know")
    if packers is not None and len(values) == len(packers):
        try:
            return [pack(value) for pack, value in zip(packers, values, strict=True)]
        except (struct.error, AttributeError, TypeError) as exc:
            _slow_path(statement, f"a value the hand packers do not take ({type(exc).__name__})")
    return list(statement.bind(values).values)


_slow_paths: set[tuple[bytes, str]] = set()


def _slow_path(statement: PreparedStatement, reason: str) -> None:
    counter_inc("watchpoint_cassandra_rows_bound_by_driver", flush=False)
    if (statement.query_id, reason) not in _slow_paths:
        _slow_paths.add((statement.query_id, reason))
        logger.warning("rows of %r bound by the driver (slow path): %s", statement.query_string, reason)


# The packer adds bound rows to a BatchStatement through the driver's private
# _add_statement_and_params (its public add() would bind each row again, the cost the packers
# remove). Fail at import, loudly, if a driver upgrade changes it; tests/analytics/test_ingest_drain.py
# also compares what reaches Cassandra.
if list(inspect.signature(BatchStatement._add_statement_and_params).parameters) != [
    "self",
    "is_prepared",
    "statement",
    "parameters",
]:
    raise ImportError("cassandra BatchStatement._add_statement_and_params changed: review analytics/cassandra.py")


def _routing_key(statement: PreparedStatement, encoded: list[bytes]) -> bytes | None:
    # As BoundStatement.routing_key: the partition key's value, or its components each framed.
    indexes = statement.routing_key_indexes
    if not indexes:
        return None
    if len(indexes) == 1:
        return encoded[indexes[0]]
    return b"".join(_pack_u16(len(encoded[i])) + encoded[i] + b"\x00" for i in indexes)


# Per UNLOGGED batch: at most this many rows, and this many set elements over its set-union rows,
# so a batch stays far under Cassandra's 50 KiB default failure threshold whatever the sets hold
# (a session's seconds: up to 200 per batch). Batches reach ~20 KiB: over the 5 KiB default
# *warning*, so etc/cassandra/cassandra.yaml.in warns at 32 KiB (set the same on a managed ring).
ROWS_PER_BATCH = 100
SET_ELEMENTS_PER_BATCH = 800


class BatchPacker:
    """Packs writes into as few requests as their replicas allow.

    The driver's cost is per request (~0.3 ms of Python for a small one, and as much again on the
    node), not per row. A drain round touches about one partition per member per table, so one
    request per partition still costs about one request per member's batch. Rows whose partitions
    have the same replicas go together instead, into one UNLOGGED batch, and the batch is sent to
    those replicas (the token-aware policy routes it by its first row): no coordinator forwards a
    mutation to another node, which is what makes multi-partition unlogged batches costly. One node,
    or a ring where every node holds every row, has one replica set: the round's rows fill batches
    of `max_rows` rows and `max_elements` set elements (which bound a batch's size).

    An UNLOGGED batch spanning partitions is not atomic; nothing here needs it to be. Every write of
    this project is idempotent, and a caller retries the whole call when any request fails.
    """

    def __init__(self, *, max_rows: int, max_elements: int) -> None:
        self.max_rows, self.max_elements = max_rows, max_elements
        self._token_map = cassandra_session().cluster.metadata.token_map
        self._open: dict[Any, list[Any]] = {}  # replica set (frozenset) -> [batch, rows, elements]
        self._requests: list[tuple[Any, Sequence[Any]]] = []

    def rows(self, rows: Sequence[tuple[PreparedStatement, Sequence[Any], int]]) -> None:
        """Rows of one partition: (statement, values, set elements the row carries)."""
        routing: tuple[Any, str | None, bytes | None] | None = None
        for statement, values, elements in rows:
            encoded = cassandra_row_encode(statement, values)
            if routing is None:
                # As BoundStatement: the keyspace of the statement's columns (a PreparedStatement's
                # own `keyspace` is None unless prepared with one); without it no token routing.
                keyspace = statement.column_metadata[0].keyspace_name if statement.column_metadata else None
                routing_key = _routing_key(statement, encoded)
                routing = (self._replicas(keyspace, routing_key), keyspace, routing_key)
            self._batch_for(*routing, elements)._add_statement_and_params(True, statement.query_id, encoded)

    def requests(self) -> list[tuple[Any, Sequence[Any]]]:
        """The (statement, parameters) pairs to send."""
        return self._requests

    def execute(self) -> None:
        """Send them, PACKED_CONCURRENCY at a time; raises the first error (the caller retries all)."""
        cassandra_execute_all(self._requests, concurrency=PACKED_CONCURRENCY)

    def _batch_for(
        self, replicas: Any, keyspace: str | None, routing_key: bytes | None, elements: int
    ) -> BatchStatement:
        current = self._open.get(replicas)
        if current is None or current[1] >= self.max_rows or current[2] + elements > self.max_elements:
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            # Routed by its first row's partition: every other row has the same replicas.
            batch.keyspace, batch.routing_key = keyspace, routing_key
            current = self._open[replicas] = [batch, 0, 0]
            self._requests.append((batch, ()))
        current[1] += 1
        current[2] += elements
        return current[0]

    def _replicas(self, keyspace: str | None, routing_key: bytes | None) -> Any:
        if self._token_map is None or keyspace is None or routing_key is None:
            return None
        token = self._token_map.token_class.from_key(routing_key)
        # A set, not the driver's list: the list starts at the token's primary replica, so on a ring
        # where every node holds every row (3 nodes, RF 3) it would still split rows into one group per
        # primary (one per token range: 3 here, more with vnodes), each a separate request.
        return frozenset(self._token_map.get_replicas(keyspace, token))


def cassandra_date(value: Any) -> date:
    """A CQL `date` as the driver returns it (cassandra.util.Date) as a datetime.date."""
    return value if isinstance(value, date) else value.date()
