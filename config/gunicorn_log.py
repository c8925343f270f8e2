"""gunicorn's logger without an access-log line for the lean hot paths (config/dispatch.py).

A watch batch arrives every 10 s from every viewer; formatting and writing a JSON line for each cost
~20 % of the web CPU (README "Benchmark"). Those paths are counted in /metrics instead (requests by
status and latency, analytics/ingest.py); every other request is logged as before.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger


class LeanPathsLogger(Logger):
    _skip: frozenset[str] | None = None

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        skip = self._skip
        if skip is None:
            # Read in the worker, after Django is set up (the master never serves a request).
            from django.conf import settings

            skip = LeanPathsLogger._skip = frozenset(getattr(settings, "LEAN_WSGI_ROUTES", {}))
        if environ.get("PATH_INFO") in skip:
            return
        super().access(resp, req, environ, request_time)
