"""analytics.stream.HotScript: the lean EVALSHA of the watch-batch endpoint keeps what redis-py's
Script call does (reply, NOSCRIPT reload, reconnect after a dropped connection, same exceptions)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import redis as redis_py

from analytics.stream import HotScript, stream_client

ECHO = "redis.call('INCR', KEYS[1]); return {ARGV[1], tonumber(ARGV[2]) + 1}"


def test_it_answers_what_the_script_returns(redis: Any) -> None:
    hot = HotScript(stream_client(), ECHO)

    assert hot(keys=["hot:n"], args=["x", 41]) == [b"x", 42]
    assert hot(keys=["hot:n"], args=[b"y", 1.5]) == [b"y", 2]
    assert redis.get("hot:n") == b"2"


def test_one_connection_serves_call_after_call(redis: Any) -> None:
    hot = HotScript(stream_client(), ECHO)
    hot(keys=["hot:n"], args=["x", 1])
    first = hot._idle[0]

    for _ in range(3):
        hot(keys=["hot:n"], args=["x", 1])

    assert hot._idle == [first]


def test_an_unknown_sha_loads_the_script_again_and_runs_it_once(redis: Any) -> None:
    # What a Redis restart or SCRIPT FLUSH looks like to the caller, without flushing the shared
    # server's scripts: the cached sha is not known to Redis.
    hot = HotScript(stream_client(), ECHO)
    real_sha = hot.sha
    hot._script.sha = "0" * 40

    assert hot(keys=["hot:n"], args=["x", 1]) == [b"x", 2]
    assert hot.sha == real_sha
    assert redis.get("hot:n") == b"1"


def test_a_connection_the_server_dropped_is_reopened_before_use(redis: Any) -> None:
    hot = HotScript(stream_client(), ECHO)
    hot(keys=["hot:n"], args=["x", 1])
    connection = hot._idle[0]
    connection.send_command("CLIENT", "ID")
    own_id = connection.read_response()

    assert redis.client_kill_filter(_id=own_id) == 1
    assert hot(keys=["hot:n"], args=["x", 1]) == [b"x", 2]
    assert redis.get("hot:n") == b"2"


def test_an_unreachable_redis_raises_redis_connection_error() -> None:
    hot = HotScript(redis_py.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=2), ECHO)

    with pytest.raises(redis_py.ConnectionError):
        hot(keys=["hot:n"], args=["x", 1])
    with pytest.raises(redis_py.ConnectionError):
        hot(keys=["hot:n"], args=["x", 1])


def test_a_forked_child_opens_its_own_connection(redis: Any) -> None:
    hot = HotScript(stream_client(), ECHO)
    hot(keys=["hot:n"], args=["x", 1])
    parents = hot._idle[0]
    read, write = os.pipe()

    pid = os.fork()
    if pid == 0:  # the child: report whether it reused the parent's connection object
        try:
            answer = hot(keys=["hot:n"], args=["x", 1])
            os.write(write, b"ok" if answer == [b"x", 2] and hot._idle[0] is not parents else b"reused")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)

    assert os.read(read, 16) == b"ok"
    assert hot(keys=["hot:n"], args=["x", 1]) == [b"x", 2]  # the parent's connection still works
    assert redis.get("hot:n") == b"3"
