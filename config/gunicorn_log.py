"""gunicorn's access log: one JSON object per request, and no line for the ingest paths served ahead of Django.

A watch batch arrives every 10 s from every viewer; formatting and writing a line for each cost ~20 %
of the web CPU (README "Benchmark"). Those paths are counted in /metrics instead (requests by status
and latency, analytics/ingest.py); every other request gets a line.

The line is `json.dumps` of a dict, never a `%`-format with quotes around the atoms: a path, query,
referer or User-Agent may hold `\\`, `"`, control characters or non-ASCII bytes, and gunicorn's
atom escaping (`"` only) then writes a line no JSON reader accepts. The values come from gunicorn's
public `Logger.atoms` (its documented access-log atoms), so each field means what gunicorn's docs say.
`access_log_format` is not read: the fields are `ACCESS_LOG_FIELDS` below.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from gunicorn.glogging import Logger

# Field of the JSON line -> gunicorn access-log atom (gunicorn docs, "access_log_format").
ACCESS_LOG_FIELDS = {
    "ts": "t",
    "remote": "h",
    "method": "m",
    "path": "U",
    "query": "q",
    "status": "s",
    "bytes": "B",
    "duration_ms": "M",
    "referer": "f",
    "agent": "a",
    "request_id": "{x-request-id}i",
}


def access_line_build(atoms: dict[str, Any]) -> str:
    """The JSON access line for gunicorn's `atoms` of one request ("-" for an atom it lacks)."""
    line = {field: atoms.get(atom, "-") for field, atom in ACCESS_LOG_FIELDS.items()}
    status = line["status"]
    # The status atom is the status line's code as a string ("404"); a number is easier to query.
    line["status"] = int(status) if isinstance(status, str) and status.isdigit() else status
    # ensure_ascii (the default): non-ASCII and control characters become \u escapes, so the line
    # is one line of ASCII whatever the request held.
    return json.dumps(line, default=str)


class UnloggedIngestPathsLogger(Logger):
    _skip: frozenset[str] | None = None

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        skip = self._skip
        if skip is None:
            # Read in the worker, after Django is set up (the master never serves a request).
            from django.conf import settings

            skip = UnloggedIngestPathsLogger._skip = frozenset(getattr(settings, "ROUTES_AHEAD_OF_DJANGO", {}))
        if environ.get("PATH_INFO") in skip or not self.access_log_enabled:
            return
        try:
            self.access_log.info("%s", access_line_build(self.atoms(resp, req, environ, request_time)))
        except Exception:
            self.error(traceback.format_exc())
