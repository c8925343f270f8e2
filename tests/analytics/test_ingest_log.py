"""gunicorn's access log leaves out the lean watch-batch paths (counted in /metrics) and keeps the rest."""

from __future__ import annotations

from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from config.gunicorn_log import LeanPathsLogger


@pytest.mark.parametrize(("path", "logged"), [("/api/watch/", False), ("/api/watch/beacon/", False), ("/", True)])
def test_only_the_lean_paths_are_left_out_of_the_access_log(monkeypatch, path, logged):
    seen: list[str] = []

    def access(self: Any, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        seen.append(environ["PATH_INFO"])

    monkeypatch.setattr(Logger, "access", access)
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = LeanPathsLogger(cfg)

    logger.access(None, None, {"PATH_INFO": path}, None)

    assert seen == ([path] if logged else [])
