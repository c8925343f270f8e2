"""gunicorn's access log (config/gunicorn_log.py): one valid JSON object per request, whatever the
request holds, with the fields the deployed format has always had."""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import runpy
import socket
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.handlers.wsgi import get_path_info
from gunicorn.config import Config

from config.gunicorn_log import UnloggedIngestPathsLogger
from tests.conftest import ROOT, free_port, wait_until

NOW = "[02/Dec/2026:02:00:58 +0000]"
ELAPSED = datetime.timedelta(seconds=1, microseconds=234_567)
FIELDS = {
    "ts",
    "remote",
    "method",
    "path",
    "query",
    "status",
    "bytes",
    "duration_ms",
    "referer",
    "agent",
    "request_id",
}


class _Resp:
    status = "404 Not Found"
    sent = 12_345
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Vary", "Cookie")]


def deployed_config() -> Config:
    """gunicorn's Config with every setting gunicorn.conf.py makes."""
    cfg = Config()
    for name, value in runpy.run_path(str(ROOT / "gunicorn.conf.py")).items():
        if name in cfg.settings:
            cfg.set(name, value)
    return cfg


def _logged(environ: dict[str, Any], headers: list[tuple[str, str]]) -> str:
    logger = UnloggedIngestPathsLogger(deployed_config())
    logger.now = lambda: NOW
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.access_log.addHandler(handler)
    try:
        logger.access(_Resp, headers, environ, ELAPSED)
    finally:
        logger.access_log.removeHandler(handler)
    return stream.getvalue()


def test_the_line_has_the_deployed_fields():
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/watch/x/?q=a",
        "PATH_INFO": "/watch/x/",
        "QUERY_STRING": "q=a",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_USER_AGENT": "Mozilla/5.0",
    }
    output = _logged(environ, [("USER-AGENT", "Mozilla/5.0"), ("X-REQUEST-ID", "abc-123")])

    assert output.endswith("\n")
    assert output.count("\n") == 1
    assert json.loads(output) == {
        "ts": NOW,
        "remote": "10.0.0.7",
        "method": "GET",
        "path": "/watch/x/",
        "query": "q=a",
        "status": 404,
        "bytes": 12_345,
        "duration_ms": 1234,
        "referer": "-",
        "agent": "Mozilla/5.0",
        "request_id": "abc-123",
    }


HOSTILE = 'back\\slash "quoted" \\" tab\tnewline\nnul\x00 bell\x07 del\x7f caf\xc3\xa9 \u2028 end'


def test_backslashes_quotes_control_and_non_ascii_characters_stay_one_valid_json_line():
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/x",
        "PATH_INFO": HOSTILE,
        "QUERY_STRING": HOSTILE,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_USER_AGENT": HOSTILE,
        "HTTP_REFERER": HOSTILE,
    }
    output = _logged(environ, [("X-REQUEST-ID", HOSTILE)])

    assert output.count("\n") == 1
    line = json.loads(output)
    assert {line[f] for f in ("path", "query", "agent", "referer", "request_id")} == {HOSTILE}


# --- A real gunicorn (gunicorn.conf.py, config.wsgi) and hostile requests over a socket


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WEB_"))},
        # The test settings: static files without a collectstatic manifest (the 404 page links some).
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "access-log-test-" + "k" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
    }
    stdout, stderr = tmp_path / "access.log", tmp_path / "error.log"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "config.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        wait_until(lambda: proc.poll() is not None or b"Booting worker" in stderr.read_bytes(), timeout=60)
        assert proc.poll() is None, stderr.read_text()[-3000:]
        wait_until(lambda: _answers(port), timeout=60, interval=0.3)
        yield port, stdout
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)


def _answers(port: int) -> bool:
    try:
        return _raw_get(port, b"/healthz", []).startswith(b"HTTP/1.1 ")
    except OSError:
        return False


def _raw_get(port: int, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """GET `target` with `headers`, bytes exactly as given (no client library tidies them)."""
    request = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    request += b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


# Each request's path (percent-encoded), raw query, User-Agent, Referer and X-Request-Id bytes:
# what a client can put on the wire that gunicorn accepts.
HOSTILE_REQUESTS = [
    (b"/a%5Cb%22c%0A%0D%09%00%1B%7F/", b"q=\\&r=%22", b'agent \\ "quoted" \\"', b'https://e.x/"\\', b'id-\\"'),
    (
        b"/caf%C3%A9/%E2%80%A8/%FF",
        b"x=caf%C3%A9",
        b"\xc3\xa9 \xff\x80 \there",
        b"https://e.x/\xe2\x80\xa8",
        b"\\",
    ),
    (b"/%7B%22json%22%3A1%7D", b"", b"}\"{'", b"-", b'","status":200,"x":"'),
]


@pytest.mark.integration
def test_every_access_line_of_a_real_gunicorn_is_json_that_round_trips_the_request(gunicorn):
    port, log = gunicorn
    for path, query, agent, referer, request_id in HOSTILE_REQUESTS:
        target = path + (b"?" + query if query else b"")
        headers = [(b"User-Agent", agent), (b"Referer", referer), (b"X-Request-Id", request_id)]
        answer = _raw_get(port, target, headers)
        assert answer.startswith(b"HTTP/1.1 404"), answer[:200]

    def lines() -> list[str]:
        return [line for line in log.read_text(encoding="utf-8").splitlines() if "/healthz" not in line]

    logged = wait_until(lambda: len(lines()) >= len(HOSTILE_REQUESTS) and lines(), timeout=15)
    assert len(logged) == len(HOSTILE_REQUESTS), logged
    for line, (path, query, agent, referer, request_id) in zip(logged, HOSTILE_REQUESTS, strict=True):
        parsed = json.loads(line)  # every line is valid JSON ...
        assert parsed.keys() == FIELDS
        # ... and carries the request's values as the app saw them: headers and query are latin-1
        # strings of the bytes on the wire (PEP 3333); Django decodes the path as UTF-8 in place.
        wsgi_path = urllib.parse.unquote_to_bytes(path).decode("latin-1")
        assert parsed["path"] == get_path_info({"PATH_INFO": wsgi_path})
        assert parsed["query"] == query.decode("latin-1")
        assert parsed["agent"] == agent.decode("latin-1")
        assert parsed["referer"] == referer.decode("latin-1")
        assert parsed["request_id"] == request_id.decode("latin-1")
        assert (parsed["method"], parsed["status"], parsed["remote"]) == ("GET", 404, "127.0.0.1")
        assert isinstance(parsed["duration_ms"], int)
