"""Stage 3: simulated members POST 10-second batches over HTTP (wrk) to the ingest
process (config/serve_ingest.py: granian, as the Procfile runs it) while Celery workers
drain them into Cassandra; with each process group's CPU from /proc over the stage.

Every batch carries a genuine viewing-session token, signed here with the bench's DJANGO_SECRET_KEY
(shared with the web processes) as the watch page would issue it: one session per simulated member and video,
issued six days ago so the playable-seconds bound allows the load. Each member keeps to
SESSIONS_PER_MEMBER videos (under WATCH_CONCURRENT_SESSIONS) and every request carries seconds its
session has not sent yet, so accepted and stored events must match exactly.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass

from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret  # type: ignore[attr-defined]
from django.test import Client

from accounts.models import User
from analytics.acceptance import SessionClaims, viewing_session_token_sign
from analytics.stream import SESSION_KEY, stream_client
from analytics.viewing import member_ingest_generation_get
from bench import BENCH_ENV, ROOT, VAR
from bench.common import (
    CHILDREN,
    CpuGroups,
    Workers,
    log,
    port_owner,
    stored_events,
    utc_from_ms,
    wait_drained,
    wait_recounted,
)
from videos.models import Video

PORT = 8100
SESSIONS_PER_MEMBER = 3
# Videos of this stage are an hour long: 360 fresh 10-second windows per session.
E2E_DURATION = 3600
# Every bench session is made to look as if it had been playing this long (its allowance of seconds
# then covers a flat-out run); within the late window, so its day stays open whatever the hour.
STARTED_AGO_MS = 20 * 60_000


@dataclass(frozen=True)
class Member:
    cookie: str
    csrf: str
    prefix: str
    sessions: tuple[tuple[int, str, str], ...]  # (video id, session id, token)


def members_prepare(users: list[int], vids: list[tuple[int, int]]) -> list[Member]:
    """A logged-in Django session (the cookie a browser would send too) and signed viewing sessions."""
    issued = int(time.time() * 1000)
    started = stream_client().pipeline(transaction=False)
    out = []
    for i, user in enumerate(User.objects.filter(pk__in=users).order_by("pk")):
        client = Client()
        client.force_login(user)
        secret = _get_new_csrf_string()
        generation = member_ingest_generation_get(user_id=user.pk)
        sessions = []
        for k in range(SESSIONS_PER_MEMBER):
            video = vids[(i * SESSIONS_PER_MEMBER + k) % len(vids)][0]
            claims = SessionClaims(user.pk, video, uuid.uuid4(), issued, generation, True)
            sessions.append((video, str(claims.session_id), viewing_session_token_sign(claims=claims)))
            started.hsetnx(SESSION_KEY.format(session_id=claims.session_id), "start", issued - STARTED_AGO_MS)
        started.execute()
        out.append(
            Member(
                cookie=f"sessionid={client.cookies['sessionid'].value}; csrftoken={secret}",
                csrf=_mask_cipher_secret(secret),
                prefix=f"{i:08x}",
                sessions=tuple(sessions),
            )
        )
    return out


def wrk_script(
    members: list[Member], threads: int, delay_ms: int = 0, *, duration: int = E2E_DURATION, rate: float = 0.0
) -> str:
    """A wrk Lua script: each wrk thread posts 10-second batches for its own share of the members,
    walking each member's sessions window by window (never the same second twice while the
    `duration`-second videos last). With `delay_ms`, each connection waits that long between
    requests (a paced load instead of flat out). With `rate` (requests/s over all threads), each
    request is given the next slot of a fixed schedule instead (LuaJIT's ffi reads the monotonic
    clock), so the load holds that rate whatever the latency, as long as connections suffice."""
    rows = []
    for m in members:
        sessions = ", ".join(f'{{video={v}, sid="{sid}", token="{token}"}}' for v, sid, token in m.sessions)
        rows.append(f'{{cookie="{m.cookie}", csrf="{m.csrf}", sessions={{ {sessions} }}}}')
    table = ",\n".join(rows)
    windows = duration // 10
    per_thread = rate / threads
    return f"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} wp_timespec;
int clock_gettime(int clk_id, wp_timespec *tp);
]]
local function now_ms()
  local t = ffi.new("wp_timespec")
  ffi.C.clock_gettime(1, t)
  return tonumber(t.tv_sec) * 1000 + tonumber(t.tv_nsec) / 1e6
end
local per_thread = {per_thread}
local started = nil
local slots = 0
local members = {{ {table} }}
local threads = {{}}
local counter = 0
accepted = 0
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  mine = {{}}
  for i = 1, #members do
    if (i - 1) % {threads} == id then table.insert(mine, members[i]) end
  end
end
function request()
  counter = counter + 1
  local m = mine[(counter % #mine) + 1]
  local round = math.floor(counter / #mine)
  local s = m.sessions[(round % #m.sessions) + 1]
  local pos = (math.floor(round / #m.sessions) % {windows}) * 10
  local now = os.time() * 1000
  local events = {{}}
  for i = 0, 9 do
    events[#events + 1] = string.format('{{"position": %d, "client_ts": %d, "rate": 1.0}}',
      pos + i, now - (10 - i) * 1000)
  end
  local body = string.format('{{"video_id": %d, "session_id": "%s", "events": [%s], "token": "%s"}}',
    s.video, s.sid, table.concat(events, ","), s.token)
  return wrk.format("POST", nil, {{["Content-Type"] = "application/json", ["Cookie"] = m.cookie,
    ["X-CSRFToken"] = m.csrf, ["Origin"] = "http://127.0.0.1:{PORT}"}}, body)
end
function delay()
  if per_thread <= 0 then return {delay_ms} end
  local t = now_ms()
  if not started then started = t end
  slots = slots + 1
  return math.max(0, math.floor(started + slots * 1000 / per_thread - t))
end
function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  elseif not refused then
    refused = status .. " " .. body
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("accepted")
    if t:get("refused") then io.stderr:write("first refused: " .. t:get("refused") .. "\\n") end
  end
  io.write(string.format('{{"requests": %d, "accepted": %d, "p50_ms": %.2f, "p99_ms": %.2f}}\\n',
    summary.requests, total, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def _gunicorn(gunicorn_workers: int) -> subprocess.Popen[bytes]:
    """gunicorn as deployed (gunicorn.conf.py), on the bench's port and worker count."""
    env = {**os.environ, **BENCH_ENV, "WEB_BIND": f"127.0.0.1:{PORT}", "WEB_CONCURRENCY": str(gunicorn_workers)}
    if os.environ.get("BENCH_GUNICORN_THREADS"):
        env["WEB_THREADS"] = os.environ["BENCH_GUNICORN_THREADS"]
    extra = ["-k", os.environ["BENCH_GUNICORN_CLASS"]] if os.environ.get("BENCH_GUNICORN_CLASS") else []
    with open(VAR / "bench-gunicorn.log", "wb") as logf:
        web = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), *extra, "--log-level", "warning"],
            cwd=ROOT,
            env=env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    CHILDREN.append(web)
    return web


def _ingest(ingest_workers: int) -> subprocess.Popen[bytes]:
    """The ingest process as deployed (Procfile `ingest`: config/serve_ingest.py, granian), on PORT."""
    env = {**os.environ, **BENCH_ENV, "INGEST_BIND": f"127.0.0.1:{PORT}", "INGEST_WORKERS": str(ingest_workers)}
    if os.environ.get("BENCH_INGEST_THREADS"):
        env["INGEST_THREADS"] = os.environ["BENCH_INGEST_THREADS"]
    with open(VAR / "bench-ingest.log", "wb") as logf:
        web = subprocess.Popen(
            [str(ROOT / ".venv/bin/python"), "-m", "config.serve_ingest"],
            cwd=ROOT,
            env={**env, "LOG_LEVEL": "WARNING"},
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    CHILDREN.append(web)
    return web


def _answering(path: str) -> None:
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            c.request("GET", path)
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)


def _port_free() -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", PORT)) == 0:
            raise SystemExit(f"port {PORT} is taken (a server left from an interrupted bench?)")


def web_start(gunicorn_workers: int) -> subprocess.Popen[bytes]:
    """The bench's production-like gunicorn (gunicorn.conf.py, DEBUG off, hashed static files) on
    PORT, once it answers /healthz."""
    _port_free()
    web = _gunicorn(gunicorn_workers)
    _answering("/healthz")
    return web


def ingest_start(ingest_workers: int) -> subprocess.Popen[bytes]:
    """The production ingest process (granian, watch-batch paths only) on PORT, once it answers."""
    _port_free()
    web = _ingest(ingest_workers)
    _answering("/api/watch/")  # a GET: 405 from the handler once a worker is up
    return web


def web_stop(web: subprocess.Popen[bytes]) -> None:
    os.killpg(web.pid, signal.SIGTERM)
    try:
        web.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(web.pid, signal.SIGKILL)
        web.wait(10)


def probe_batches(members: list[Member], count: int) -> None:
    """Fail fast (and warm every ingest worker) if a signed batch is not accepted: `count` batches of
    one second past the end of members[0]'s first session (allowed: players round the last frame
    up), a cell wrk never sends; the first stores one event, the others repeat it."""
    probe_video, probe_sid, probe_token = members[0].sessions[0]
    duration = int(Video.objects.values_list("duration", flat=True).get(pk=probe_video) or E2E_DURATION)
    probe_body = {
        "video_id": probe_video,
        "session_id": probe_sid,
        "events": [{"position": duration + 1, "client_ts": int(time.time() * 1000), "rate": 1.0}],
        "token": probe_token,
    }
    for _ in range(count):
        probe = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        probe.request(
            "POST",
            "/api/watch/",
            body=json.dumps(probe_body),
            headers={"Content-Type": "application/json", "Cookie": members[0].cookie, "X-CSRFToken": members[0].csrf},
        )
        answer = probe.getresponse()
        text = answer.read()
        if answer.status != 202:
            raise SystemExit(f"a signed batch was refused by the ingest process: {answer.status} {text[:300]!r}")


def stage_e2e(
    users: list[int],
    vids: list[tuple[int, int]],
    seconds: float,
    clients: int,
    workers: int,
    concurrency: int,
    ingest_workers: int,
    wrk_threads: int = 2,
    paced_users: list[int] | None = None,
    paced_rate: float = 500.0,
    cassandra_pids: list[int] | None = None,
) -> dict[str, float]:
    """Flat out from `clients` wrk connections for `seconds`, until every accepted event is stored;
    then, with `paced_users`, HTTP latency at `paced_rate` requests/s. `cassandra_pids`: the JVMs
    whose CPU is counted (default: the one listening on port 9042)."""
    web = ingest_start(ingest_workers)
    pool = Workers(workers, concurrency)
    members = members_prepare(users, vids)
    script = VAR / "bench-wrk.lua"
    script.write_text(wrk_script(members, threads=wrk_threads))
    probe_batches(members, ingest_workers * 4)
    wait_drained()
    probe_events = 1
    if cassandra_pids is None:
        cassandra = port_owner(9042)
        cassandra_pids = [cassandra] if cassandra else []
    redis_pid = port_owner(6379)
    cpu = CpuGroups(
        {
            "web": [web.pid],
            "drain": [p.pid for p in pool.procs],
            "cassandra": cassandra_pids,
            "redis": [redis_pid] if redis_pid else [],
        }
    )
    cpu.start()
    url = f"http://127.0.0.1:{PORT}/api/watch/"
    started = time.perf_counter()
    out = subprocess.run(
        ["wrk", "-t", str(wrk_threads), "-c", str(clients), "-d", f"{int(seconds)}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    post_elapsed = time.perf_counter() - started
    cpu.stop("web")
    if out.stderr:
        log(out.stderr.strip())
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    wait_drained()
    total_elapsed = time.perf_counter() - started
    # The drain's and Cassandra's CPU include the watched-count recounts, which fall due up to
    # WATCH_COUNT_REFRESH_SECONDS after the last batch (idle time of that wait counts too).
    wait_recounted()
    cpu.stop("drain", "cassandra", "redis")
    rss = pool.peak_rss_mb()
    today = utc_from_ms(int(time.time() * 1000)).date()
    yesterday = utc_from_ms(int(time.time() * 1000) - 86_400_000).date()
    stored = stored_events({(u, today) for u in users} | {(u, yesterday) for u in users}) - probe_events
    log(f"wrk: {out.stdout.strip().splitlines()[-1]}")
    paced = _paced(paced_users, vids, rate=paced_rate) if paced_users else {}
    pool.stop()
    web_stop(web)
    accepted_events = summary["accepted"] * 10
    return {
        "requests": summary["requests"],
        "accepted": summary["accepted"],
        "events": accepted_events,
        "errors": summary["requests"] - summary["accepted"],
        "post_seconds": post_elapsed,
        "total_seconds": total_elapsed,
        "rss_mb": rss,
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "stored": stored,
        "web_cpu_s": cpu.used["web"],
        "drain_cpu_s": cpu.used["drain"],
        "cassandra_cpu_s": cpu.used["cassandra"],
        "redis_cpu_s": cpu.used["redis"],
        **paced,
    }


PACED_CLIENTS = 16
PACED_SECONDS = 10


def _paced(users: list[int], vids: list[tuple[int, int]], *, rate: float) -> dict[str, float]:
    """HTTP latency at a given load (requests/s) rather than flat out: PACED_CLIENTS connections,
    each waiting between requests; other members than the flat-out run (their own sessions)."""
    members = members_prepare(users, vids)
    script = VAR / "bench-wrk-paced.lua"
    # Each connection's period is its delay plus the request's own time (~8 ms here): 0.75 of the
    # period goes to the delay; the achieved rate is printed beside the latency.
    script.write_text(wrk_script(members, threads=2, delay_ms=int(750 * PACED_CLIENTS / rate)))
    url = f"http://127.0.0.1:{PORT}/api/watch/"
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(PACED_CLIENTS), "-d", f"{PACED_SECONDS}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    log(f"wrk paced at {rate:,.0f} req/s: {out.stdout.strip().splitlines()[-1]}")
    wait_drained()
    return {
        "paced_rps": summary["requests"] / PACED_SECONDS,
        "paced_accepted": summary["accepted"],
        "paced_p50_ms": summary["p50_ms"],
        "paced_p99_ms": summary["p99_ms"],
    }
