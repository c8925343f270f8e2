"""Stage 9: the staff students report at scale. A course with --students-members enrolled (confirmed)
members, 90 % of whom started it, loaded into course_members / course_member_order with the
report's own CQL (prepared statements, UNLOGGED batches packed by replicas, run concurrently); then
the report page's server time (Django test client in process, as stage 7) for the default view, one
filter (inactive 14 days), one sort (% complete, lowest first) and a page deep in the list (by
cursor); then the CSV of every member who started: time to the header, to the first member row, to
the end, and the peak of Python memory allocated while streaming it (tracemalloc, a second pass)."""

from __future__ import annotations

import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import User
from analytics.cassandra import (
    ROWS_PER_BATCH,
    SET_ELEMENTS_PER_BATCH,
    BatchPacker,
    cassandra_prepared,
    cassandra_session,
)
from analytics.students import (
    COMPLETED,
    IN_PROGRESS,
    INSERT_ORDER,
    SORTS,
    STARTED,
    UPSERT_ROW,
    CourseProgress,
)
from bench.analytics import PLAIN_STATIC
from bench.common import loadavg, log, videos_ensure
from videos.models import Playlist, PlaylistItem

P95_TARGET_MS = 200.0
ITEMS = 12
DELETE_COURSE = "DELETE FROM {ks}.course_members WHERE playlist_id = ?"
DELETE_ORDER_PARTITION = "DELETE FROM {ks}.course_member_order WHERE playlist_id = ? AND status = ? AND sort = ?"
EMAIL = "student{}@bench.watchpoint.invalid"


def _members_ensure(count: int) -> list[int]:
    """`count` confirmed members (bulk: creating 100,000 one by one would take minutes)."""
    have = set(User.objects.filter(email__endswith="@bench.watchpoint.invalid").values_list("email", flat=True))
    missing = [EMAIL.format(i) for i in range(count) if EMAIL.format(i) not in have]
    for start in range(0, len(missing), 5000):
        chunk = missing[start : start + 5000]
        users = User.objects.bulk_create([User(email=e, username=e, password="!") for e in chunk])
        if users and users[0].pk is None:  # SQLite before RETURNING: read the ids back
            users = list(User.objects.filter(email__in=chunk))
        EmailAddress.objects.bulk_create(
            [EmailAddress(user_id=u.pk, email=u.email, primary=True, verified=True) for u in users]
        )
    emails = [EMAIL.format(i) for i in range(count)]
    ids: list[int] = []
    for start in range(0, count, 5000):
        ids += User.objects.filter(email__in=emails[start : start + 5000]).values_list("pk", flat=True)
    return sorted(ids)


def _course_ensure() -> int:
    videos = videos_ensure(prefix="bench-course", count=ITEMS, duration=600)
    playlist, _ = Playlist.objects.get_or_create(slug="bench-course", defaults={"title": "Bench course"})
    PlaylistItem.objects.filter(playlist=playlist).delete()
    PlaylistItem.objects.bulk_create(
        [PlaylistItem(playlist=playlist, video_id=v, position=i) for i, (v, _) in enumerate(videos)]
    )
    return playlist.pk


def _load(playlist_id: int, user_ids: list[int]) -> tuple[int, float]:
    """One row and 6 order rows per started member, written as the report writes them."""
    # A previous run's rows go first (its "last watched" values differ): whole partitions, 10 deletes,
    # before the clock below is read: the new rows' timestamps come after the tombstones'.
    session = cassandra_session()
    session.execute(cassandra_prepared(DELETE_COURSE), (playlist_id,))
    for status in (STARTED, IN_PROGRESS, COMPLETED):
        for sort in SORTS:
            session.execute(cassandra_prepared(DELETE_ORDER_PARTITION), (playlist_id, status, sort))
    time.sleep(0.01)
    rng = random.Random(9)
    now_ms = int(time.time() * 1000)
    read_at = now_ms * 1000
    upsert, insert = cassandra_prepared(UPSERT_ROW), cassandra_prepared(INSERT_ORDER)
    started = [u for u in user_ids if rng.random() < 0.9]
    by_partition: dict[tuple[str, str], list[tuple[Any, tuple[Any, ...], int]]] = {}
    rows: list[tuple[Any, tuple[Any, ...], int]] = []
    for user_id in started:
        completed = ITEMS if rng.random() < 0.3 else rng.randrange(0, ITEMS)
        last_ms = now_ms - int(rng.random() * 60 * 86_400_000)
        watch = completed * 560 + rng.randrange(0, 600)
        progress = CourseProgress(completed, ITEMS, watch, None)
        rows.append((upsert, (read_at, completed, ITEMS, watch, last_ms, now_ms, playlist_id, user_id), 0))
        for status in (STARTED, progress.status):
            for sort in SORTS:
                value = last_ms if sort == "last" else progress.value(sort)
                by_partition.setdefault((status, sort), []).append(
                    (insert, (playlist_id, status, sort, value, user_id, read_at), 0)
                )
    t = time.perf_counter()
    written = 0
    for part in [rows, *by_partition.values()]:
        for start in range(0, len(part), 20_000):
            packer = BatchPacker(max_rows=ROWS_PER_BATCH, max_elements=SET_ELEMENTS_PER_BATCH)
            packer.rows(part[start : start + 20_000])
            packer.execute()
            written += len(part[start : start + 20_000])
    return written, time.perf_counter() - t


def _timed(fetch: Callable[[], Any], requests: int) -> tuple[list[float], list[float]]:
    """Wall-clock and this process's CPU milliseconds per request: on a loaded machine the wall
    time includes waiting for a core (and the node's), the CPU time is the page's own cost."""
    samples, cpu = [], []
    for i in range(requests + 3):
        t, c = time.perf_counter(), time.process_time()
        response = fetch()
        if i >= 3:  # the first requests warm the process (templates, prepared statements)
            samples.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        if response.status_code != 200 or b"wp-students-table" not in response.content:
            raise SystemExit(f"students page answered {response.status_code}")
    return sorted(samples), sorted(cpu)


def _p95(samples: list[float]) -> float:
    return samples[max(0, int(0.95 * len(samples)) - 1)]


def stage_students(members: int, requests: int) -> dict[str, Any]:
    log(f"stage 9: {members:,} confirmed members and a {ITEMS}-item course")
    user_ids = _members_ensure(members)
    playlist_id = _course_ensure()
    written, load_s = _load(playlist_id, user_ids)
    log(f"stage 9: {written:,} report rows loaded in {load_s:.1f}s; timing the page")
    staff = User.objects.filter(email="bench-staff@bench.invalid").first() or User.objects.create(
        email="bench-staff@bench.invalid", username="bench-staff@bench.invalid", is_staff=True, is_superuser=True
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(staff)
    url = reverse("analytics_admin:students", args=[playlist_id])
    views = {
        "default (everyone, last watched)": {},
        "filter: inactive 14 days": {"status": "inactive"},
        "sort: % complete, lowest first": {"sort": "percent", "dir": "asc"},
    }
    result: dict[str, Any] = {"written": written, "load_s": load_s, "members": members, "pages": {}}
    with override_settings(STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": PLAIN_STATIC}}):
        for name, params in views.items():
            result["pages"][name] = _timed(partial(client.get, url, params, secure=True), requests)
        # A page half-way down the list: the cursor of member rows no earlier page had to read.
        middle = user_ids[len(user_ids) // 2]
        deep = {"sort": "watch", "after": f"{6 * 560}.{middle}"}
        result["pages"]["page by cursor, half-way (watch time)"] = _timed(
            partial(client.get, url, deep, secure=True), requests
        )
        csv_url = reverse("analytics_admin:students-csv", args=[playlist_id])
        t = time.perf_counter()
        response: Any = client.get(csv_url, secure=True)
        chunks = iter(response.streaming_content)
        next(chunks)
        header_ms = (time.perf_counter() - t) * 1000
        next(chunks)
        first_row_ms = (time.perf_counter() - t) * 1000
        lines = 2 + sum(1 for _ in chunks)
        result["csv"] = {"header_ms": header_ms, "first_row_ms": first_row_ms, "total_s": time.perf_counter() - t}
        result["csv"]["lines"] = lines
        tracemalloc.start()
        again: Any = client.get(csv_url, secure=True)
        for _ in again.streaming_content:
            pass
        result["csv"]["peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    return result


def students_rows(members: int, requests: int) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, bool]]]:
    r = stage_students(members, requests)
    rows = [
        (
            "9 students report: load",
            f"{r['written'] / r['load_s']:,.0f} rows/s",
            "",
            f"{r['written']:,} rows (course_members + order) for {r['members']:,} members in {r['load_s']:.1f}s",
        )
    ]
    targets = []
    for name, (samples, cpu) in r["pages"].items():
        p95 = _p95(samples)
        rows.append(
            (
                "9 students page p50 / p95",
                f"{statistics.median(samples):.1f} / {p95:.1f} ms",
                "",
                f"{name}; {len(samples)} requests, max {samples[-1]:.1f} ms; CPU of this process p50 / p95 "
                f"{statistics.median(cpu):.1f} / {_p95(cpu):.1f} ms; target ≤ {P95_TARGET_MS:.0f} ms",
            )
        )
        targets.append((f"students page ({name}) p95 ≤ {P95_TARGET_MS:.0f} ms", p95 <= P95_TARGET_MS))
    c = r["csv"]
    rows.append(("9 load average (1, 5, 15 min)", loadavg(), "", "during stage 9, on this machine's CPUs"))
    rows.append(
        (
            "9 students CSV streamed",
            f"{c['total_s']:.1f} s",
            "",
            f"{c['lines'] - 1:,} members; header after {c['header_ms']:.0f} ms, first member row after "
            f"{c['first_row_ms']:.0f} ms; peak Python memory while streaming {c['peak_mb']:.1f} MB",
        )
    )
    return rows, targets
