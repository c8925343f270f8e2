"""gunicorn's logger: no access-log line for the lean hot paths, and each line's atoms built on demand.

A watch batch arrives every 10 s from every viewer; formatting and writing a JSON line for each cost
~20 % of the web CPU (README "Benchmark"). Those paths are counted in /metrics instead (requests by
status and latency, analytics/ingest.py); every other request is logged as before.

gunicorn's own `access` builds every atom the format could name (each request header, response
header and environ entry as `{name}i/o/e`, ~50 entries) and escapes each string (SafeAtoms), then
the format reads a dozen of them: ~50 µs of CPU per member page. `RequestAtoms` computes only the
atoms the format asks for, with the same values and escaping, so the line is byte for byte the same
(tests/config/test_gunicorn_log.py compares it with gunicorn's for every atom).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

from gunicorn.glogging import Logger

# The single-letter atoms of gunicorn's Logger.atoms (gunicorn docs "Access log format").
_PLAIN = frozenset("hlutrsmUqHbBfaTDMLp")
_ENVIRON_ATOMS = {"m": "REQUEST_METHOD", "U": "PATH_INFO", "q": "QUERY_STRING", "H": "SERVER_PROTOCOL"}


class RequestAtoms(Mapping[str, Any]):
    """`SafeAtoms(logger.atoms(resp, req, environ, request_time))`, each atom computed when the
    access-log format reads it: the same value, `"` escaped as `\\"`, "-" for an unknown atom."""

    __slots__ = ("_environ", "_logger", "_req", "_resp", "_time")

    def __init__(self, *, logger: Logger, resp: Any, req: Any, environ: Mapping[str, Any], request_time: Any) -> None:
        self._logger, self._resp, self._req, self._environ, self._time = logger, resp, req, environ, request_time

    def __getitem__(self, key: str) -> Any:
        value = self._braced(key.lower()) if key.startswith("{") else self._plain(key)
        return value.replace('"', '\\"') if isinstance(value, str) else value

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(_PLAIN))

    def __len__(self) -> int:
        # Truthy: logging passes a non-empty mapping as the format's arguments (LogRecord).
        return len(_PLAIN)

    def _braced(self, key: str) -> Any:
        # "{name}i": a request header, "{name}o": a response header, "{name}e": an environ entry;
        # names compared lowercased, the last of repeated ones wins (as atoms()'s dict updates).
        if len(key) < 4 or not key.endswith(("}i", "}o", "}e")):
            return "-"
        name, kind = key[1:-2], key[-1]
        if kind == "e":
            items: Any = self._environ.items()
        elif kind == "i":
            headers = self._req.headers if hasattr(self._req, "headers") else self._req
            items = headers.items() if hasattr(headers, "items") else headers
        else:
            headers = self._resp.headers
            items = headers.items() if hasattr(headers, "items") else headers
        found: Any = "-"
        for header, value in items:
            if header.lower() == name:
                found = value
        return found

    def _plain(self, key: str) -> Any:
        environ, resp, elapsed = self._environ, self._resp, self._time
        if key == "h":
            return environ.get("REMOTE_ADDR", "-")
        if key in _ENVIRON_ATOMS:
            return environ.get(_ENVIRON_ATOMS[key])
        if key == "s":
            status = resp.status
            return status.split(None, 1)[0] if isinstance(status, str) else status
        if key == "t":
            return self._logger.now()
        if key == "M":
            return (elapsed.seconds * 1000) + int(elapsed.microseconds / 1000)
        if key == "B":
            return getattr(resp, "sent", None)
        if key == "b":
            return (getattr(resp, "sent", None) is not None and str(resp.sent)) or "-"
        if key == "f":
            return environ.get("HTTP_REFERER", "-")
        if key == "a":
            return environ.get("HTTP_USER_AGENT", "-")
        if key == "l":
            return "-"
        if key == "u":
            return self._logger._get_user(environ) or "-"
        if key == "r":
            return "{} {} {}".format(environ["REQUEST_METHOD"], environ["RAW_URI"], environ["SERVER_PROTOCOL"])
        if key == "T":
            return elapsed.seconds
        if key == "D":
            return (elapsed.seconds * 1000000) + elapsed.microseconds
        if key == "L":
            return f"{elapsed.seconds:d}.{elapsed.microseconds:06d}"
        if key == "p":
            return f"<{os.getpid()}>"
        return "-"


class LeanPathsLogger(Logger):
    _skip: frozenset[str] | None = None

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        skip = self._skip
        if skip is None:
            # Read in the worker, after Django is set up (the master never serves a request).
            from django.conf import settings

            skip = LeanPathsLogger._skip = frozenset(getattr(settings, "LEAN_WSGI_ROUTES", {}))
        if environ.get("PATH_INFO") in skip or not self.access_log_enabled:
            return
        atoms = RequestAtoms(logger=self, resp=resp, req=req, environ=environ, request_time=request_time)
        try:
            self.access_log.info(self.cfg.access_log_format, atoms)
        except Exception:
            self.error(traceback.format_exc())
