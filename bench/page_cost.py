"""Django's CPU per member page, in process: what a home or watch page costs the web process alone.

No HTTP server and no load generator: each request goes through the project's full WSGI
application (config.wsgi: the dispatcher of the routes ahead of Django, every middleware, the view, the templates) in
this process, with the next seeded member's cookies as a browser sends them (session and CSRF),
so the figure is the page's own CPU (time.process_time) without gunicorn's share and without
competing for the cores with wrk.
A warm-up first (imports, template loader, card and catalogue caches, the Cassandra session), then
`requests` pages cycling the members; one more pass counts the SQL queries of one page.

    .venv/bin/python -m bench.page_cost            # seeds stage 8's catalogue and members, prints
    rows = page_cost_rows(sessions=keys)           # from a bench stage that already has sessions

Settings are the bench's (bench/__init__.py: DEBUG off, hashed static files); run it beside a full
bench with BENCH_CASSANDRA_KEYSPACE / BENCH_REDIS_URL / BENCH_DATABASE_URL pointing elsewhere.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection

from bench.pages import WATCH_SLUG, browser_cookies, pages_seed
from config.wsgi import application

HOME_PATH = "/"
WATCH_PATH = f"/watch/{WATCH_SLUG}/"
# What the targets need of Django's own CPU per page (README "Against the targets").
HOME_BUDGET_MS = 2.5
WATCH_BUDGET_MS = 2.0


@dataclass(frozen=True)
class PageCost:
    path: str
    cpu_ms: float  # mean CPU per page (this process, user + system)
    queries: int  # SQL queries of one page
    pages: int


def _browser_cookie(session: str) -> str:
    # The member's browser keeps the Cookie header its first page set (bench.pages.browser_cookies:
    # the session and one CSRF secret), so each member's is built once and reused.
    found = _cookies.get(session)
    if found is None:
        found = _cookies[session] = browser_cookies([session])[0]
    return found


_cookies: dict[str, str] = {}


def _environ(*, path: str, session: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_COOKIE": _browser_cookie(session),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def page_get(*, path: str, session: str) -> tuple[str, bytes]:
    """One GET through the WSGI application: its status line and body (read and closed, so the
    request's end-of-response work, e.g. closing the database connection, counts too)."""
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        status.append(line)
        return lambda _data: None

    answer = application(_environ(path=path, session=session), start_response)
    try:
        body = b"".join(answer)
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()
    return status[0], body


@contextmanager
def _counting_queries() -> Iterator[list[str]]:
    # An execute wrapper outlives the connection being closed and reopened at each request's end
    # (CaptureQueriesContext's log is reset by every request_started).
    seen: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield seen


def page_cost_measure(
    *, path: str, sessions: list[str], requests: int = 300, rounds: int = 3, warmup: int = 60
) -> PageCost:
    """Mean CPU per page of `path` over `requests` pages cycling `sessions`, after `warmup` pages;
    the least of `rounds` such means (other processes on the cores only ever add to a round's:
    cache misses, frequency), as timeit does."""
    for n in range(warmup):
        status, body = page_get(path=path, session=sessions[n % len(sessions)])
        if not status.startswith("200"):
            raise SystemExit(f"page_cost: GET {path} answered {status}: {body[:300]!r}")
    with _counting_queries() as seen:
        page_get(path=path, session=sessions[0])
    queries = len(seen)
    means = []
    for _ in range(rounds):
        start = time.process_time()
        for n in range(requests):
            page_get(path=path, session=sessions[n % len(sessions)])
        means.append((time.process_time() - start) * 1000 / requests)
    return PageCost(path=path, cpu_ms=min(means), queries=queries, pages=requests)


def page_cost_rows(*, sessions: list[str], requests: int = 300) -> list[tuple[str, str, str, str]]:
    """Rows for the bench's table (stage, result, ratio against the CPU budget, detail)."""
    rows = []
    for name, path, budget in (("home", HOME_PATH, HOME_BUDGET_MS), ("watch", WATCH_PATH, WATCH_BUDGET_MS)):
        cost = page_cost_measure(path=path, sessions=sessions, requests=requests)
        rows.append(
            (
                f"8 {name} page Django CPU (in process)",
                f"{cost.cpu_ms:.2f} ms/page",
                f"{cost.cpu_ms / budget:.2f}",
                f"{cost.queries} SQL queries; least of 3 rounds of {cost.pages} pages, {len(sessions)} members, "
                f"GET {path}; "
                f"budget ≤ {budget} ms",
            )
        )
    return rows


def main() -> None:
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("sync_cassandra", verbosity=0)
    try:
        staticfiles_storage.url("css/site.css")
    except ValueError:  # no manifest yet: DEBUG off needs the hashed names
        call_command("collectstatic", interactive=False, verbosity=0)
    sessions = pages_seed()
    for row in page_cost_rows(sessions=sessions, requests=int(sys.argv[1]) if len(sys.argv) > 1 else 300):
        print("  ".join(row))


if __name__ == "__main__":
    main()
