"""Slow clients cannot hold the site behind nginx (bin/nginx, etc/nginx/watchpoint.conf.in).

Real processes on free ports: gunicorn (config.wsgi), the ingest process (granian,
`python -m config.serve_ingest`) and nginx in front, on a database of their own. Slow clients send
their headers and 1 byte of a declared 16,000-byte body, then hold the connection. Through nginx,
genuine watch batches are still accepted at (nearly) the rate measured just before in the same run,
and /healthz answers; straight to granian, the same slow clients stop ingestion.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.conftest import ROOT, free_port, session_processes, wait_until

pytestmark = pytest.mark.integration

SLOW_CLIENTS = 64
DECLARED_BYTES = 16_000
WINDOW_SECONDS = 3.0
# Batches a second offered in each window (a tracker sends one every 10 s: 1,500 viewers).
PACED_RATE = 150
ROUNDS = 3
LOAD_THREADS = 4

# A member, a published video and a genuine viewing-session token (issued a day ago, so the
# playable-seconds bound never refuses the repeated batch), printed as JSON.
_SEED = """
import json, uuid
from tests.analytics.helpers import batch_body, now_ms, signed
from tests.factories import MemberFactory, VideoFactory
member, video = MemberFactory(), VideoFactory(members_only=False, duration=600)
print(json.dumps(signed(batch_body(video.pk, uuid.uuid4(), [5], t0=now_ms()), member.pk)))
"""


@dataclass
class Site:
    proxy: tuple[str, int]
    ingest: tuple[str, int]
    batch: bytes
    # Process groups of gunicorn and of the ingest process (granian), by name.
    groups: dict[str, int]


def _env(tmp: Path, web: int, ingest: int, proxy: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WEB_", "INGEST_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # As in production behind a TLS-terminating proxy: X-Forwarded-Proto is trusted.
        "DJANGO_SECURE_PROXY_SSL": "true",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "REDIS_URL": settings.REDIS_URL,
        # The measurement sends one member's batch flat out: no per-member rate in the way.
        "WATCH_BATCHES_PER_MINUTE": "100000000",
        "WEB_BIND": f"127.0.0.1:{web}",
        "WEB_CONCURRENCY": "1",
        "INGEST_BIND": f"127.0.0.1:{ingest}",
        "INGEST_WORKERS": "1",
        "NGINX_LISTEN": f"127.0.0.1:{proxy}",
        "WATCHPOINT_VAR": str(tmp),
    }


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _status(
    address: tuple[str, int],
    method: str,
    path: str,
    body: bytes | None = None,
    timeout: float = 5,
    headers: dict[str, str] | None = None,
) -> int:
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("slow")
    web, ingest, proxy = free_port(), free_port(), free_port()
    env = _env(tmp, web, ingest, proxy)
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    _run(env, sys.executable, "manage.py", "migrate", "-v", "0")
    batch = _run(env, sys.executable, "manage.py", "shell", "-c", _SEED).strip().splitlines()[-1].encode()
    procs = []
    try:
        for name, command in (
            ("web", [str(ROOT / ".venv" / "bin" / "gunicorn"), "config.wsgi"]),
            ("ingest", [sys.executable, "-m", "config.serve_ingest"]),
        ):
            with open(tmp / f"{name}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
        _run(env, str(ROOT / "bin" / "nginx"), "start")
        site = Site(
            proxy=("127.0.0.1", proxy),
            ingest=("127.0.0.1", ingest),
            batch=batch,
            groups={"web": procs[0].pid, "ingest": procs[1].pid},
        )

        def ready() -> bool:
            try:
                return _status(site.proxy, "POST", "/api/watch/", batch) == 202 and _status(
                    site.proxy, "GET", "/healthz"
                ) in (200, 503)
            except OSError:
                return False

        wait_until(ready, timeout=90, interval=0.5)
        yield site
    finally:
        subprocess.run([str(ROOT / "bin" / "nginx"), "stop"], cwd=ROOT, env=env, check=False)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        # Their workers too: none may outlive the test on the shared machine.
        wait_until(lambda: not any(session_processes(proc.pid) for proc in procs), timeout=30)
        redis.Redis.from_url(settings.REDIS_URL).flushdb()


def _accepted_in_window(address: tuple[str, int], batch: bytes, seconds: float = WINDOW_SECONDS) -> int:
    """Batches answered 202 in `seconds`, offered at a steady PACED_RATE by LOAD_THREADS clients
    (keep-alive, as trackers send them). Paced below what the box serves flat out, so the count is
    the same from one window to the next on a busy shared machine, unless something holds the
    requests back; a request that hangs delays its thread's later ones (1 s timeout)."""
    started = time.monotonic()
    deadline = started + seconds
    interval = LOAD_THREADS / PACED_RATE
    counts = [0] * LOAD_THREADS

    def send(i: int) -> None:
        conn = http.client.HTTPConnection(*address, timeout=1)
        due = started + i * interval / LOAD_THREADS
        while (now := time.monotonic()) < deadline:
            if now < due:
                time.sleep(due - now)
            due += interval
            try:
                conn.request("POST", "/api/watch/", body=batch, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                counts[i] += response.status == 202
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(*address, timeout=1)
                # Late requests are not made up for: a hung server loses what it did not serve.
                due = max(due, time.monotonic())
        conn.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


def _slow_clients(address: tuple[str, int], paths: list[str]) -> list[socket.socket]:
    """Connections that sent their headers and 1 byte of a declared 16,000-byte body, and hold."""
    socks = []
    for i in range(SLOW_CLIENTS):
        sock = socket.create_connection(address, timeout=5)
        head = (
            f"POST {paths[i % len(paths)]} HTTP/1.1\r\nHost: 127.0.0.1:{address[1]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {DECLARED_BYTES}\r\n\r\n{{"
        )
        sock.sendall(head.encode())
        socks.append(sock)
    return socks


def _still_held(socks: list[socket.socket]) -> bool:
    """Every slow connection is still open and unanswered (the attack lasted the whole window)."""
    for sock in socks:
        sock.setblocking(False)
        try:
            sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:  # nothing to read: open and unanswered
            continue
        except OSError:
            return False
        return False
    return True


def _close(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


@contextlib.contextmanager
def _frozen(group: int) -> Iterator[None]:
    """Every process of `group` stopped (SIGSTOP): connections to it open, nothing answered."""
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def _times_out(address: tuple[str, int], method: str, path: str, body: bytes | None = None) -> bool:
    try:
        _status(address, method, path, body, timeout=2)
    except TimeoutError:
        return True
    return False


def test_nginx_sends_watch_batches_to_the_ingest_process_and_the_rest_to_gunicorn(site: Site) -> None:
    with _frozen(site.groups["web"]):
        assert _status(site.proxy, "POST", "/api/watch/", site.batch) == 202
        assert _status(site.proxy, "POST", "/api/watch/beacon/", site.batch) == 202
        assert _times_out(site.proxy, "GET", "/healthz")
    with _frozen(site.groups["ingest"]):
        assert _status(site.proxy, "GET", "/healthz") in (200, 503)
        assert _times_out(site.proxy, "POST", "/api/watch/", site.batch)
        assert _times_out(site.proxy, "POST", "/api/watch/beacon/", site.batch)
    wait_until(lambda: _status(site.proxy, "POST", "/api/watch/", site.batch) == 202, timeout=30)


def test_the_ingest_behind_nginx_sees_the_clients_host_and_nginxs_scheme(site: Site) -> None:
    # What a page on the proxy's origin sends: the Host nginx passes on (with its port) matches.
    origin = f"http://127.0.0.1:{site.proxy[1]}"
    browser = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    assert _status(site.proxy, "POST", "/api/watch/", site.batch, headers=browser) == 202
    # A client claiming https (X-Forwarded-Proto) for an https Origin: believed straight to the app,
    # not through nginx, which sets the header to the scheme it was reached by.
    spoofed = {"Origin": origin.replace("http:", "https:"), "X-Forwarded-Proto": "https"}
    direct = {**spoofed, "Origin": f"https://127.0.0.1:{site.ingest[1]}"}
    assert _status(site.ingest, "POST", "/api/watch/", site.batch, headers=direct) == 202
    assert _status(site.proxy, "POST", "/api/watch/", site.batch, headers=spoofed) == 403


def test_behind_nginx_slow_bodies_leave_watch_batches_and_healthz_unhindered(site: Site) -> None:
    healthz = _status(site.proxy, "GET", "/healthz")
    baseline = attacked = 0
    for _ in range(ROUNDS):
        baseline += _accepted_in_window(site.proxy, site.batch)
        # Half the slow bodies at the ingest process's path, half at a gunicorn page.
        socks = _slow_clients(site.proxy, ["/api/watch/", "/accounts/login/"])
        try:
            attacked += _accepted_in_window(site.proxy, site.batch)
            started = time.monotonic()
            assert _status(site.proxy, "GET", "/healthz") == healthz
            assert time.monotonic() - started < 5
            assert _still_held(socks)
        finally:
            _close(socks)

    assert baseline > 0
    assert attacked >= 0.9 * baseline, (attacked, baseline)


def test_straight_to_granian_the_same_slow_bodies_stop_ingestion(site: Site) -> None:
    # The finding nginx answers: granian hands the request to a Python thread before its body has
    # arrived, and has no body-read timeout (config/serve_ingest.py).
    baseline = _accepted_in_window(site.ingest, site.batch)
    socks = _slow_clients(site.ingest, ["/api/watch/"])
    try:
        attacked = _accepted_in_window(site.ingest, site.batch)
        assert _still_held(socks)
    finally:
        _close(socks)

    assert baseline > 0
    assert attacked < 0.5 * baseline, (attacked, baseline)
    # Once they hang up, granian serves again.
    wait_until(lambda: _status(site.ingest, "POST", "/api/watch/", site.batch) == 202, timeout=30)


def test_granian_drops_a_connection_whose_headers_never_finish(site: Site) -> None:
    # Defence in depth where granian offers one (HTTP1Settings.header_read_timeout: 10 s, was its
    # default 30 s); it has no timeout for a body, which is nginx's job.
    with socket.create_connection(site.ingest, timeout=5) as sock:
        sock.sendall(b"POST /api/watch/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
        started = time.monotonic()
        sock.settimeout(20)
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
        assert time.monotonic() - started < 15
