"""Benchmark stage `media` (`bin/bench --stages media`): uploaded videos delivered through nginx.

- Delivery: Debian `wrk` against one segment of a real ladder, in the same nginx and the same run,
  (a) with no authorisation (the baseline: nginx serving the file as a static file), (b) through the
  site's signed /hls/ location as deployed (`bin/nginx site`: secure_link bound to the session
  cookie) and (c) through `auth_request` to a minimal Python check of the session (bench/media_auth.py
  under gunicorn: a lower bound of what a Django view would cost). Requests/s and bytes/s of (b) and
  (c) as a ratio of (a) (target ≥ 0.8), the median of several runs; the CPU of the site's gunicorn
  and the ingest process from /proc during (b) (target 0 per segment).
- Start-up: Debian's chromium (Playwright) opens the watch page of the members-only video through
  nginx over loopback as a logged-in member; time from navigation start to the first `playing`
  event (target ≤ 1 s), the median of several page loads.

Then the lines of `bench.media_transcode` and `bench.media_upload` (the transcode and upload
helpers' parts of the stage), when those modules exist.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import Client

from accounts.services import member_demo_ensure
from bench import BENCH_ENV, ROOT, VAR
from bench.common import CHILDREN, CpuGroups, log
from bench.pages import wrk_ensure
from videos.media import MASTER, ladder_build, ladder_url_sign, source_facts_read
from videos.models import LadderState, Video

RATIO_TARGET = 0.8
STARTUP_TARGET_S = 1.0
SLUG = "bench-media"
# Free ports of their own, apart from stages 3 and 8 (8100).
NGINX_PORT, PLAIN_PORT, WEB_PORT, INGEST_PORT, AUTH_PORT = 8110, 8111, 8112, 8113, 8114

Row = tuple[str, str, str, str]
# As the browser tests launch Debian's chromium (tests/conftest.py), autoplay allowed.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]

# The baseline and the auth_request variant, beside the site's server in the same nginx (same
# worker processes, same http-level settings): only the location's authorisation differs.
_BENCH_SERVER = """
upstream bench_media_auth {{
    server 127.0.0.1:{auth};
    keepalive 32;
}}
server {{
    listen 127.0.0.1:{plain};
    access_log off;
    location /plain/ {{
        alias {root}/hls/;
        types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; image/jpeg jpg; }}
        add_header Cache-Control "private, max-age=31536000, immutable" always;
    }}
    location ~ "^/auth/(?<dir>[0-9]+/[0-9a-f]{{12}})/(?<file>(?:[0-9]+/)?[A-Za-z0-9_.-]+)$" {{
        auth_request /_auth;
        alias {root}/hls/$dir/$file;
        types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; image/jpeg jpg; }}
        add_header Cache-Control "private, max-age=31536000, immutable" always;
    }}
    location = /_auth {{
        internal;
        proxy_pass http://bench_media_auth;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URI $request_uri;
    }}
}}
"""


def _popen(command: list[str], *, env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
    with open(VAR / log_name, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    CHILDREN.append(proc)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _wait_http(port: int, path: str = "/", timeout: float = 60) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"stage media: nothing answered on 127.0.0.1:{port} within {timeout:.0f} s")


def _ladder(media_root: Path, *, seconds: int) -> Video:
    """A members-only video whose ladder (720p source: 240p-720p, 4-s segments) is built here,
    or the one an earlier run built."""
    found = Video.objects.filter(slug=SLUG, is_published=True).first()
    if found is not None and found.ladder_path and (media_root / found.ladder_path / MASTER).is_file():
        return found
    Video.objects.filter(slug=SLUG).delete()
    video = Video.objects.create(
        title="Bench media",
        slug=SLUG,
        provider=Video.Provider.FILE,
        external_id=f"upload:{SLUG}",
        access="members",
        ladder_state=LadderState.QUEUED,
    )
    run = secrets.token_hex(6)
    out = media_root / "hls" / str(video.pk) / run
    shutil.rmtree(media_root / "hls" / str(video.pk), ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="bench-media-") as work:
        clip = Path(work) / "clip.mp4"
        subprocess.run(
            [
                settings.FFMPEG_BINARY,
                *("-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"),
                *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds)),
                *("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)),
            ],
            check=True,
            capture_output=True,
        )
        facts = source_facts_read(path=clip)
        ladder_build(source=clip, out=out, facts=facts)
    Video.objects.filter(pk=video.pk).update(
        ladder_state=LadderState.READY,
        ladder_path=f"hls/{video.pk}/{run}/",
        # The page plays an upload's ladder when it has a source (its bytes are not needed here).
        source=f"sources/{SLUG}.mp4",
        duration=seconds,
        is_published=True,
    )
    video.refresh_from_db()
    return video


def _nginx_start(*, env: dict[str, str], media_root: Path) -> subprocess.Popen[bytes]:
    """nginx with the site config as `bin/nginx` renders it, plus the bench's server (_BENCH_SERVER)."""
    directory = VAR / "bench-nginx"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    site = subprocess.run(
        [str(ROOT / "bin" / "nginx"), "site"], env=env, check=True, capture_output=True, text=True
    ).stdout
    (directory / "watchpoint.conf").write_text(site)
    bench_server = _BENCH_SERVER.format(auth=AUTH_PORT, plain=PLAIN_PORT, root=media_root)
    (directory / "bench.conf").write_text(bench_server)
    root = os.geteuid() == 0
    temp = "/var/lib/nginx" if root else str(directory / "tmp")
    main = (ROOT / "etc" / "nginx" / "nginx.conf.in").read_text()
    main = main.replace("@USER@", "user www-data;" if root else "").replace("@DIR@", str(directory))
    main = main.replace("@TEMP@", temp)
    main = main.replace(
        f"include {directory}/watchpoint.conf;",
        f"include {directory}/watchpoint.conf;\n    include {directory}/bench.conf;",
    )
    (directory / "nginx.conf").write_text(main)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = _popen(
        [nginx, "-c", str(directory / "nginx.conf"), "-e", str(directory / "error.log"), "-g", "daemon off;"],
        env=env,
        log_name="bench-nginx.log",
    )
    _wait_http(PLAIN_PORT, "/plain/")
    return proc


_SIZE = {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}


def _wrk(*, url: str, cookie: str, seconds: float, connections: int = 16) -> dict[str, float]:
    out = subprocess.run(
        [wrk_ensure(), "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-H", f"Cookie: {cookie}", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)([KMGT]?B)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "rate": float(rate.group(1)) if rate else 0.0,
        "bytes": float(transfer.group(1)) * _SIZE[transfer.group(2)] if transfer else 0.0,
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
        "requests": float(total.group(1)) if total else 0.0,
    }


def _startup_seconds(*, url: str, session_key: str, loads: int) -> list[tuple[float, float, float]]:
    """Page load (navigation start) to the first `playing` event, in chromium, `loads` times; with
    when the master playlist was asked for and when the first segment had arrived (seconds)."""
    from playwright.sync_api import sync_playwright

    # Any <video> the page adds starts muted as soon as it exists (a member pressing play at once);
    # the time of its first `playing` event, from navigation start, is kept on window.
    watcher = """
      window.__playingAt = null;
      document.addEventListener('playing', () => {
        if (window.__playingAt === null) window.__playingAt = performance.now();
      }, true);
      new MutationObserver(() => {
        for (const video of document.querySelectorAll('video')) {
          if (!video.__benchStarted) { video.__benchStarted = true; video.muted = true; video.play().catch(() => {}); }
        }
      }).observe(document, {childList: true, subtree: true});
    """
    results: list[tuple[float, float, float]] = []
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            for _ in range(loads):
                # A fresh profile each time: nothing cached, as a member's first visit.
                context = browser.new_context()
                context.add_cookies([{"name": "sessionid", "value": session_key, "domain": "127.0.0.1", "path": "/"}])
                page = context.new_page()
                console: list[str] = []
                page.on("console", functools.partial(_console_line, console))
                page.on("requestfailed", functools.partial(_failed_request, console))
                page.on("response", functools.partial(_error_response, console))
                page.add_init_script(watcher)
                page.goto(url)
                # Polled in the page (the site's CSP forbids the eval behind wait_for_function).
                try:
                    playing_at = page.evaluate(
                        """() => new Promise((resolve, reject) => {
                          const give_up = Date.now() + 15000;
                          const check = () => {
                            if (window.__playingAt !== null) resolve(window.__playingAt);
                            else if (Date.now() > give_up) reject(new Error('no playing event in 15 s'));
                            else setTimeout(check, 10);
                          };
                          check();
                        })"""
                    )
                except Exception:
                    page.screenshot(path=str(VAR / "screenshots" / "bench-media-startup.png"))
                    raise SystemExit(f"stage media: no playing event in chromium: {console[-20:]}") from None
                # Where the time went: the page and its scripts until hls.js asks for the master
                # playlist, then nginx's playlists and first segment, then the decoder.
                master_at, segment_at = page.evaluate(
                    """() => {
                      const hls = performance.getEntriesByType('resource').filter(e => e.name.includes('/hls/'));
                      const master = hls.find(e => e.name.endsWith('master.m3u8'));
                      const segment = hls.find(e => e.name.endsWith('.ts'));
                      return [master ? master.startTime : -1, segment ? segment.responseEnd : -1];
                    }"""
                )
                results.append((float(playing_at) / 1000, float(master_at) / 1000, float(segment_at) / 1000))
                context.close()
        finally:
            browser.close()
    return results


def _console_line(log: list[str], message: Any) -> None:
    log.append(str(message.text))


def _failed_request(log: list[str], request: Any) -> None:
    log.append(f"failed: {request.url}")


def _error_response(log: list[str], response: Any) -> None:
    if response.status >= 400:
        log.append(f"{response.status} {response.url}")


def _helper_lines(module: str, *, quick: bool) -> list[str]:
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return [f"({module} is not in this branch: skipped)"]
    lines: list[str] = found.stage_lines(quick=quick)
    return lines


def stage_media(*, quick: bool = False) -> tuple[list[Row], list[str], list[str]]:
    """The stage's rows, its targets (name ✓/✗) and the transcode and upload helpers' lines."""
    runs, seconds = (2, 4.0) if quick else (5, 8.0)
    media_root = VAR / "bench-media"
    media_root.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        **BENCH_ENV,
        "MEDIA_ROOT": str(media_root),
        "MEDIA_URL_SECRET": secret,
        "NGINX_LISTEN": f"127.0.0.1:{NGINX_PORT}",
        "WEB_BIND": f"127.0.0.1:{WEB_PORT}",
        "INGEST_BIND": f"127.0.0.1:{INGEST_PORT}",
    }
    settings.MEDIA_URL_SIGNING_KEY = secret  # as the site's processes and nginx sign and check
    log("stage media: a 12-s 720p ladder")
    video = _ladder(media_root, seconds=12)
    member = member_demo_ensure(index=90_000)
    client = Client()
    client.force_login(member)
    session_key = client.cookies["sessionid"].value
    cookie = f"sessionid={session_key}"
    master = ladder_url_sign(ladder_path=video.ladder_path, session_key=session_key, expires=int(time.time()) + 3600)
    base = master.rsplit("/", 1)[0]
    folder = video.ladder_path.removeprefix("hls/").rstrip("/")
    segment = "0/seg_00001.ts"
    size = (media_root / video.ladder_path / segment).stat().st_size

    web = _popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--log-level", "warning"],
        env={**env, "WEB_CONCURRENCY": "2"},
        log_name="bench-media-web.log",
    )
    ingest = _popen(
        [str(ROOT / ".venv/bin/python"), "-m", "config.serve_ingest"],
        env={**env, "INGEST_WORKERS": "1", "LOG_LEVEL": "WARNING"},
        log_name="bench-media-ingest.log",
    )
    auth = _popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--log-level",
            "warning",
            "bench.media_auth:application",
        ],
        env={**env, "WEB_BIND": f"127.0.0.1:{AUTH_PORT}", "WEB_CONCURRENCY": "2"},
        log_name="bench-media-auth.log",
    )
    nginx = _nginx_start(env=env, media_root=media_root)
    rows: list[Row] = []
    targets: list[str] = []
    try:
        for port in (WEB_PORT, AUTH_PORT):
            _wait_http(port, "/healthz")
        _wait_http(INGEST_PORT, "/api/watch/")
        urls = {
            "plain": f"http://127.0.0.1:{PLAIN_PORT}/plain/{folder}/{segment}",
            "signed": f"http://127.0.0.1:{NGINX_PORT}{base}/{segment}",
            "auth": f"http://127.0.0.1:{PLAIN_PORT}/auth/{folder}/{segment}",
        }
        for name, url in urls.items():  # each answers the member, and only the member
            warm = _wrk(url=url, cookie=cookie, seconds=1, connections=2)
            refused = _wrk(url=url, cookie="sessionid=another", seconds=1, connections=2)
            if warm["errors"] or not warm["requests"] or (name != "plain" and refused["errors"] < refused["requests"]):
                raise SystemExit(f"stage media: {name} {url} answered {warm} for the member, {refused} for another")
        cpu = CpuGroups({"web": [web.pid], "ingest": [ingest.pid]})
        figures: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
        segments = 0.0
        python_cpu = {"web": 0.0, "ingest": 0.0}
        # Idle processes still use a little CPU (gunicorn's heartbeat, granian's loop): the same
        # length of idle time, measured before each loaded run, is taken off.
        idle_cpu = {"web": 0.0, "ingest": 0.0}
        web_log = VAR / "bench-media-web.log"
        reached_before = web_log.read_text().count('"method": ')
        log(f"stage media: wrk, {runs} runs x {seconds:.0f} s of each of plain, signed, auth_request")
        for _ in range(runs):
            for name, url in urls.items():
                if name == "signed":
                    cpu.start()
                    time.sleep(seconds)
                    cpu.stop()
                    for group in idle_cpu:
                        idle_cpu[group] += cpu.used[group]
                    cpu.start()
                result = _wrk(url=url, cookie=cookie, seconds=seconds)
                if name == "signed":
                    cpu.stop()
                    segments += result["requests"]
                    for group in python_cpu:
                        python_cpu[group] += cpu.used[group]
                figures[name].append(result)
        median = {
            name: {key: statistics.median(r[key] for r in results) for key in ("rate", "bytes")}
            for name, results in figures.items()
        }
        plain = median["plain"]
        for name, label in (("signed", "secure_link (as deployed)"), ("auth", "auth_request (minimal Python check)")):
            m = median[name]
            ratio_rate, ratio_bytes = m["rate"] / plain["rate"], m["bytes"] / plain["bytes"]
            rows.append(
                (
                    f"media delivery, {label}",
                    f"{m['rate']:,.0f} req/s",
                    f"{ratio_rate:.2f}",
                    f"{m['bytes'] / 2**20:,.0f} MiB/s ({ratio_bytes:.2f} x); unauthorised nginx "
                    f"{plain['rate']:,.0f} req/s, {plain['bytes'] / 2**20:,.0f} MiB/s; {size / 1024:,.0f} KiB "
                    f"segment, 16 connections, median of {runs} x {seconds:.0f} s",
                )
            )
            if name == "signed":
                targets.append(
                    _target(
                        "delivery ≥ 0.8 x unauthorised (req/s and bytes/s)",
                        min(ratio_rate, ratio_bytes) >= RATIO_TARGET,
                    )
                )
        # gunicorn logs every request it serves: none of the signed segments may be there.
        reached = web_log.read_text().count('"method": ') - reached_before
        net = {group: max(0.0, python_cpu[group] - idle_cpu[group]) for group in python_cpu}
        per_segment = sum(net.values()) * 1000 / max(segments, 1)
        rows.append(
            (
                "media Django + ingest CPU per segment",
                f"{per_segment:.4f} ms",
                "",
                f"{reached} requests reached gunicorn; CPU during the signed runs web {python_cpu['web']:.2f} s, "
                f"ingest {python_cpu['ingest']:.2f} s, idle for as long web {idle_cpu['web']:.2f} s, ingest "
                f"{idle_cpu['ingest']:.2f} s (from /proc), over {segments:,.0f} segments",
            )
        )
        # 0 within /proc's resolution (10 ms ticks over the whole stage): no request reached Python.
        targets.append(_target("Django and ingest CPU per segment = 0", reached == 0 and per_segment < 0.001))
        log("stage media: start-up in chromium")
        loads = 3 if quick else 7
        startup = _startup_seconds(
            url=f"http://127.0.0.1:{NGINX_PORT}/watch/{SLUG}/", session_key=session_key, loads=loads
        )
        firsts = [t[0] for t in startup]
        median_startup = statistics.median(firsts)
        median_master = statistics.median(t[1] for t in startup)
        median_segment = statistics.median(t[2] for t in startup)
        rows.append(
            (
                "media start-up (page load → playing)",
                f"{median_startup * 1000:.0f} ms",
                f"{median_startup / STARTUP_TARGET_S:.2f}",
                f"chromium over loopback through nginx, fresh profile each; median of {loads} "
                f"(min {min(firsts) * 1000:.0f}, max {max(firsts) * 1000:.0f} ms); master "
                f"playlist asked at {median_master * 1000:.0f} ms, first segment in at {median_segment * 1000:.0f} ms",
            )
        )
        targets.append(_target("start-up ≤ 1 s", median_startup <= STARTUP_TARGET_S))
    finally:
        for proc in (nginx, auth, ingest, web):
            _stop(proc)
    helpers = _helper_lines("bench.media_transcode", quick=quick) + _helper_lines("bench.media_upload", quick=quick)
    return rows, targets, helpers


def _target(name: str, met: bool) -> str:
    return f"{name} {'✓' if met else '✗'}"
