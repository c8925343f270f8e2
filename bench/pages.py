"""Benchmark stage: members' pages (catalogue home and a watch page) served by a real gunicorn.

Standalone: `pages_stage` only needs a running server and logged-in members' Cookie headers
(session + CSRF cookie, `browser_cookies`);
`pages_seed` (inside a configured Django process) makes a catalogue, members with watch history
(so "Continue watching" and the progress bars read Cassandra) and their sessions.

- saturation: Debian `wrk` (installed with apt when missing and run as root), each request with
  the next member's session cookie (a Lua script rotates them), closed loop, `connections` open;
- 50 browsing members: an open-loop generator (one page every 2 s per member, home and watch
  alternating, start times spread), latency counted from each request's *scheduled* time so a
  slow server cannot hide its queueing (no coordinated omission).

    rows = pages_stage(base_url="http://127.0.0.1:8000", cookies=[...], home_path="/",
                       watch_path="/watch/big-buck-bunny/", seconds=15, connections=32)

Rows are (stage, result, ratio, detail); the ratio is against the target of issue #12
(home ≥ 400 pages/s, watch ≥ 500 pages/s, browsing p95 ≤ 50 ms).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HOME_TARGET_PAGES_S = 400.0
WATCH_TARGET_PAGES_S = 500.0
BROWSING_MEMBERS = 50
BROWSING_INTERVAL_S = 2.0
BROWSING_P95_TARGET_MS = 50.0
SESSION_COOKIE = "sessionid"

_LUA = """
local cookies = {%s}
local i = 0
request = function()
  i = i %% #cookies + 1
  return wrk.format("GET", "%s", {["Cookie"] = cookies[i], ["Host"] = "%s"})
end
"""


def wrk_ensure() -> str:
    """The path of `wrk`; installs Debian's package when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("wrk is missing: run `apt-get install -y wrk` as root")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("apt-get install wrk did not provide a wrk binary")
    return found


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk_run(*, url: str, path: str, cookies: list[str], seconds: float, connections: int) -> dict[str, Any]:
    """One wrk run; pages/s, latency percentiles (ms), errors (non-2xx and socket errors)."""
    parts = urlsplit(url)
    quoted = ", ".join(f'"{c}"' for c in cookies)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA % (quoted, path, parts.netloc))
    try:
        out = subprocess.run(
            [
                wrk_ensure(),
                f"-t{min(2, connections)}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    percentiles = {
        int(p): _ms(v, u) for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    }
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    total = re.search(r"(\d+) requests in", out)
    return {
        "rate": float(rate.group(1)) if rate else 0.0,
        "p50": percentiles.get(50, 0.0),
        "p99": percentiles.get(99, 0.0),
        "errors": errors,
        "requests": int(total.group(1)) if total else 0,
    }


def browse_open_loop(
    *,
    base_url: str,
    cookies: list[str],
    paths: list[str],
    seconds: float,
    members: int = BROWSING_MEMBERS,
    interval: float = BROWSING_INTERVAL_S,
) -> dict[str, Any]:
    """`members` simulated members, each asking for one page every `interval` seconds (open loop).

    One thread and one keep-alive connection per member; latency runs from the scheduled send
    time to the last byte read, so a request that had to wait for the previous one counts its wait.
    """
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    start = time.monotonic() + 0.2

    def member(n: int) -> None:
        cookie = cookies[n % len(cookies)]
        conn = http.client.HTTPConnection(host, port, timeout=10)
        due = start + interval * n / members  # spread the members over one interval
        k = n
        mine: list[float] = []
        bad = 0
        while due < start + seconds:
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                conn.request("GET", paths[k % len(paths)], headers={"Cookie": cookie})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
            mine.append((time.monotonic() - due) * 1000)
            k += 1
            due += interval
        conn.close()
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=member, args=(n,), daemon=True) for n in range(members)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    return {
        "count": len(latencies),
        "rate": len(latencies) / seconds,
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "max": latencies[-1] if latencies else 0.0,
        "mean": statistics.fmean(latencies) if latencies else 0.0,
        "errors": failures[0],
    }


def pages_stage(
    *, base_url: str, cookies: list[str], home_path: str, watch_path: str, seconds: float, connections: int
) -> list[tuple[str, str, str, str]]:
    """Saturation of the home and watch pages (wrk), then 50 browsing members (open loop)."""
    rows: list[tuple[str, str, str, str]] = []
    for name, path, target in (
        ("home page saturation", home_path, HOME_TARGET_PAGES_S),
        ("watch page saturation", watch_path, WATCH_TARGET_PAGES_S),
    ):
        run = wrk_run(url=base_url, path=path, cookies=cookies, seconds=seconds, connections=connections)
        rows.append(
            (
                name,
                f"{run['rate']:,.0f} pages/s",
                f"{run['rate'] / target:.2f}",
                f"p50/p99 {run['p50']:.1f}/{run['p99']:.1f} ms; {run['requests']:,} pages, {connections} connections, "
                f"{len(cookies)} members, {run['errors']} errors; target ≥ {target:.0f} pages/s",
            )
        )
    browse = browse_open_loop(
        base_url=base_url, cookies=cookies, paths=[home_path, watch_path], seconds=max(seconds, 10.0)
    )
    rows.append(
        (
            f"{BROWSING_MEMBERS} members browsing p50 / p95",
            f"{browse['p50']:.1f} / {browse['p95']:.1f} ms",
            f"{browse['p95'] / BROWSING_P95_TARGET_MS:.2f}",
            f"open loop, one page every {BROWSING_INTERVAL_S:.0f} s each ({browse['rate']:.1f} pages/s), "
            f"{browse['count']} pages, p99 {browse['p99']:.1f} ms, max {browse['max']:.1f} ms, "
            f"{browse['errors']} errors; target p95 ≤ {BROWSING_P95_TARGET_MS:.0f} ms",
        )
    )
    return rows


def pages_seed(*, members: int = 50, videos: int = 48, watched_per_member: int = 6) -> list[str]:
    """Inside a configured Django process (settings, database migrated, Cassandra tables synced):
    a published catalogue of `videos` (two catalogue pages), a playlist, `members` confirmed
    members each with watch history on `watched_per_member` videos; their session keys.

    Idempotent on the catalogue (slugs `bench-video-N`, YouTube ids `benchpgNNNN`: apart from the
    other stages' `benchNNNNNN`); members `bench-member-N@example.com`."""
    import uuid

    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model
    from django.test import Client

    from analytics.acceptance import WatchBatch
    from analytics.drain import watch_batches_store
    from videos.models import Playlist, PlaylistItem, Video
    from videos.providers import VideoSource
    from videos.services import DuplicateVideo, video_create_from_source

    catalogue: list[Video] = []
    for n in range(videos):
        found = Video.objects.filter(slug=f"bench-video-{n}").first()
        if found is None:
            try:
                found = video_create_from_source(
                    source=VideoSource(provider="youtube", external_id=f"benchpg{n:04d}"),
                    title=f"Bench video {n}: a title of ordinary length",
                    slug=f"bench-video-{n}",
                    description="A description a few words long, as staff write them.",
                    duration=300 + n * 7,
                    access="members" if n % 3 != 0 else "public",
                    is_published=True,
                    position=n,
                )
            except DuplicateVideo as exc:
                found = exc.existing
        catalogue.append(found)
    playlist, _ = Playlist.objects.get_or_create(
        slug="bench-playlist", defaults={"title": "Bench playlist", "is_published": True}
    )
    for position, video in enumerate(catalogue[:8], start=1):
        PlaylistItem.objects.get_or_create(playlist=playlist, video=video, defaults={"position": position})

    user_model = get_user_model()
    now_ms = int(time.time() * 1000)
    keys: list[str] = []
    batches = []
    for m in range(members):
        email = f"bench-member-{m}@example.com"
        user = user_model.objects.filter(email=email).first()
        if user is None:
            user = user_model.objects.create_user(username=email, email=email, password=uuid.uuid4().hex)
            EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        for w in range(watched_per_member):
            video = catalogue[(m * 5 + w * 7) % len(catalogue)]
            t0 = now_ms - (w + 1) * 3_600_000
            # Some finished, most part-watched: the row and the bars both have something to show.
            seconds = (video.duration or 300) if w % 3 == 0 else 60 + 13 * w
            events = tuple((p, t0 + p * 1000, 1.0) for p in range(seconds))
            batches.append(WatchBatch(user.pk, video.pk, uuid.uuid4(), events))
        client = Client()
        client.force_login(user)
        keys.append(client.cookies[SESSION_COOKIE].value)
    watch_batches_store(batches=batches)
    return keys


def browser_cookies(session_keys: list[str]) -> list[str]:
    """The Cookie header each member's browser sends: its session and the CSRF cookie the first page
    set (a browser keeps it; without it every page would mint and set a new secret)."""
    from django.conf import settings
    from django.middleware.csrf import _get_new_csrf_string

    return [f"{SESSION_COOKIE}={key}; {settings.CSRF_COOKIE_NAME}={_get_new_csrf_string()}" for key in session_keys]


WATCH_SLUG = "bench-video-1"  # members-only (pages_seed: every video but each third one)


def stage_pages(*, gunicorn_workers: int, seconds: float, connections: int) -> list[tuple[str, str, str, str]]:
    """Stage 8 of bin/bench: pages_seed's members and history, then pages_stage against the bench's
    production-like gunicorn (bench.e2e.web_start: gunicorn.conf.py, DEBUG off, collectstatic done).
    Fails fast unless a member's home page shows Continue watching with progress from Cassandra."""
    from bench.e2e import PORT, web_start, web_stop

    cookies = browser_cookies(pages_seed())
    web = web_start(gunicorn_workers)
    try:
        home, watch = "/", f"/watch/{WATCH_SLUG}/"
        for n in range(gunicorn_workers * 4):  # warm every worker (imports, templates, card cache)
            for path in (home, watch):
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                conn.request("GET", path, headers={"Cookie": cookies[n % len(cookies)]})
                answer = conn.getresponse()
                body = answer.read()
                if answer.status != 200:
                    raise SystemExit(f"stage 8: GET {path} as a member answered {answer.status}: {body[:300]!r}")
                if path == home and (b'id="continue-heading"' not in body or b"<progress" not in body):
                    raise SystemExit("stage 8: the member's home page shows no Continue watching / progress")
        return pages_stage(
            base_url=f"http://127.0.0.1:{PORT}",
            cookies=cookies,
            home_path=home,
            watch_path=watch,
            seconds=seconds,
            connections=connections,
        )
    finally:
        web_stop(web)
