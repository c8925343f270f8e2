"""Media upload: a large video source sent in parts to the production web process (gunicorn as
deployed, DEBUG off) on the filesystem storage, the admin's resumable protocol (videos/uploads.py).

Prints the upload's throughput and the web processes' resident memory, sampled from /proc every
0.1 s while the parts arrive: the target is <= 200 MB for a 4 GB upload (the web process streams
each part to disk in 1 MiB reads and never holds the file). The client sends parts made of one
random 8 MiB block, so it reads no 4 GB file of its own; the server writes every byte to disk.

`python -m bench.media_upload` (3 runs of 4 GiB, the median printed), or `stage_lines(quick=True)`
(256 MiB) from bin/bench's `media` stage.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from accounts.models import User
from bench.common import log, process_tree
from bench.e2e import PORT, web_start, web_stop

RSS_TARGET_MB = 200
FULL_BYTES = 4 * 2**30
QUICK_BYTES = 256 * 2**20
RUNS = 3


@dataclass(frozen=True)
class UploadRun:
    seconds: float
    size: int
    rss_max_mb: float  # the largest web process (a gunicorn worker) at any sample
    rss_total_mb: float  # all web processes together, at the worst sample


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.max_one = 0.0
        self.max_total = 0.0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.1):
            sizes = [_rss_mb(pid) for pid in process_tree(self.root_pid)]
            self.max_one = max(self.max_one, *sizes, 0.0)
            self.max_total = max(self.max_total, sum(sizes))


def _staff_headers() -> dict[str, str]:
    staff, _ = User.objects.get_or_create(
        email="bench-upload@example.com", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(staff)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = _get_new_csrf_string()
    return {
        "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}",
        "X-CSRFToken": csrf,
        "Origin": f"http://127.0.0.1:{PORT}",
        "Host": f"127.0.0.1:{PORT}",
    }


def _call(conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
    return json.loads(data) if data else None


def upload_once(*, size: int, web_pid: int, headers: dict[str, str]) -> UploadRun:
    block = os.urandom(8 * 2**20)
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    sampler = RssSampler(web_pid)
    sampler.start()
    began = time.perf_counter()
    state = _call(
        conn,
        "POST",
        "/admin/videos/video/upload/",
        {**headers, "Content-Type": "application/json"},
        json.dumps({"filename": "bench.mp4", "size": size}),
    )
    part_size = state["part_size"]
    for number in range(1, state["parts"] + 1):
        length = min(part_size, size - (number - 1) * part_size)
        body = block[:length] if length <= len(block) else (block * (-(-length // len(block))))[:length]
        target = _call(conn, "GET", f"{state['url']}part/{number}/", headers)["url"]
        _call(conn, "PUT", target, {**headers, "Content-Type": "application/octet-stream"}, body)
    done = _call(conn, "POST", f"{state['url']}complete/", headers)
    seconds = time.perf_counter() - began
    sampler.stopping.set()
    sampler.join()
    conn.close()
    assert done["complete"], done
    return UploadRun(seconds=seconds, size=size, rss_max_mb=sampler.max_one, rss_total_mb=sampler.max_total)


def measure(*, size: int, runs: int) -> list[UploadRun]:
    call_command("migrate", verbosity=0)
    media = Path(tempfile.mkdtemp(prefix="bench-media-", dir=settings.BASE_DIR / "var"))
    previous = os.environ.get("MEDIA_ROOT")
    os.environ["MEDIA_ROOT"] = str(media)  # for gunicorn, started below with this environment
    web = web_start(2)
    try:
        headers = _staff_headers()
        results = []
        for run in range(runs):
            results.append(upload_once(size=size, web_pid=web.pid, headers=headers))
            log(f"media upload run {run + 1}/{runs}: {results[-1]}")
            shutil.rmtree(media / "sources", ignore_errors=True)
        return results
    finally:
        web_stop(web)
        shutil.rmtree(media, ignore_errors=True)
        if previous is None:
            os.environ.pop("MEDIA_ROOT", None)
        else:
            os.environ["MEDIA_ROOT"] = previous


def stage_lines(*, quick: bool) -> list[str]:
    """The media stage's upload lines: median throughput and web RSS over the runs."""
    size = QUICK_BYTES if quick else FULL_BYTES
    runs = measure(size=size, runs=1 if quick else RUNS)
    mib_s = statistics.median(r.size / 2**20 / r.seconds for r in runs)
    rss_one = statistics.median(r.rss_max_mb for r in runs)
    rss_total = statistics.median(r.rss_total_mb for r in runs)
    met = "met" if max(r.rss_max_mb for r in runs) <= RSS_TARGET_MB else "MISSED"
    return [
        f"upload of {size / 2**30:.2f} GiB in 8 MiB parts to gunicorn (filesystem storage), median of {len(runs)}:",
        f"  throughput {mib_s:.0f} MiB/s; web RSS: largest process {rss_one:.0f} MB "
        f"(target <= {RSS_TARGET_MB} MB: {met}), all web processes {rss_total:.0f} MB",
    ]


if __name__ == "__main__":
    import sys

    for line in stage_lines(quick="--quick" in sys.argv):
        print(line)
