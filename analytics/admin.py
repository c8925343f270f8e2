"""Staff analytics pages in Django admin: a dashboard, one page per video, and a CSV export.

They are plain views wrapped in `admin.site.admin_view` (staff only; anyone else gets the admin
login) and mounted under /admin/analytics/ by config/urls.py. They read only rollup tables
(analytics.selectors), never raw events. Videos link here from their admin list and change page.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from analytics.charts import clock, daily_chart, retention_chart, sparkline
from analytics.selectors import VideoAnalytics, analytics_dashboard_get, video_analytics_get
from videos.selectors import video_staff_get, video_titles_in_bulk

RANGES = (("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"), ("custom", "Custom"))
MAX_RANGE_DAYS = 400
STALE_MINUTES = 5
FRESHNESS = "Rollups are recomputed every 15 seconds and trail the raw events by at most about a minute."


class RangeForm(forms.Form):
    range = forms.ChoiceField(choices=RANGES, required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = datetime.now(tz=UTC).date()
        choice = data.get("range") or "30"
        if choice == "custom":
            since, until = data.get("since"), data.get("until") or today
            if since is None:
                raise forms.ValidationError("A custom range needs a start date.")
            if since > until:
                raise forms.ValidationError("The start date is after the end date.")
            if (until - since).days >= MAX_RANGE_DAYS:
                raise forms.ValidationError(f"A range spans at most {MAX_RANGE_DAYS} days.")
        else:
            until = today
            since = today - timedelta(days=int(choice) - 1)
        data.update(range=choice, since=since, until=until)
        return data


def _range(request: HttpRequest) -> tuple[RangeForm, date, date]:
    form = RangeForm(request.GET or None)
    if form.is_bound and form.is_valid():
        return form, form.cleaned_data["since"], form.cleaned_data["until"]
    today = datetime.now(tz=UTC).date()
    return form, today - timedelta(days=29), today


def _video(video_id: int) -> Any:
    video = video_staff_get(video_id=video_id)
    if video is None:
        raise Http404("No such video")
    return video


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _duration(value: float | None) -> str:
    return "—" if value is None else clock(value)


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:,.1f} h"


def video_analytics_view(request: HttpRequest, video_id: int) -> TemplateResponse:
    video = _video(video_id)
    form, since, until = _range(request)
    data = video_analytics_get(video_id=video.pk, since=since, until=until)
    curve = data.retention
    duration = (curve.duration if curve else 0) or video.duration or 0
    shares = [curve.share(v) for v in curve.viewers] if curve else []
    buckets = [(b, curve.share(v)) for b, v in enumerate(curve.buckets)] if curve else []
    context = {
        **admin.site.each_context(request),
        "title": f"Analytics: {video.title}",
        "video": video,
        "data": data,
        "form": form,
        "since": since,
        "until": until,
        "freshness": FRESHNESS,
        "stale": _stale(data.as_of),
        "cards": _cards(data),
        "range_rows": _day_rows(data),
        "retention_svg": retention_chart(duration=duration, shares=shares, members=curve.members if curve else 0),
        "daily_svg": daily_chart(
            days=[d.day for d in data.days],
            views=[d.views for d in data.days],
            watch_seconds=[d.watch_seconds for d in data.days],
        ),
        "buckets": [(b, clock(b * duration / 100), f"{share:.1%}") for b, share in buckets],
        "query": request.GET.urlencode(),
    }
    return TemplateResponse(request, "analytics/admin/video.html", context)


def _stale(as_of: datetime | None) -> bool:
    # Beat runs every 15 s; minutes without a run mean the beat or the rollups worker is down.
    return as_of is not None and datetime.now(tz=UTC) - as_of > timedelta(minutes=STALE_MINUTES)


def _cards(data: VideoAnalytics) -> list[tuple[str, str, str]]:
    t, r = data.total, data.range_total
    return [
        ("Views", f"{t.views:,}", f"{r.views:,} in range"),
        ("Unique members", f"{t.members:,}", f"{r.members:,} member-days in range"),
        ("Watch time", _hours(t.watch_seconds), f"{_hours(r.watch_seconds)} in range"),
        ("Average per session", _duration(t.average_watch_per_session), _duration(r.average_watch_per_session)),
        ("Average per member", _duration(t.average_watch_per_member), "all time"),
        ("Completion rate", _percent(t.completion_rate), f"{t.completions:,} members completed"),
        ("Re-watched seconds", f"{t.rewatch_seconds:,}", f"{r.rewatch_seconds:,} in range"),
        ("Viewing sessions", f"{t.sessions:,}", f"{r.sessions:,} in range"),
    ]


def _day_rows(data: VideoAnalytics) -> list[dict[str, Any]]:
    return [
        {
            "day": d.day,
            "views": d.views,
            "members": d.members,
            "sessions": d.sessions,
            "watch": clock(d.watch_seconds),
            "average": _duration(d.average_watch_per_session),
            "completion": _percent(d.completion_rate),
            "rewatch": d.rewatch_seconds,
        }
        for d in reversed(data.days)
    ]


def video_analytics_csv(request: HttpRequest, video_id: int) -> HttpResponse:
    """One video's daily figures for the chosen range, then its all-time retention curve."""
    video = _video(video_id)
    _, since, until = _range(request)
    data = video_analytics_get(video_id=video.pk, since=since, until=until)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="video-{video.pk}-analytics-{since}-{until}.csv"'
    out = csv.writer(response)
    out.writerow(["# daily figures", f"video {video.pk}", f"as of {data.as_of.isoformat() if data.as_of else ''}"])
    out.writerow(
        [
            "day",
            "views",
            "unique_members",
            "sessions",
            "watch_seconds",
            "average_watch_seconds_per_session",
            "completions",
            "completion_rate",
            "rewatched_seconds",
        ]
    )
    for d in data.days:
        average = d.average_watch_per_session
        rate = d.completion_rate
        out.writerow(
            [
                d.day.isoformat(),
                d.views,
                d.members,
                d.sessions,
                d.watch_seconds,
                "" if average is None else f"{average:.1f}",
                d.completions,
                "" if rate is None else f"{rate:.4f}",
                d.rewatch_seconds,
            ]
        )
    out.writerow([])
    out.writerow(["# retention (all time)", f"{data.retention.members if data.retention else 0} viewers"])
    out.writerow(["kind", "index", "position_seconds", "viewers", "share"])
    if data.retention:
        curve = data.retention
        for b, count in enumerate(curve.buckets):
            out.writerow(["percent", b, b * curve.duration // 100, count, f"{curve.share(count):.4f}"])
        for s, count in enumerate(curve.viewers):
            out.writerow(["second", s, s, count, f"{curve.share(count):.4f}"])
    return response


def analytics_dashboard_view(request: HttpRequest) -> TemplateResponse:
    today = datetime.now(tz=UTC).date()
    dash = analytics_dashboard_get(today=today)
    ids = {row.video_id for rows in dash.top.values() for row in rows}
    titles = video_titles_in_bulk(video_ids=sorted(ids))
    tables = []
    for (window, metric), rows in sorted(dash.top.items()):
        tables.append(
            {
                "caption": f"Top videos, last {window} days, by {'views' if metric == 'views' else 'watch time'}",
                "rows": [
                    {
                        "rank": row.rank,
                        "video_id": row.video_id,
                        "title": titles.get(row.video_id, f"Video {row.video_id} (deleted)"),
                        "views": row.views,
                        "watch": _hours(row.watch_seconds),
                        "spark": sparkline(
                            values=dash.video_daily_views.get(row.video_id, [0] * len(dash.days)),
                            label=f"Views per day over the last {len(dash.days)} days",
                        ),
                    }
                    for row in rows
                ],
            }
        )
    context = {
        **admin.site.each_context(request),
        "title": "Watch analytics",
        "tables": tables,
        "as_of": dash.as_of,
        "freshness": FRESHNESS,
        "totals": [
            ("Views, last 7 days", f"{sum(dash.daily_views[-7:]):,}"),
            ("Views, last 30 days", f"{sum(dash.daily_views):,}"),
            ("Watch time, last 7 days", _hours(sum(dash.daily_watch_seconds[-7:]))),
            ("Watch time, last 30 days", _hours(sum(dash.daily_watch_seconds))),
            ("Videos watched, last 30 days", f"{len(dash.video_daily_views):,}"),
        ],
        "daily_svg": daily_chart(days=dash.days, views=dash.daily_views, watch_seconds=dash.daily_watch_seconds),
    }
    return TemplateResponse(request, "analytics/admin/dashboard.html", context)


def analytics_admin_urls() -> list[URLPattern]:
    """Mounted at /admin/analytics/ (namespace `analytics_admin`); staff only through admin_view."""
    site = admin.site
    return [
        path("", site.admin_view(analytics_dashboard_view), name="dashboard"),
        path("videos/<int:video_id>/", site.admin_view(video_analytics_view), name="video"),
        path("videos/<int:video_id>/export.csv", site.admin_view(video_analytics_csv), name="video-csv"),
    ]
