"""Staff analytics in Django admin: staff only, figures from the rollups, two SVG charts, CSV export."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from analytics.cassandra import cassandra_keyspace, cassandra_session
from analytics.drain import watch_batches_store
from analytics.rollups import rollups_refresh
from tests.analytics.rollup_oracle import day_start_ms, session_batches, today
from tests.conftest import CASSANDRA_DBS
from tests.factories import MemberFactory, VideoFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)]


@pytest.fixture
def watched_video():
    video = VideoFactory(duration=120, title="Knife skills", is_published=False)
    start = day_start_ms(today()) + 1000
    watch_batches_store(batches=session_batches(1, video.pk, list(range(120)), start_ms=start))
    watch_batches_store(batches=session_batches(2, video.pk, list(range(30)), start_ms=start))
    watch_batches_store(batches=session_batches(2, video.pk, list(range(20)), start_ms=start + 60_000))
    yesterday = day_start_ms(today() - timedelta(days=1))
    watch_batches_store(batches=session_batches(3, video.pk, list(range(5)), start_ms=yesterday))
    rollups_refresh()
    return video


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(MemberFactory.create(is_staff=True))
    return client


def analytics_urls(video_id: int) -> list[str]:
    return [
        reverse("analytics_admin:dashboard"),
        reverse("analytics_admin:video", args=[video_id]),
        reverse("analytics_admin:video", args=[video_id]) + "?range=7",
        reverse("analytics_admin:video-csv", args=[video_id]),
    ]


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_non_staff_get_the_admin_login_for_every_analytics_page_and_the_export(who):
    client = Client()
    if who == "member":
        client.force_login(MemberFactory.create())
    video = VideoFactory()
    for url in analytics_urls(video.pk):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url


def test_the_video_page_shows_exact_figures_both_charts_and_when_they_were_computed(staff_client, watched_video):
    response = staff_client.get(reverse("analytics_admin:video", args=[watched_video.pk]) + "?range=7")

    assert response.status_code == 200
    html = response.content.decode()
    cards = {label: value for label, value, *_ in response.context["cards"]}
    # Sessions: 120 s, 30 s, 20 s today and 5 s yesterday; views need 10 s (the video is 120 s).
    assert cards["Views"] == "3"
    assert cards["Unique members"] == "3"
    assert cards["Viewing sessions"] == "4"
    assert cards["Completion rate"] == "33.3%"  # member 1 of 3 covered ≥ 90 %
    assert "<strong>33.3%</strong><span>1 member completed</span><span>All time: 33.3% (1 member)</span>" in html
    assert cards["Re-watched seconds"] == "20"  # member 2 watched 0-19 twice
    assert 'class="wp-chart daily"' in html
    assert 'class="wp-chart retention"' in html
    assert '<title id="retention-t">' in html
    assert "Figures as of" in html
    assert html.count('<tr><th scope="row">') >= 7 + 100  # a row per day and per 1 % bucket
    # A 120 s video keeps one point a second in both retention charts.
    assert chart_points(html, "retention") == 120
    assert chart_points(html, "retention-alltime") == 120


def chart_points(html: str, cls: str) -> int:
    """How many points the retention chart of class `cls` draws."""
    svg = html.split(f'class="wp-chart {cls}"', 1)[1].split("</svg>", 1)[0]
    found = re.search(r'<polyline points="([^"]*)"', svg)
    assert found is not None, f"no curve in the {cls} chart"
    return len(found.group(1).split())


def test_a_video_of_unknown_length_watched_to_a_day_in_gets_a_bounded_chart_and_csv(staff_client):
    # Whatever positions were stored (a client's 86,400 s on a video of unknown duration), the
    # staff page draws and exports at most RETENTION_POINTS points a curve, not one a second.
    from analytics.selectors import RETENTION_POINTS

    video = VideoFactory(duration=None, title="Endless stream")
    start = day_start_ms(today()) + 1000
    positions = [*range(0, 600), *range(600, 86_400, 300), 86_400]
    watch_batches_store(batches=session_batches(1, video.pk, positions, start_ms=start))
    watch_batches_store(batches=session_batches(2, video.pk, list(range(300)), start_ms=start))
    rollups_refresh()

    response = staff_client.get(reverse("analytics_admin:video", args=[video.pk]) + "?range=7")
    assert response.status_code == 200
    html = response.content.decode()
    assert 0 < chart_points(html, "retention") <= RETENTION_POINTS
    assert 0 < chart_points(html, "retention-alltime") <= RETENTION_POINTS
    assert len(response.content) < 200_000  # was 4 MiB
    assert "24:00:00" in html  # the time axis still spans the whole day

    assert "Duration unknown" in html
    cards = {label: (value, alltime) for label, value, _, alltime in response.context["cards"]}
    assert cards["Completion rate"] == ("duration unknown", "duration unknown")  # not a 0 % as if known

    response = staff_client.get(reverse("analytics_admin:video-csv", args=[video.pk]), {"range": "7"})
    assert response.status_code == 200
    tables = export_tables(response)
    assert len(response.content) < 100_000  # was 5.4 MiB
    for name in ("retention-range.csv", "retention-all-time.csv"):
        spans = [r for r in tables[name][1:] if r[2].startswith("span_of_")]
        assert 0 < len(spans) <= RETENTION_POINTS, name
        # Each row is a span of seconds: its start, and the mean viewers over it (both at 0, 1 later).
        first, last = spans[0], spans[-1]
        assert first[4] == "0"
        assert float(first[5]) == 2.0
        assert int(last[4]) <= 86_400 < int(last[4]) + 86_400 // RETENTION_POINTS + 1
    assert {r[9] for r in tables["daily.csv"][1:]} == {""}  # no completion rate without a duration


def export_tables(response) -> dict[str, list[list[str]]]:
    """The export's zip: file name -> its CSV rows."""
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: list(csv.reader(io.StringIO(archive.read(name).decode()))) for name in archive.namelist()}


def test_the_video_page_refuses_a_backwards_custom_range_and_falls_back_to_30_days(staff_client, watched_video):
    url = reverse("analytics_admin:video", args=[watched_video.pk])
    response = staff_client.get(url, {"range": "custom", "since": "2026-01-10", "until": "2026-01-01"})

    assert response.status_code == 200
    assert "The start date is after the end date." in response.content.decode()
    assert len(response.context["data"].days) == 30


def test_the_export_is_a_zip_of_one_csv_per_table_each_naming_the_video(staff_client, watched_video):
    response = staff_client.get(reverse("analytics_admin:video-csv", args=[watched_video.pk]), {"range": "7"})

    assert response.status_code == 200
    assert f'filename="knife-skills-{watched_video.pk}-analytics-' in response["Content-Disposition"]
    tables = export_tables(response)
    assert sorted(tables) == ["daily.csv", "retention-all-time.csv", "retention-range.csv", "totals.csv"]
    for rows in tables.values():
        assert rows[0][:2] == ["video_id", "video_title"]
        assert {tuple(r[:2]) for r in rows[1:]} == {(str(watched_video.pk), "Knife skills")}
    daily = {r[2]: r for r in tables["daily.csv"][1:]}
    assert len(daily) == 7
    assert daily[today().isoformat()][3:7] == ["3", "2", "3", "170"]
    totals = {r[2]: r[5:] for r in tables["totals.csv"][1:]}
    assert totals == {"range": ["3", "3", "4", "175", "1", "20"], "all_time": ["3", "3", "4", "175", "1", "20"]}
    rows = tables["retention-all-time.csv"][1:]
    percents = [r for r in rows if r[2] == "percent"]
    seconds = [r for r in rows if r[2] == "second"]
    assert len(percents) == 100
    assert len(seconds) == 120
    assert seconds[0][5:] == ["3", "1.0000"]  # all three members watched second 0
    assert seconds[119][5:] == ["1", "0.3333"]


def test_the_dashboard_lists_top_videos_with_a_sparkline_each(staff_client, watched_video):
    response = staff_client.get(reverse("analytics_admin:dashboard"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Knife skills" in html
    assert html.count('class="wp-sparkline"') >= 4  # one per row of each of the four top tables
    assert "Top videos, last 7 days, by views" in html


def test_the_video_admin_links_to_the_analytics_page_from_the_list_and_the_change_page(staff_client, watched_video):
    staff = MemberFactory(is_staff=True, is_superuser=True)
    staff_client.force_login(staff)
    target = reverse("analytics_admin:video", args=[watched_video.pk])

    listing = staff_client.get(reverse("admin:videos_video_changelist"))
    change = staff_client.get(reverse("admin:videos_video_change", args=[watched_video.pk]))

    assert f'href="{target}"' in listing.content.decode()
    assert f'href="{target}"' in change.content.decode()


def test_the_video_page_warns_when_the_rollup_job_has_not_run_for_minutes(staff_client, watched_video):
    session = cassandra_session()
    ks = cassandra_keyspace()
    an_hour_ago = datetime.now(tz=UTC) - timedelta(hours=1)
    session.execute(f"UPDATE {ks}.rollup_checkpoints SET updated_at = %s WHERE name = 'rollups'", (an_hour_ago,))
    session.execute(
        f"UPDATE {ks}.video_rollups SET total_as_of = %s WHERE video_id = %s", (an_hour_ago, watched_video.pk)
    )

    html = staff_client.get(reverse("analytics_admin:video", args=[watched_video.pk])).content.decode()

    assert "seems not to be running" in html
    assert f'Figures as of <time datetime="{an_hour_ago:%Y-%m-%dT%H:%M:%S}' in html


def test_range_members_are_distinct_and_the_range_retention_covers_only_the_range(staff_client):
    from analytics.selectors import video_analytics_get
    from tests.analytics.rollup_oracle import brute_force, recent_days

    video = VideoFactory(duration=100)
    # Member 11 watches on three days, member 12 on one; a 2-day range holds 11 twice and 12 once.
    for days_ago, start in ((0, 0), (1, 20), (5, 60)):
        at = day_start_ms(today() - timedelta(days=days_ago)) + 1000
        watch_batches_store(batches=session_batches(11, video.pk, list(range(start, start + 40)), start_ms=at))
    watch_batches_store(batches=session_batches(12, video.pk, list(range(100)), start_ms=day_start_ms(today())))
    rollups_refresh()

    data = video_analytics_get(video_id=video.pk, since=today() - timedelta(days=1), until=today())

    assert sum(d.members for d in data.days) == 3  # member-days
    assert data.range_total.members == 2  # distinct members
    assert data.range_total.completions == 1  # 11 covered 0-59 in the range: 60 % < 90 %
    assert data.range_total.rewatch_seconds == 20  # 11 watched 20-39 on both days
    curve = data.range_retention
    assert curve is not None
    assert curve.viewers == [2] * 60 + [1] * 40
    assert data.total.members == 2  # all time: 11 also watched 60-99 five days ago
    # The all-time curve's rule applied to the range's days only: the oracle over those two days.
    expected = brute_force(video_id=video.pk, duration=100, user_ids=[11, 12], days=recent_days(2))
    cover = {11: set(range(60)), 12: set(range(100))}
    assert curve.buckets == [sum(1 for c in cover.values() if b in c) for b in range(100)]
    assert expected["days"][today()]["members"] == 2

    # The big numbers follow the chosen range; all time stands beside each.
    since = (today() - timedelta(days=1)).isoformat()
    url = reverse("analytics_admin:video", args=[video.pk])
    response = staff_client.get(url, {"range": "custom", "since": since, "until": today().isoformat()})
    html = response.content.decode()
    cards = {label: (value, alltime) for label, value, _, alltime in response.context["cards"]}
    assert cards["Views"] == ("3", "4")
    assert cards["Unique members"] == ("2", "2")
    assert cards["Completion rate"] == ("50.0%", "100.0% (2 members)")
    assert "<strong>3</strong><span>All time: 4</span>" in html
    assert '<h2 id="figures-h">Custom range' in html
    assert "What the figures mean" in html
    assert "at least 10 distinct seconds" in html


def test_watch_time_is_shown_as_hours_minutes_seconds(staff_client, watched_video):
    html = staff_client.get(reverse("analytics_admin:video", args=[watched_video.pk]) + "?range=7").content.decode()
    cards = {
        label: value
        for label, value, *_ in staff_client.get(reverse("analytics_admin:video", args=[watched_video.pk])).context[
            "cards"
        ]
    }

    assert cards["Watch time"] == "0:02:55"  # 120 + 30 + 20 + 5 seconds
    assert " h<" not in html


def test_the_admin_index_has_an_analytics_card_linking_to_the_dashboard(watched_video):
    client = Client()
    client.force_login(MemberFactory.create(is_staff=True, is_superuser=True))

    response = client.get(reverse("admin:index"))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="analytics-glance"' in html
    assert f'href="{reverse("analytics_admin:dashboard")}"' in html
    assert "Knife skills" in html  # the top video of the last 7 days
    assert "0:02:55" in html  # the 7 days' watch time


def test_the_playlist_funnel_counts_members_who_started_any_video_by_video_and_over_a_range(staff_client):
    from tests.factories import PlaylistFactory, PlaylistItemFactory
    from videos.models import PlaylistItem

    playlist = PlaylistFactory(title="Bread course")
    one, two, three = (VideoFactory(duration=50, title=f"Part {n}") for n in (1, 2, 3))
    items = [PlaylistItemFactory(playlist=playlist, video=v, position=p) for p, v in enumerate((one, two, three))]
    start = day_start_ms(today()) + 1000
    for member in (21, 22, 23):
        watch_batches_store(batches=session_batches(member, one.pk, list(range(50)), start_ms=start))
    watch_batches_store(batches=session_batches(21, two.pk, list(range(50)), start_ms=start))
    watch_batches_store(batches=session_batches(22, two.pk, list(range(10)), start_ms=start))
    watch_batches_store(batches=session_batches(21, three.pk, list(range(46)), start_ms=start))
    watch_batches_store(batches=session_batches(24, three.pk, list(range(50)), start_ms=start))  # skipped part 1
    # Ten days ago: outside "Last 7 days", inside "Last 30 days".
    old = day_start_ms(today() - timedelta(days=10)) + 1000
    watch_batches_store(batches=session_batches(25, two.pk, list(range(50)), start_ms=old))
    rollups_refresh()
    url = reverse("analytics_admin:playlist", args=[playlist.pk])

    def figures(range_: str) -> tuple[int, dict[int, tuple[int, int]], int | None]:
        funnel = staff_client.get(url, {"range": range_}).context["funnel"]
        return funnel.entrants, {s.video_id: (s.started, s.completed) for s in funnel.steps}, funnel.completed_all

    week = figures("7")
    # Member 24 started with part 3: they count (the "40 s of item 3 showed as 0 started").
    assert week == (4, {one.pk: (3, 3), two.pk: (2, 1), three.pk: (2, 2)}, 1)
    assert figures("30") == (5, {one.pk: (3, 3), two.pk: (3, 2), three.pk: (2, 2)}, 1)

    # Reordering the playlist moves the rows and changes no figure.
    for item, new_position in zip(items, (2, 0, 1), strict=True):
        stored = PlaylistItem.objects.get(pk=item.pk)
        stored.position = new_position
        stored.save()
    response = staff_client.get(url, {"range": "7"})
    assert [s.video_id for s in response.context["funnel"].steps] == [two.pk, three.pk, one.pk]
    assert figures("7") == week
    html = response.content.decode()
    assert "Last 7 days" in html
    assert "4 members played any of its videos" in html
    assert "Bread course" in staff_client.get(reverse("analytics_admin:dashboard")).content.decode()


def test_the_staff_pages_name_a_deleted_video_by_its_last_title(staff_client, watched_video):
    video_id = watched_video.pk
    watched_video.title = "Knife skills, part 1"  # renamed after its last rollup
    watched_video.save()

    watched_video.delete()

    dashboard = staff_client.get(reverse("analytics_admin:dashboard")).content.decode()
    assert "Knife skills, part 1 (deleted)" in dashboard
    assert f"Video {video_id} (deleted)" not in dashboard
    client = Client()
    client.force_login(MemberFactory.create(is_staff=True, is_superuser=True))
    assert "Knife skills, part 1 (deleted)" in client.get(reverse("admin:index")).content.decode()


def test_the_member_data_export_names_a_deleted_video_by_its_last_title(watched_video):
    from analytics.selectors import member_watch_data_export

    video_id = watched_video.pk
    watched_video.delete()

    exported = member_watch_data_export(user_id=1)

    for entry in (exported["videos"][0], exported["history"][0]):
        assert (entry["video_id"], entry["title"], entry["url"]) == (video_id, "Knife skills", None)


def test_the_admin_index_card_writes_one_view_and_two_views(staff_client):
    one, two = VideoFactory(duration=60, title="Solo"), VideoFactory(duration=60, title="Duo")
    start = day_start_ms(today()) + 1000
    watch_batches_store(batches=session_batches(41, one.pk, list(range(20)), start_ms=start))
    for member in (41, 42):
        watch_batches_store(batches=session_batches(member, two.pk, list(range(20)), start_ms=start))
    rollups_refresh()
    client = Client()
    client.force_login(MemberFactory.create(is_staff=True, is_superuser=True))

    html = client.get(reverse("admin:index")).content.decode()

    card = html.split('id="analytics-glance"', 1)[1].split("</table>", 1)[0]
    assert "<td>1 view</td>" in card
    assert "<td>2 views</td>" in card
    assert "1 views" not in card


def test_the_member_data_export_names_each_video_with_its_title_and_page():
    from analytics.selectors import member_watch_data_export

    video = VideoFactory(title="Knife skills", slug="knife-skills")
    watch_batches_store(batches=session_batches(31, video.pk, list(range(5)), start_ms=day_start_ms(today())))

    exported = member_watch_data_export(user_id=31)

    for entry in (exported["videos"][0], exported["history"][0]):
        assert entry["title"] == "Knife skills"
        assert entry["url"] == video.get_absolute_url()


def test_the_dashboard_figures_follow_the_chosen_range_with_all_time_beside_them(staff_client):
    # Site-wide sums: nothing another test rolled up may count (this test's tables are flushed after it).
    for table in ("video_rollups", "day_videos"):
        cassandra_session().execute(f"TRUNCATE {cassandra_keyspace()}.{table}")
    recent, old = VideoFactory(duration=100, title="Recent"), VideoFactory(duration=100, title="Old")
    now = day_start_ms(today()) + 1000
    watch_batches_store(batches=session_batches(31, recent.pk, list(range(50)), start_ms=now))
    watch_batches_store(batches=session_batches(32, recent.pk, list(range(30)), start_ms=now))
    twenty_days_ago = today() - timedelta(days=20)
    watch_batches_store(
        batches=session_batches(33, old.pk, list(range(100)), start_ms=day_start_ms(twenty_days_ago) + 1000)
    )
    rollups_refresh()
    url = reverse("analytics_admin:dashboard")

    def figures(query: dict[str, str]) -> tuple[dict[str, tuple[str, str]], str]:
        response = staff_client.get(url, query)
        assert response.status_code == 200
        cards = {label: (value, alltime) for label, value, _, alltime in response.context["cards"]}
        return cards, response.content.decode()

    week, html = figures({"range": "7"})
    assert week == {"Views": ("2", "3"), "Watch time": ("0:01:20", "0:03:00"), "Videos watched": ("1", "2")}
    assert '<h2 id="figures-h">Last 7 days' in html
    assert "<strong>2</strong><span>All time: 3</span>" in html
    assert 'name="range" value="7" checked' in html  # the video page's picker, the choice kept
    assert "Videos watched</dt><dd>Videos with at least one view" in html  # defined beside the others
    assert "at least 10 distinct seconds" in html

    month, html = figures({})  # no choice: the last 30 days, as on the video page
    assert month == {"Views": ("3", "3"), "Watch time": ("0:03:00", "0:03:00"), "Videos watched": ("2", "2")}
    assert '<h2 id="figures-h">Last 30 days' in html

    day = twenty_days_ago.isoformat()
    only_then, html = figures({"range": "custom", "since": day, "until": day})
    assert only_then == {"Views": ("1", "3"), "Watch time": ("0:01:40", "0:03:00"), "Videos watched": ("1", "2")}
    assert "Custom range" in html

    # A bad range says so and shows the last 30 days, as the video page does.
    refused, html = figures({"range": "custom", "since": day, "until": "2000-01-01"})
    assert refused == month
    assert "The start date is after the end date." in html
