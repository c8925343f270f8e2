"""Staff analytics pages in Django admin: a dashboard, one page per video, and a CSV export.

They are plain views wrapped in `admin.site.admin_view` (staff only; anyone else gets the admin
login) and mounted under /admin/analytics/ by config/urls.py. They read only rollup tables
(analytics.selectors), never raw events. Videos link here from their admin list and change page.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cassandra import DriverException
from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.template.defaultfilters import pluralize, slugify
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from analytics.charts import daily_chart, retention_chart, sparkline
from analytics.rollups import VIEW_SECONDS
from analytics.selectors import (
    COMPLETION_SHARE,
    FUNNEL_MAX_DAYS,
    RetentionCurve,
    RollupFigures,
    VideoAnalytics,
    VideoProgress,
    analytics_dashboard_get,
    analytics_glance_get,
    playlist_funnel_get,
    video_analytics_get,
    video_last_titles_get,
    video_progress_map,
)
from billing.selectors import revenue_figures_get
from config.formatting import clock
from videos.selectors import (
    playlist_catalogue_list,
    playlist_video_list,
    video_durations_in_bulk,
    video_published_durations,
    video_staff_get,
    video_titles_in_bulk,
)

logger = logging.getLogger(__name__)

# A paying member who has watched nothing for this many days is listed as a churn risk.
CHURN_RISK_DAYS = 14

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


def _range_name(form: RangeForm) -> str:
    """ "Last 7 days" or "Custom range": what the page's headings call the chosen range."""
    choice = form.cleaned_data.get("range", "30") if form.is_bound and form.is_valid() else "30"
    return "Custom range" if choice == "custom" else dict(RANGES)[choice]


def _video(video_id: int) -> Any:
    video = video_staff_get(video_id=video_id)
    if video is None:
        raise Http404("No such video")
    return video


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _duration(value: float | None) -> str:
    return "—" if value is None else clock(value)


def counted(count: int, noun: str) -> str:
    """ "1 view", "2 views", "1,234 members": a count with its noun in the right number."""
    return f"{count:,} {noun}{pluralize(count)}"


def video_titles_with_deleted(*, video_ids: list[int]) -> dict[int, str]:
    """Each video's title; a deleted video's last title (kept in its rollup row by
    analytics.services.video_last_title_keep) marked "(deleted)". Only the ids the catalogue no
    longer has cost a Cassandra read (one partition row each)."""
    titles = video_titles_in_bulk(video_ids=video_ids)
    gone = [v for v in video_ids if v not in titles]
    kept = video_last_titles_get(video_ids=gone) if gone else {}
    for video_id in gone:
        last = kept.get(video_id)
        titles[video_id] = f"{last} (deleted)" if last else f"Video {video_id} (deleted)"
    return titles


def watch_time(seconds: float) -> str:
    """Watch time as h:mm:ss, hours unbounded (0:00:42, 1:02:03, 1234:05:06)."""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:,}:{minutes:02d}:{secs:02d}"


# What each figure means, shown on the pages: the rules of analytics.rollups (is_view, is_complete).
DEFINITIONS = (
    (
        "View",
        f"A viewing session that played at least {VIEW_SECONDS} distinct seconds "
        f"of the video, or at least half of its seconds (which only matters for videos shorter than "
        f"{2 * VIEW_SECONDS} s). A session counts on the UTC day it started, even when it runs past midnight.",
    ),
    (
        "Viewing session",
        "One load of the watch page by a confirmed member that played at least one second. A member starts "
        f"at most {settings.WATCH_SESSIONS_PER_VIDEO_PER_HOUR} sessions of a video in any 60 minutes: past "
        "that, loading the page again continues their latest session. A load that played nothing holds its "
        f"place only while its page could still play ({settings.WATCH_TOKEN_TTL_SECONDS // 60} minutes after "
        "the page was closed), so reloads alone never merge later plays.",
    ),
    (
        "Unique members",
        "Distinct confirmed members who played at least one second (members who have not confirmed their "
        "email address are not tracked). For a date range it is exact: a member who "
        "watched on several days of the range counts once (the daily table counts them on each day).",
    ),
    (
        "Watch time",
        "Seconds of the video played, counted once per session per second (h:mm:ss). Seconds a member "
        "played again in another session count again; dragging the slider plays nothing.",
    ),
    (
        "Completion",
        f"A member completed the video when the distinct seconds they played reach {COMPLETION_SHARE:.0%} of "
        "its duration (over the period shown: the day, the range or all time). Completion rate = members "
        "who completed / unique members.",
    ),
    (
        "Re-watched seconds",
        "Watch time minus the distinct seconds each member played: seconds members played more than once.",
    ),
    (
        "Retention",
        "For each second of the video, the share of the period's unique members who played it; each "
        "member counts once per second however often they played it.",
    ),
    (
        "All time",
        "Every day still within raw-event retention. Members who deleted their account stay in the "
        "figures as anonymous viewers, without anything that identifies them.",
    ),
)


def video_analytics_view(request: HttpRequest, video_id: int) -> TemplateResponse:
    video = _video(video_id)
    form, since, until = _range(request)
    data = video_analytics_get(video_id=video.pk, since=since, until=until)
    curve = data.retention
    duration = (curve.duration if curve else 0) or video.duration or 0
    ranged = data.range_retention
    range_label = f"{since:%-d %b %Y} \u2013 {until:%-d %b %Y}"
    range_buckets = [(b, ranged.share(v)) for b, v in enumerate(ranged.buckets)] if ranged else []
    duration_known = bool(video.duration)
    context = {
        **admin.site.each_context(request),
        "title": f"Analytics: {video.title}",
        "duration_known": duration_known,
        "range_name": _range_name(form),
        "video": video,
        "data": data,
        "form": form,
        "since": since,
        "until": until,
        "freshness": FRESHNESS,
        "stale": _stale(data.as_of),
        "cards": _cards(data, duration_known=duration_known),
        "range_rows": _day_rows(data, duration_known=duration_known),
        "definitions": DEFINITIONS,
        "range_label": range_label,
        "retention_svg": _retention_svg(ranged, duration=duration, period=range_label, cls="retention"),
        "alltime_svg": _retention_svg(curve, duration=duration, period="all time", cls="retention-alltime"),
        "daily_svg": daily_chart(
            days=[d.day for d in data.days],
            views=[d.views for d in data.days],
            watch_seconds=[d.watch_seconds for d in data.days],
        ),
        "buckets": [(b, clock(b * duration / 100), f"{share:.1%}") for b, share in range_buckets],
        "query": request.GET.urlencode(),
    }
    return TemplateResponse(request, "analytics/admin/video.html", context)


def _retention_svg(curve: RetentionCurve | None, *, duration: int, period: str, cls: str) -> str:
    step, viewers = curve.spans() if curve else (1, [])
    shares = [curve.share(v) for v in viewers] if curve else []
    members = curve.members if curve else 0
    return retention_chart(
        duration=duration,
        shares=shares,
        members=members,
        step=step,
        seconds=len(curve.viewers) if curve else None,
        period=period,
        cls=cls,
    )


def _stale(as_of: datetime | None) -> bool:
    # Beat runs every 15 s; minutes without a run mean the beat or the rollups worker is down.
    return as_of is not None and datetime.now(tz=UTC) - as_of > timedelta(minutes=STALE_MINUTES)


def _cards(data: VideoAnalytics, *, duration_known: bool) -> list[tuple[str, str, str, str]]:
    """(label, the chosen range's figure, a detail of it, the all-time figure beside it): the big
    number follows the range. Completion needs the video's duration: unknown, it says so instead
    of a 0 %."""
    r, t = data.range_total, data.total

    def rate(figures: RollupFigures) -> str:
        return _percent(figures.completion_rate) if duration_known else "duration unknown"

    def completed(figures: RollupFigures) -> str:
        return f"{counted(figures.completions, 'member')} completed" if duration_known else ""

    alltime_rate = f"{rate(t)} ({counted(t.completions, 'member')})" if duration_known else rate(t)
    return [
        ("Views", f"{r.views:,}", "", f"{t.views:,}"),
        ("Unique members", f"{r.members:,}", "", f"{t.members:,}"),
        ("Watch time", watch_time(r.watch_seconds), "", watch_time(t.watch_seconds)),
        ("Completion rate", rate(r), completed(r), alltime_rate),
        ("Average per member", _duration(r.average_watch_per_member), "", _duration(t.average_watch_per_member)),
        ("Average per session", _duration(r.average_watch_per_session), "", _duration(t.average_watch_per_session)),
        ("Viewing sessions", f"{r.sessions:,}", "", f"{t.sessions:,}"),
        ("Re-watched seconds", f"{r.rewatch_seconds:,}", "", f"{t.rewatch_seconds:,}"),
    ]


def _day_rows(data: VideoAnalytics, *, duration_known: bool) -> list[dict[str, Any]]:
    return [
        {
            "day": d.day,
            "views": d.views,
            "members": d.members,
            "sessions": d.sessions,
            "watch": watch_time(d.watch_seconds),
            "average": _duration(d.average_watch_per_session),
            "completion": _percent(d.completion_rate) if duration_known else "duration unknown",
            "rewatch": d.rewatch_seconds,
        }
        for d in reversed(data.days)
    ]


def video_analytics_csv(request: HttpRequest, video_id: int) -> HttpResponse:
    """The video page's tables for the chosen range, one CSV file each in a zip: daily figures, the
    range's totals beside all time, and both retention curves. Every row names the video by id and
    title, so files of several exports can be put together."""
    video = _video(video_id)
    _, since, until = _range(request)
    data = video_analytics_get(video_id=video.pk, since=since, until=until)
    named = [video.pk, video.title]
    files: dict[str, list[list[Any]]] = {}
    files["daily.csv"] = [
        [
            "video_id",
            "video_title",
            "day",
            "views",
            "unique_members",
            "sessions",
            "watch_seconds",
            "average_watch_seconds_per_session",
            "completions",
            "completion_rate",
            "rewatched_seconds",
        ],
        *[
            [
                *named,
                d.day.isoformat(),
                d.views,
                d.members,
                d.sessions,
                d.watch_seconds,
                _decimal(d.average_watch_per_session, 1),
                d.completions,
                _decimal(d.completion_rate, 4) if video.duration else "",
                d.rewatch_seconds,
            ]
            for d in data.days
        ],
    ]
    files["totals.csv"] = [
        [
            "video_id",
            "video_title",
            "period",
            "since",
            "until",
            "views",
            "unique_members",
            "sessions",
            "watch_seconds",
            "completions",
            "rewatched_seconds",
        ],
        *[
            [
                *named,
                period,
                first,
                last,
                f.views,
                f.members,
                f.sessions,
                f.watch_seconds,
                f.completions,
                f.rewatch_seconds,
            ]
            for period, first, last, f in (
                ("range", since.isoformat(), until.isoformat(), data.range_total),
                ("all_time", "", "", data.total),
            )
        ],
    ]
    for name, curve in (("retention-range.csv", data.range_retention), ("retention-all-time.csv", data.retention)):
        rows: list[list[Any]] = [["video_id", "video_title", "kind", "index", "position_seconds", "viewers", "share"]]
        if curve:
            for b, count in enumerate(curve.buckets):
                rows.append([*named, "percent", b, b * curve.duration // 100, count, f"{curve.share(count):.4f}"])
            step, viewers = curve.spans()
            # Past RETENTION_POINTS seconds a row is a span of `step` seconds, with its mean viewers.
            kind = "second" if step == 1 else f"span_of_{step}_seconds"
            for i, mean in enumerate(viewers):
                shown = int(mean) if step == 1 else f"{mean:.2f}"
                rows.append([*named, kind, i, i * step, shown, f"{curve.share(mean):.4f}"])
        files[name] = rows
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, rows in files.items():
            text = io.StringIO()
            csv.writer(text).writerows(rows)
            archive.writestr(name, text.getvalue())
    stem = f"{slugify(video.title)[:60] or 'video'}-{video.pk}-analytics-{since}-{until}"
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{stem}.zip"'
    return response


def _decimal(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


# The dashboard's own figure, before the video page's definitions (which it shares).
SITE_DEFINITIONS = (
    (
        "Videos watched",
        "Videos with at least one view or one second watched in the period, deleted videos included. "
        "Site-wide views and watch time are every video's own figures, summed.",
    ),
)


def analytics_dashboard_view(request: HttpRequest) -> TemplateResponse:
    """Site-wide figures for the chosen range (the video page's range picker), all time beside
    each; the daily chart and sparklines over the range; the top lists of the last 7 and 30 days."""
    form, since, until = _range(request)
    dash = analytics_dashboard_get(since=since, until=until)
    range_label = f"{since:%-d %b %Y} \u2013 {until:%-d %b %Y}"
    ids = {row.video_id for rows in dash.top.values() for row in rows}
    titles = video_titles_with_deleted(video_ids=sorted(ids))
    tables = []
    for (window, metric), rows in sorted(dash.top.items()):
        tables.append(
            {
                "caption": f"Top videos, last {window} days, by {'views' if metric == 'views' else 'watch time'}",
                "rows": [
                    {
                        "rank": row.rank,
                        "video_id": row.video_id,
                        "title": titles[row.video_id],
                        "views": row.views,
                        "watch": watch_time(row.watch_seconds),
                        "spark": sparkline(
                            values=dash.video_daily_views.get(row.video_id, [0] * len(dash.days)),
                            label=f"Views per day, {range_label}",
                        ),
                    }
                    for row in rows
                ],
            }
        )
    r, t = dash.range_total, dash.total
    context = {
        **admin.site.each_context(request),
        "title": "Watch analytics",
        "tables": tables,
        "as_of": dash.as_of,
        "freshness": FRESHNESS,
        "form": form,
        "since": since,
        "until": until,
        "range_name": _range_name(form),
        "range_label": range_label,
        # (label, the range's figure, a detail, all time): the video page's cards (_figures.html).
        "cards": [
            ("Views", f"{r.views:,}", "", f"{t.views:,}"),
            ("Watch time", watch_time(r.watch_seconds), "", watch_time(t.watch_seconds)),
            ("Videos watched", f"{r.videos:,}", "", f"{t.videos:,}"),
        ],
        "daily_svg": daily_chart(days=dash.days, views=dash.daily_views, watch_seconds=dash.daily_watch_seconds),
        "definitions": (*SITE_DEFINITIONS, *DEFINITIONS),
        "playlists": list(playlist_catalogue_list().order_by("title", "id")),
    }
    return TemplateResponse(request, "analytics/admin/dashboard.html", context)


def playlist_funnel_view(request: HttpRequest, playlist_id: int) -> TemplateResponse:
    """Of the members who started any video of a published playlist in the chosen range, how many
    started and completed each video (counted by video, so reordering never changes a figure)."""
    playlist = playlist_catalogue_list().filter(pk=playlist_id).first()
    if playlist is None:
        raise Http404("No such published playlist")
    form, since, until = _range(request)
    if (until - since).days + 1 > FUNNEL_MAX_DAYS:
        form.add_error(None, f"A playlist funnel spans at most {FUNNEL_MAX_DAYS} days.")
        since, until = until - timedelta(days=29), until
    videos = playlist_video_list(playlist=playlist)
    ids = [v.pk for v in videos]
    durations = video_durations_in_bulk(video_ids=ids)
    funnel = playlist_funnel_get(video_ids=ids, durations=durations, since=since, until=until)
    titles = {v.pk: v.title for v in videos}

    def share(count: int) -> str:
        return _percent(count / funnel.entrants if funnel.entrants else None)

    context = {
        **admin.site.each_context(request),
        "title": f"Playlist funnel: {playlist.title}",
        "playlist": playlist,
        "funnel": funnel,
        "form": form,
        "since": since,
        "until": until,
        "range_name": _range_name(form) if not form.errors else "Last 30 days",
        "entrants": counted(funnel.entrants, "member"),
        "steps": [
            {
                "position": i,
                "video_id": step.video_id,
                "title": titles.get(step.video_id, f"Video {step.video_id}"),
                "started": step.started,
                "started_share": share(step.started),
                "completed": step.completed if durations.get(step.video_id) else None,
                "completed_share": share(step.completed) if durations.get(step.video_id) else "duration unknown",
            }
            for i, step in enumerate(funnel.steps, start=1)
        ],
        "completed_all_share": share(funnel.completed_all) if funnel.completed_all is not None else "—",
        "completion_share": f"{COMPLETION_SHARE:.0%}",
        "query": request.GET.urlencode(),
    }
    return TemplateResponse(request, "analytics/admin/playlist.html", context)


def students_admin_urls() -> list[URLPattern]:
    """The students report (analytics/admin_students.py), under the same namespace and login."""
    from analytics.admin_students import course_students_csv, course_students_view

    site = admin.site
    return [
        path("courses/<int:playlist_id>/students/", site.admin_view(course_students_view), name="students"),
        path("courses/<int:playlist_id>/students.csv", site.admin_view(course_students_csv), name="students-csv"),
    ]


REVENUE_DEFINITIONS = (
    (
        "Active subscribers",
        "Members whose subscription opens its plan now: active or trialing, past_due within the "
        "grace period, canceled or unpaid before the paid period's end; a refund or a dispute ends it.",
    ),
    (
        "MRR",
        "Monthly recurring revenue: the plan price of every subscriber with access who is not in a trial, "
        "yearly plans divided by 12, per currency, before coupons and taxes (those are Stripe's).",
    ),
    ("New", "Subscriptions created on that UTC day (as Stripe's webhook reached us)."),
    (
        "Churned",
        "Subscriptions that ended on that UTC day: the paid period's end of a canceled or unpaid one, or "
        "the moment a refund or a dispute removed access.",
    ),
    ("Trial conversion", "Of the subscriptions whose trial has ended, the share that became active (paid)."),
    (
        "Watch time by plan",
        "Distinct seconds of published videos watched, all time, by the members paying for "
        "each plan now (their progress rows; a member with two plans counts once, under the first).",
    ),
    (
        "Churn risk",
        f"Members paying now who have not watched anything for {CHURN_RISK_DAYS} days, with the last "
        "video they watched (at most the first 500 paying members are read).",
    ),
)


def revenue_view(request: HttpRequest) -> TemplateResponse:
    """Revenue beside watching: subscribers, MRR, new and churned per day, trial conversion, watch
    time by plan and the paying members at risk (no watching for CHURN_RISK_DAYS)."""
    today = datetime.now(tz=UTC).date()
    figures = revenue_figures_get(today=today)
    durations = video_published_durations()
    cutoff = datetime.now(tz=UTC) - timedelta(days=CHURN_RISK_DAYS)
    watch_by_plan: dict[str, int] = {}
    at_risk: list[tuple[str, str, VideoProgress | None]] = []
    unavailable = False
    for user_id, (plan_name, email) in list(figures.paying_members.items())[:500]:
        try:
            progress = video_progress_map(user_id=user_id, durations=durations)
        except DriverException:
            unavailable = True
            break
        watch_by_plan[plan_name] = watch_by_plan.get(plan_name, 0) + sum(p.watched_seconds for p in progress.values())
        watched = [p for p in progress.values() if p.last_watched is not None]
        last = max(watched, key=lambda p: p.last_watched or cutoff, default=None)
        if last is None or last.last_watched is None or last.last_watched < cutoff:
            at_risk.append((email, plan_name, last))
    titles = video_titles_in_bulk(video_ids=sorted({last.video_id for _, _, last in at_risk if last}))
    ended, converted = figures.trials_ended, figures.trials_converted
    context = {
        **admin.site.each_context(request),
        "title": "Revenue and watching",
        "totals": [
            ("Active subscribers", f"{sum(n for _, n in figures.subscribers_by_plan):,}"),
            *[
                (f"MRR ({currency.upper()})", f"{amount / 100:,.2f}")
                for currency, amount in figures.mrr_by_currency.items()
            ],
            ("New, last 30 days", f"{sum(figures.new_per_day):,}"),
            ("Churned, last 30 days", f"{sum(figures.churned_per_day):,}"),
            ("Trial conversion", _percent(converted / ended if ended else None)),
        ],
        "by_plan": [
            {"plan": name, "subscribers": n, "watch": watch_time(watch_by_plan.get(name, 0))}
            for name, n in figures.subscribers_by_plan
        ],
        "daily": [
            {"day": day, "new": new, "churned": gone}
            for day, new, gone in zip(figures.days, figures.new_per_day, figures.churned_per_day, strict=True)
        ],
        "at_risk": [
            {
                "email": email,
                "plan": plan_name,
                "video": titles.get(last.video_id, "") if last else "",
                "video_id": last.video_id if last else None,
                "when": last.last_watched if last else None,
            }
            for email, plan_name, last in at_risk
        ],
        "unavailable": unavailable,
        "churn_days": CHURN_RISK_DAYS,
        "definitions": REVENUE_DEFINITIONS,
    }
    return TemplateResponse(request, "analytics/admin/revenue.html", context)


def analytics_admin_urls() -> list[URLPattern]:
    """Mounted at /admin/analytics/ (namespace `analytics_admin`); staff only through admin_view."""
    site = admin.site
    return [
        path("", site.admin_view(analytics_dashboard_view), name="dashboard"),
        path("videos/<int:video_id>/", site.admin_view(video_analytics_view), name="video"),
        path("videos/<int:video_id>/export.zip", site.admin_view(video_analytics_csv), name="video-csv"),
        path("playlists/<int:playlist_id>/", site.admin_view(playlist_funnel_view), name="playlist"),
        *students_admin_urls(),
        path("revenue/", site.admin_view(revenue_view), name="revenue"),
    ]


def analytics_glance_card(request: HttpRequest) -> str:
    """The admin index's "Watch analytics" card (config.admin_cards): top videos and site-wide
    views and watch time of the last 7 days (8 rollup partition reads).

    Cassandra being down must not take the admin index with it: the card then says so.
    """
    try:
        glance = analytics_glance_get(today=datetime.now(tz=UTC).date())
    except (DriverException, OSError):
        logger.warning("admin index: analytics card unavailable", exc_info=True)
        return render_to_string("analytics/admin/_glance.html", {"unavailable": True}, request=request)
    titles = video_titles_with_deleted(video_ids=[row.video_id for row in glance.top])
    context = {
        "unavailable": False,
        "view_seconds": VIEW_SECONDS,
        "views": f"{glance.views:,}",
        "watch": watch_time(glance.watch_seconds),
        "as_of": glance.as_of,
        "top": [
            {
                "video_id": row.video_id,
                "title": titles[row.video_id],
                "views": counted(row.views, "view"),
                "watch": watch_time(row.watch_seconds),
            }
            for row in glance.top
        ],
    }
    return render_to_string("analytics/admin/_glance.html", context, request=request)
