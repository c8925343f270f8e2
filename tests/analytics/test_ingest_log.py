"""gunicorn's access log leaves out the watch-batch paths served ahead of Django (counted in /metrics)
and keeps the rest."""

from __future__ import annotations

import datetime
import io
import json
import logging

import pytest

from config.gunicorn_log import UnloggedIngestPathsLogger
from tests.config.test_gunicorn_log import deployed_config


class _Resp:
    status = "200 OK"
    sent = 2
    headers: list[tuple[str, str]] = []


@pytest.mark.parametrize(("path", "logged"), [("/api/watch/", False), ("/api/watch/beacon/", False), ("/", True)])
def test_only_the_ingest_paths_are_left_out_of_the_access_log(path, logged):
    logger = UnloggedIngestPathsLogger(deployed_config())
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.access_log.addHandler(handler)
    try:
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "RAW_URI": path, "SERVER_PROTOCOL": "HTTP/1.1"}
        logger.access(_Resp, [], environ, datetime.timedelta(milliseconds=3))
    finally:
        logger.access_log.removeHandler(handler)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["path"], line["status"]) for line in lines] == ([(path, 200)] if logged else [])
