"""Deleting a member erases everything that identifies them, and the staff figures stay what they were.

The member's rollup inputs are re-keyed to an anonymous id (analytics.erasure.member_watch_data_erase),
so the analytics page, its CSV export, the playlist funnel and a full `rollups_rebuild` give the same
figures after the deletion as before, while no Cassandra row carries the member's id or email.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import zipfile
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.services import member_account_delete
from analytics.cassandra import cassandra_keyspace, cassandra_session
from analytics.drain import watch_batches_store
from analytics.erasure import ANONYMOUS_KEY
from analytics.rollups import rollups_refresh
from analytics.selectors import playlist_funnel_get, video_analytics_get
from analytics.stream import stream_client
from tests.analytics.rollup_oracle import day_start_ms, session_batches, today
from tests.conftest import CASSANDRA_DBS
from tests.factories import MemberFactory, PlaylistItemFactory, VideoFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)]


def figures(video_id: int) -> dict:
    """The selectors' output for a 7-day range, without the computation times (which move on)."""
    data = video_analytics_get(video_id=video_id, since=today() - timedelta(days=6), until=today())
    plain = dataclasses.asdict(data)
    plain.pop("as_of")
    for curve in ("retention", "range_retention"):
        if plain[curve]:
            plain[curve].pop("as_of")
    return plain | {"range_total": dataclasses.asdict(data.range_total)}


def export_rows(client: Client, video_id: int) -> list[list[str]]:
    response = client.get(reverse("analytics_admin:video-csv", args=[video_id]), {"range": "7"})
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return [
            row for name in sorted(archive.namelist()) for row in csv.reader(io.StringIO(archive.read(name).decode()))
        ]


def cassandra_rows_mentioning(*, user_id: int, email: str) -> list[tuple[str, object]]:
    """Every row of every table of the keyspace whose user_id is the member's or that holds the email."""
    session = cassandra_session()
    ks = cassandra_keyspace()
    tables = [
        r.table_name
        for r in session.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (ks,))
    ]
    found: list[tuple[str, object]] = []
    for table in tables:
        for row in session.execute(f"SELECT * FROM {ks}.{table}"):
            values = row._asdict()
            if ("user_id" in values and values["user_id"] == user_id) or email in repr(values):
                found.append((table, values))
    return found


def test_deleting_a_member_keeps_every_staff_figure_and_leaves_no_row_with_their_id():
    first, second = VideoFactory(duration=120), VideoFactory(duration=60)
    PlaylistItemFactory(playlist__title="Course", video=first, position=1)
    playlist = first.playlist_items.get().playlist
    PlaylistItemFactory(playlist=playlist, video=second, position=2)
    leaving, staying = MemberFactory.create(), MemberFactory.create()
    start, yesterday = day_start_ms(today()) + 3_600_000, day_start_ms(today() - timedelta(days=1)) + 3_600_000
    # The leaving member watched the first video on two days (one distinct member in the range), the
    # whole of it, then completed the second; the other member watched a part of the first only.
    watch_batches_store(batches=session_batches(leaving.pk, first.pk, list(range(70)), start_ms=yesterday))
    watch_batches_store(batches=session_batches(leaving.pk, first.pk, list(range(50, 120)), start_ms=start))
    watch_batches_store(batches=session_batches(leaving.pk, first.pk, list(range(30)), start_ms=start + 600_000))
    watch_batches_store(batches=session_batches(leaving.pk, second.pk, list(range(60)), start_ms=start + 900_000))
    watch_batches_store(batches=session_batches(staying.pk, first.pk, list(range(40)), start_ms=start))
    rollups_refresh()
    staff = Client()
    staff.force_login(MemberFactory.create(is_staff=True))
    durations: dict[int, int | None] = {first.pk: 120, second.pk: 60}

    before = {v.pk: figures(v.pk) for v in (first, second)}
    csv_before = {v.pk: export_rows(staff, v.pk) for v in (first, second)}
    funnel_before = playlist_funnel_get(
        video_ids=[first.pk, second.pk], durations=durations, since=today() - timedelta(days=6), until=today()
    )
    assert before[first.pk]["range_total"]["members"] == 2  # distinct, not 3 member-days
    assert before[first.pk]["range_total"]["completions"] == 1
    assert (funnel_before.entrants, funnel_before.completed_all) == (2, 1)
    email, leaving_id = leaving.email, leaving.pk  # the instance forgets its pk on delete

    member_account_delete(user=leaving)
    rollups_refresh()

    assert {v.pk: figures(v.pk) for v in (first, second)} == before
    assert {v.pk: export_rows(staff, v.pk) for v in (first, second)} == csv_before
    assert (
        playlist_funnel_get(
            video_ids=[first.pk, second.pk], durations=durations, since=today() - timedelta(days=6), until=today()
        )
        == funnel_before
    )
    assert cassandra_rows_mentioning(user_id=leaving_id, email=email) == []
    assert stream_client().get(ANONYMOUS_KEY.format(user_id=leaving_id)) is None  # no link left behind

    # A rebuild from the stored inputs (what an operator runs after a bad deploy) agrees too.
    call_command("rollups_rebuild", video=[first.pk, second.pk], days=5, verbosity=0)
    assert {v.pk: figures(v.pk) for v in (first, second)} == before
    assert {v.pk: export_rows(staff, v.pk) for v in (first, second)} == csv_before


def test_an_erasure_retried_after_a_failure_keeps_one_anonymous_member(monkeypatch):
    from analytics import erasure

    video = VideoFactory(duration=100)
    member = MemberFactory.create()
    for days_ago in (0, 1):
        watch_batches_store(
            batches=session_batches(
                member.pk, video.pk, list(range(40)), start_ms=day_start_ms(today() - timedelta(days=days_ago))
            )
        )
    rollups_refresh()
    before = figures(video.pk)
    real_run = erasure.cassandra_execute_all
    calls = {"n": 0}

    def failing_once(statements):
        calls["n"] += 1
        if calls["n"] == 2:  # after the re-keying, before the raw deletes and the index
            raise RuntimeError("node went away")
        return real_run(statements)

    monkeypatch.setattr(erasure, "cassandra_execute_all", failing_once)
    with pytest.raises(RuntimeError):
        erasure.member_watch_data_erase(user_id=member.pk)
    monkeypatch.setattr(erasure, "cassandra_execute_all", real_run)
    erasure.member_watch_data_erase(user_id=member.pk)
    rollups_refresh()

    after = figures(video.pk)
    assert after == before
    assert after["range_total"]["members"] == 1
    assert cassandra_rows_mentioning(user_id=member.pk, email=member.email) == []
