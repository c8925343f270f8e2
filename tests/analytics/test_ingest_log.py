"""gunicorn's access log leaves out the lean watch-batch paths (counted in /metrics) and keeps the rest."""

from __future__ import annotations

import datetime

import pytest
from gunicorn.config import Config

from config.gunicorn_log import LeanPathsLogger


class _Resp:
    status = "200 OK"
    sent = 2
    headers: list[tuple[str, str]] = []


@pytest.mark.parametrize(("path", "logged"), [("/api/watch/", False), ("/api/watch/beacon/", False), ("/", True)])
def test_only_the_lean_paths_are_left_out_of_the_access_log(monkeypatch, path, logged):
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", '"%(U)s" %(s)s')
    logger = LeanPathsLogger(cfg)
    seen: list[str] = []
    monkeypatch.setattr(logger.access_log, "info", lambda fmt, atoms: seen.append(fmt % atoms))

    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    logger.access(_Resp, [], environ, datetime.timedelta(milliseconds=3))

    assert seen == ([f'"{path}" 200'] if logged else [])
