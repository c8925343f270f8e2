"""Shared fixtures: members, videos, and a real Celery worker process on the real services."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import redis
from django.conf import settings

from tests.factories import MemberFactory, VideoFactory

ROOT = Path(__file__).resolve().parent.parent
CASSANDRA_DBS = ["default", "cassandra"]


@pytest.fixture
def member(db: None) -> Any:
    return MemberFactory()


@pytest.fixture
def video(db: None) -> Any:
    return VideoFactory(members_only=False, duration=600)


def wait_until(predicate: Callable[[], Any], *, timeout: float = 30, interval: float = 0.2) -> Any:
    """Poll `predicate` until it returns a truthy value; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)


def session_processes(sid: int) -> list[str]:
    """The live (not zombie) processes of session `sid`, as `ps` lists them."""
    out = subprocess.run(["ps", "-o", "stat=,args=", "--sid", str(sid)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if not line.lstrip().startswith("Z")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WorkerProcess:
    """A `celery worker` subprocess on the test broker and the test Cassandra keyspace.

    Every started worker is remembered, and `_no_worker_outlives_its_test` kills whichever a test
    left running (e.g. after a failed assertion), so it cannot take the next tests' work.
    """

    started: ClassVar[list[WorkerProcess]] = []

    def __init__(self, *, concurrency: int = 2, env: dict[str, str] | None = None) -> None:
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.concurrency = concurrency
        self.extra_env = env or {}
        self.log_path = ROOT / "var" / f"{self.name.split('@')[0]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        db = settings.DATABASES
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings_test",
            REDIS_URL=settings.REDIS_URL,
            CASSANDRA_KEYSPACE=str(db["cassandra"]["NAME"]),
            # A killed worker's stream entries are claimed by the next drain after this long.
            WATCH_CLAIM_IDLE_SECONDS="2",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> WorkerProcess:
        WorkerProcess.started.append(self)
        self.log_path.parent.mkdir(exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config.celery_app",
                    "worker",
                    "-l",
                    "info",
                    "-P",
                    "prefork",
                    "-c",
                    str(self.concurrency),
                    "-n",
                    self.name,
                    "--without-gossip",
                    "--without-mingle",
                    # Embedded beat: the periodic drain that claims a killed worker's entries.
                    "-B",
                    "-s",
                    str(self.log_path.with_suffix(".beat-schedule")),
                ],
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(
            lambda: self.proc and (self.proc.poll() is not None or b" ready." in self.log_path.read_bytes()), timeout=60
        )
        assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
        return self

    def child_pids(self) -> list[int]:
        assert self.proc is not None
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def kill(self) -> None:
        """SIGKILL the whole worker (parent and children): what a crash or OOM kill looks like."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # warm shutdown: finishes the tasks in hand
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture(scope="session", autouse=True)
def _metrics_dir_removed_after_the_run() -> Iterator[None]:
    # config/settings_test.py made it for this run (and the workers it spawned).
    yield
    shutil.rmtree(os.environ["WATCHPOINT_TEST_METRICS_DIR"], ignore_errors=True)


def broker() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture
def celery_worker_process(django_db_setup: None, django_db_blocker: Any) -> Iterator[WorkerProcess]:
    """A real worker for one test; the test Redis database is emptied before it starts."""
    broker().flushdb()
    worker = WorkerProcess().start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session", autouse=True)
def _close_cassandra_sessions_at_exit() -> Iterator[None]:
    # Shut the driver down while logging still works (its atexit hook logs into closed streams).
    yield
    from django.db import connections

    from analytics.cassandra import cassandra_reset

    cassandra_reset()
    if connections["cassandra"].connected:
        connections["cassandra"].connection.cluster.shutdown()


# --- Browser (Playwright driving Debian's chromium; `playwright install` cannot download here)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    # Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run in a
    # thread with a running loop unless told it is safe (it is: the loop is Playwright's, not ours).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _site_url_is_the_live_server(request: Any) -> None:
    """Emailed links are built on SITE_URL, never the request's Host: in a test with a live server,
    that is the live server, so a browser can follow them."""
    if "live_server" in request.fixturenames:
        request.getfixturevalue("settings").SITE_URL = request.getfixturevalue("live_server").url


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser context on the live test server (`page.goto("/")` works)."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page PNG under var/screenshots/ (ignored by git) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    # Disruptive tests stop and restart the shared Cassandra node or Redis: `make test` and CI run
    # them (WATCHPOINT_DISRUPTIVE_TESTS=1); a bare `pytest` beside other running suites skips them.
    # Ring tests boot 3-node rings of their own and take 12-18 minutes of both cores: `make test-ring`
    # runs them (WATCHPOINT_RING_TESTS=1), not every landing (docs/decisions/0017).
    disruptive = os.environ.get("WATCHPOINT_DISRUPTIVE_TESTS") == "1"
    ring = os.environ.get("WATCHPOINT_RING_TESTS") == "1"
    skip = pytest.mark.skip(reason="stops shared services; set WATCHPOINT_DISRUPTIVE_TESTS=1 (make test does)")
    skip_ring = pytest.mark.skip(reason="boots a 3-node ring; set WATCHPOINT_RING_TESTS=1 (make test-ring does)")
    # By marker, not `item.keywords`: keywords also hold the names of the folders above a test, so a
    # checkout in a folder named `ring` would count every test as a ring test.
    for item in items:
        if item.get_closest_marker("disruptive") and not disruptive:
            item.add_marker(skip)
        elif item.get_closest_marker("ring") and not ring:
            item.add_marker(skip_ring)
    # Service-restarting tests last, so a restart cannot disturb the tests after them.
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(autouse=True)
def _fresh_watchable_cache() -> Iterator[None]:
    # Row ids are reused across tests (rolled-back transactions); cached answers must not leak.
    from videos.selectors import video_published_snapshot_clear, video_watchable_cache_clear

    video_watchable_cache_clear()
    video_published_snapshot_clear()
    yield
    video_watchable_cache_clear()
    video_published_snapshot_clear()


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test() -> Iterator[None]:
    yield
    while WorkerProcess.started:
        worker = WorkerProcess.started.pop()
        if worker.proc is not None and worker.proc.poll() is None:
            worker.kill()


# --- Where the suite's time goes (printed at the end of every run, CI's included)


def durations_by_directory(reports: list[Any]) -> dict[str, tuple[float, int]]:
    """Seconds spent (setup + call + teardown) and tests run, per test file's directory."""
    seconds: dict[str, float] = {}
    tests: dict[str, set[str]] = {}
    for report in reports:
        directory = os.path.dirname(report.nodeid.split("::", 1)[0]) or "."
        seconds[directory] = seconds.get(directory, 0.0) + report.duration
        tests.setdefault(directory, set()).add(report.nodeid)
    return {directory: (seconds[directory], len(tests[directory])) for directory in seconds}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # Every test phase's report lands in exactly one of these lists ("" holds passing setups and
    # teardowns); collection errors and warnings are not test reports.
    reports = [r for found in terminalreporter.stats.values() for r in found if isinstance(r, pytest.TestReport)]
    if not reports:
        return
    by_directory = sorted(durations_by_directory(reports).items(), key=lambda item: -item[1][0])
    terminalreporter.section("time by test directory")
    for directory, (seconds, count) in by_directory:
        terminalreporter.write_line(f"{directory:<24} {seconds:9.1f} s  {count:5d} tests")
    total = sum(seconds for _, (seconds, _) in by_directory)
    terminalreporter.write_line(f"{'total':<24} {total:9.1f} s  {sum(c for _, (_, c) in by_directory):5d} tests")
