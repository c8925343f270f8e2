"""The access log's atoms, computed on demand (config/gunicorn_log.py), are gunicorn's own: the same
line for the deployed format and the same value for every atom a format could name."""

from __future__ import annotations

import datetime
import io
import logging
import runpy
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger, SafeAtoms

from config.gunicorn_log import LeanPathsLogger, RequestAtoms
from tests.conftest import ROOT

NOW = "[02/Dec/2026:02:00:58 +0000]"


class _Resp:
    status = "200 OK"
    sent = 12_345
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Vary", "Cookie"), ("Vary", "Accept")]


class _Req:
    headers = [
        ("HOST", "127.0.0.1:8000"),
        ("USER-AGENT", 'Mozilla/5.0 "quoted"'),
        ("X-REQUEST-ID", "abc-123"),
        ("COOKIE", "sessionid=s; csrftoken=t"),
    ]


def _environ(**extra: Any) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "RAW_URI": '/watch/x/?q="a"',
        "PATH_INFO": "/watch/x/",
        "QUERY_STRING": 'q="a"',
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_USER_AGENT": 'Mozilla/5.0 "quoted"',
        "HTTP_AUTHORIZATION": "Basic dXNlcjpwdw==",
        **extra,
    }


def _logger() -> LeanPathsLogger:
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", runpy.run_path(str(ROOT / "gunicorn.conf.py"))["access_log_format"])
    logger = LeanPathsLogger(cfg)
    logger.now = lambda: NOW
    return logger


ELAPSED = datetime.timedelta(seconds=1, microseconds=234_567)


@pytest.mark.parametrize("environ", [_environ(), _environ(HTTP_REFERER='https://e.x/"r"', PATH_INFO="/")])
def test_every_atom_is_gunicorns(environ):
    logger = _logger()
    expected = SafeAtoms(Logger.atoms(logger, _Resp, _Req, environ, ELAPSED))
    atoms = RequestAtoms(logger=logger, resp=_Resp, req=_Req, environ=environ, request_time=ELAPSED)

    names = [*expected, "{X-Request-Id}i", "{missing}i", "{vary}o", "{Path_Info}e", "{x}z", "Z", "{}i"]
    assert {name: atoms[name] for name in names} == {name: expected[name] for name in names}


def test_the_deployed_line_is_gunicorns():
    logger = _logger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.access_log.addHandler(handler)
    try:
        environ = _environ()
        logger.access(_Resp, _Req, environ, ELAPSED)
    finally:
        logger.access_log.removeHandler(handler)

    expected = logger.cfg.access_log_format % SafeAtoms(Logger.atoms(logger, _Resp, _Req, environ, ELAPSED))
    assert stream.getvalue() == expected + "\n"
    assert '"request_id": "abc-123"' in expected
    assert '"agent": "Mozilla/5.0 \\"quoted\\""' in expected
