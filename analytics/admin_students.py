"""The staff students report (a course's members and their progress) and its streamed CSV.

Staff only (mounted by analytics.admin.analytics_admin_urls inside `admin_view`). Reads come from
analytics.students (course_members / course_member_order): one slice and one row read per page.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cassandra import DriverException
from django import forms
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from analytics.admin import watch_time
from analytics.selectors import COMPLETION_SHARE
from analytics.students import (
    COMPLETED,
    FILTERS,
    IN_PROGRESS,
    INACTIVE,
    INACTIVE_DAYS,
    NOT_STARTED,
    STARTED,
    course_students_csv_rows,
    course_students_page,
    member_courses_get,
)
from videos.selectors import (
    playlist_staff_get,
    playlist_titles_in_bulk,
    playlist_video_ids_get,
    video_titles_in_bulk,
)

logger = logging.getLogger(__name__)

FILTER_LABELS = {
    STARTED: "Everyone who started",
    IN_PROGRESS: "In progress",
    COMPLETED: "Completed",
    INACTIVE: f"Inactive {INACTIVE_DAYS} days",
    NOT_STARTED: "Not started",
}
SORT_LABELS = {"last": "Last watched", "percent": "% complete", "watch": "Watch time"}
PAGE_SIZE = 50
# "Previous page" reads the previous page again from the cursor it started at, so it is exactly that
# page for every filter and sort (a "not started" page ends where a bounded scan stopped, which no
# backward read could find): each page's URL carries the starting cursors of the pages before it
# (`back`), oldest first. Past MAX_TRAIL pages the oldest are dropped (the URL stays well under
# nginx's 8 KB request line) and the trail starts with TRAIL_CUT: that far back, only "First page".
MAX_TRAIL = 150
TRAIL_CUT = "x"
CURSOR = r"-?\d{1,19}(\.\d{1,19})?"


class StudentsQuery(forms.Form):
    status = forms.ChoiceField(choices=[(f, FILTER_LABELS[f]) for f in FILTERS], required=False)
    sort = forms.ChoiceField(choices=list(SORT_LABELS.items()), required=False)
    dir = forms.ChoiceField(choices=[("desc", "descending"), ("asc", "ascending")], required=False)
    after = forms.RegexField(regex=rf"^{CURSOR}$", required=False, max_length=40)
    back = forms.RegexField(
        regex=rf"^({TRAIL_CUT}|{CURSOR})(,{CURSOR})*$", required=False, max_length=40 * (MAX_TRAIL + 1)
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def _playlist(playlist_id: int) -> Any:
    playlist = playlist_staff_get(playlist_id=playlist_id)
    if playlist is None:
        raise Http404("No such playlist")
    return playlist


def course_students_view(request: HttpRequest, playlist_id: int) -> HttpResponse:
    """Who started the course and how far they got: filter, sort, next page by cursor."""
    playlist = _playlist(playlist_id)
    query = StudentsQuery(request.GET)
    if not query.is_valid():
        fields = ", ".join(f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in query.errors.items())
        return HttpResponseBadRequest(f"Bad report parameters ({fields})", content_type="text/plain")
    status = query.cleaned_data["status"] or STARTED
    sort = query.cleaned_data["sort"] or "last"
    descending = (query.cleaned_data["dir"] or "desc") == "desc"
    try:
        page = course_students_page(
            playlist_id=playlist.pk,
            status=status,
            sort=sort,
            descending=descending,
            cursor=query.cleaned_data["after"] or None,
            limit=PAGE_SIZE,
        )
    except ValueError:
        return HttpResponseBadRequest("Bad report cursor", content_type="text/plain")
    now = datetime.now(tz=UTC)
    base = {"status": status, "sort": sort, "dir": "desc" if descending else "asc"}
    # One reverse() for the page, not one per row: the rows' cells are plain strings for the template.
    member_url = reverse("admin:accounts_user_change", args=[0]).replace("/0/", "/{}/")
    rows = []
    for row in page.rows:
        p = row.progress
        last = p.last_watched.replace(tzinfo=UTC) if p and p.last_watched else None
        idle = (now - last).days if last and p and p.status == IN_PROGRESS else 0
        rows.append(
            {
                "url": member_url.format(row.user_id),
                "email": row.email,
                "status": "Not started" if p is None else FILTER_LABELS[p.status],
                "inactive": f"inactive {idle} days" if idle >= INACTIVE_DAYS else "",
                "percent": "—" if p is None else f"{p.percent} %",
                "items": "—" if p is None else f"{p.items_completed} of {p.items_total}",
                "watch": "—" if p is None else watch_time(p.watch_seconds),
                "last_iso": last.isoformat() if last else "",
                "last": last.strftime("%Y-%m-%d %H:%M UTC") if last else "—",
            }
        )

    def sort_header(key: str, label: str) -> dict[str, str]:
        flip = "asc" if sort == key and descending else "desc"
        arrow = (" ▼" if descending else " ▲") if key == sort else ""
        return {"label": label + arrow, "url": "?" + urlencode({"status": status, "sort": key, "dir": flip})}

    video_ids = playlist_video_ids_get(playlist_id=playlist.pk)
    titles = video_titles_in_bulk(video_ids=video_ids)
    context = {
        **admin.site.each_context(request),
        "title": f"Students: {playlist.title}",
        "playlist": playlist,
        "items": [titles.get(v, f"Video {v}") for v in video_ids],
        "filters": [(key, label, "?" + urlencode({**base, "status": key})) for key, label in FILTER_LABELS.items()],
        "status": status,
        "status_label": FILTER_LABELS[status],
        "headers": {key: sort_header(key, label) for key, label in SORT_LABELS.items()},
        "sort_label": SORT_LABELS[sort].lower(),
        "sort": sort,
        "descending": descending,
        "sortable": status not in (INACTIVE, NOT_STARTED),
        "rows": rows,
        **_pager_urls(
            base=base, after=query.cleaned_data["after"], back=query.cleaned_data["back"], next_cursor=page.next_cursor
        ),
        "inactive_days": INACTIVE_DAYS,
        "completion_share": f"{COMPLETION_SHARE:.0%}",
    }
    return TemplateResponse(request, "analytics/admin/course_students.html", context)


def _pager_urls(*, base: dict[str, str], after: str, back: str, next_cursor: str | None) -> dict[str, str | None]:
    """First, previous and next page links: the previous page is read again from its own starting
    cursor (the last of the trail; none: the first page), so it is exactly the page that led here."""
    trail = back.split(",") if back else []
    cut = trail[:1] == [TRAIL_CUT]
    trail = trail[1:] if cut else trail

    def url(cursor: str, earlier: list[str], cut_before: bool) -> str:
        if not cursor:
            return "?" + urlencode(base)
        kept = [TRAIL_CUT, *earlier] if cut_before else earlier
        return "?" + urlencode({**base, "after": cursor, **({"back": ",".join(kept)} if kept else {})})

    previous = None
    if after and trail:
        previous = url(trail[-1], trail[:-1], cut)
    elif after and not cut:
        previous = url("", [], False)
    following = None
    if next_cursor:
        ahead = [*trail, after] if after else trail
        cut_ahead = cut or len(ahead) > MAX_TRAIL
        following = url(next_cursor, ahead[-MAX_TRAIL:], cut_ahead)
    return {"first_url": url("", [], False) if after else None, "previous_url": previous, "next_url": following}


def course_students_csv(request: HttpRequest, playlist_id: int) -> StreamingHttpResponse:
    """Every member who started the course, streamed a page of rows at a time (memory stays flat)."""
    playlist = _playlist(playlist_id)
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        for row in course_students_csv_rows(playlist_id=playlist.pk):
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="course-{playlist.pk}-students.csv"'
    return response


def member_progress_panel(request: HttpRequest, member: Any) -> SafeString:
    """The member's courses and videos with progress, on their admin page (accounts.registry)."""
    try:
        data = member_courses_get(user_id=member.pk)
    except (DriverException, OSError):
        logger.warning("member admin page: progress unavailable", exc_info=True)
        return render_to_string("analytics/admin/_member_progress.html", {"unavailable": True}, request=request)
    titles = video_titles_in_bulk(video_ids=[v for v, _, _, _ in data.videos])
    course_titles = playlist_titles_in_bulk(playlist_ids=[p for p, _ in data.courses])
    context = {
        "courses": [
            {
                "title": course_titles.get(playlist_id, f"Playlist {playlist_id}"),
                "url": reverse("analytics_admin:students", args=[playlist_id]),
                "status": FILTER_LABELS[p.status],
                "percent": f"{p.percent} %",
                "items": f"{p.items_completed} of {p.items_total}",
                "watch": watch_time(p.watch_seconds),
                "last": p.last_watched.replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M UTC") if p.last_watched else "—",
            }
            for playlist_id, p in data.courses
        ],
        "videos": [
            {
                "title": titles.get(video_id, f"Video {video_id} (deleted)"),
                "watched": watch_time(seconds),
                "duration": watch_time(duration) if (duration := data.durations.get(video_id)) else "unknown",
                "completed": completed,
                "last": last.replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M UTC") if last else "—",
            }
            for video_id, seconds, completed, last in data.videos
        ],
    }
    return render_to_string("analytics/admin/_member_progress.html", context, request=request)
