from __future__ import annotations

import mimetypes
import time
from typing import Any

from allauth.core import ratelimit
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from redis.exceptions import RedisError

from config.fragments import page_render
from config.jsonbody import BodyError, json_request_validate
from videos.cards import video_cards_html
from videos.courses import course_progress_from, playlist_percent
from videos.media import ladder_request_check
from videos.models import Playlist, Video
from videos.providers import parse_timestamp
from videos.registry import page_context_get
from videos.schemas import DurationReportIn, PlayerReportIn
from videos.selectors import (
    Access,
    Catalogue,
    CatalogueUnavailable,
    MediaUrlRefused,
    catalogue_snapshot_get,
    course_outline_get,
    ladder_url_life_seconds,
    plans_opening_list,
    playlist_catalogue_list,
    playlist_paid_access_held,
    playlist_published_get,
    playlist_video_list,
    video_access_get,
    video_caption_get,
    video_catalogue_list,
    video_drip_lock_get,
    video_drip_locks_in_bulk,
    video_file_origin,
    video_ladder_url_get,
    video_media_url_get,
    video_reportable_get,
)
from videos.services import course_enrolments_record, video_duration_report, video_playback_problem_record

CATALOGUE_PAGE_SIZE = 24


def catalogue(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:100]
    # Browsing reads the per-process catalogue snapshot (no query); a search asks the database.
    snapshot = None if search else _catalogue_snapshot()
    listed = snapshot.listed if snapshot is not None else video_catalogue_list(search=search)
    page = Paginator(listed, CATALOGUE_PAGE_SIZE).get_page(request.GET.get("page"))
    first = not search and page.number == 1
    videos = list(page.object_list)
    playlists: object = None
    if first:
        playlists = list(snapshot.playlists if snapshot is not None else playlist_catalogue_list())
    # What the page shows outside its slots: the same for everyone, and its fragment's key.
    shared: dict[str, object] = {
        "page": {
            "number": page.number,
            "num_pages": page.paginator.num_pages,
            "has_other_pages": page.has_other_pages(),
            "has_previous": page.has_previous(),
            "has_next": page.has_next(),
            "previous_page_number": page.number - 1,
            "next_page_number": page.number + 1,
        },
        "has_videos": bool(videos),  # the cards are per-video fragments (videos/cards.py)
        "search": search,
        "playlists": playlists,
    }
    # Other apps' part of the page (analytics: progress bars, "Continue watching"), read here once.
    context: dict[str, object] = {"videos": videos}
    context.update(page_context_get(request=request, videos=videos, continue_watching=first))
    progress = context.get("progress_map")
    if playlists is not None and request.user.is_authenticated and isinstance(progress, dict):
        # Each playlist card's completion for this member (first page: progress covers every
        # published video); shown in the cards' slot.
        context["playlist_percents"] = _playlist_percents(snapshot=snapshot, progress=progress)
    else:
        context["playlist_percents"] = {}
    # A course item still dripped shut for this member shows its opening date, not a progress bar
    # (its page would only refuse them): one enrolment query, and none when no card is dripped.
    locks = video_drip_locks_in_bulk(user=request.user, video_ids=[video.pk for video in videos])
    context["cards_html"] = video_cards_html(
        videos=videos, progress=progress if isinstance(progress, dict) else {}, locks=locks
    )
    # Browsing pages are one fragment per version of what they show (config/fragments.py); a
    # search (any text) is rendered in full.
    return page_render(
        request=request,
        template_name="videos/catalogue.html",
        shared=shared,
        context=context,
        cached=snapshot is not None,
    )


def playlist(request: HttpRequest, slug: str) -> HttpResponse:
    """A playlist's page, which is its course page: sections, each item's progress and drip date,
    the member's course completion and the Start / Continue / Watch again button."""
    found = playlist_published_get(slug=slug)
    if found is None:
        raise Http404("No such playlist")
    if not playlist_paid_access_held(user=request.user, playlist=found):
        plans = plans_opening_list(playlist=found) if request.user.is_authenticated else []
        return render(
            request, "videos/gate.html", {"playlist": found, "plans": plans, "access": "subscribe"}, status=403
        )
    outline = course_outline_get(playlist=found, user=request.user)
    videos = [item.video for item in outline.items]
    context: dict[str, object] = {"playlist": found, "videos": videos, "outline": outline}
    # Analytics' part: the member's progress on these videos (one member_videos partition read).
    context.update(page_context_get(request=request, videos=videos))
    progress = context.get("progress_map")
    if request.user.is_authenticated:
        context["course"] = course_progress_from(
            items=outline.items, progress=progress if isinstance(progress, dict) else {}
        )
    return render(request, "videos/playlist.html", context)


def watch(request: HttpRequest, slug: str) -> HttpResponse:
    result = video_access_get(user=request.user, slug=slug)
    if result is None:
        raise Http404("No such video")
    video = result.video
    if result.access is not Access.WATCH:
        # 403 with a page that says what to do next, not a bare redirect to the login form (or,
        # for a dripped course item, when it opens; for a paid one, the plans that open it); no
        # viewing session is issued.
        plans = plans_opening_list(video=video) if result.access is Access.SUBSCRIBE else []
        gate = {"video": video, "access": result.access.value, "lock": result.lock, "plans": plans}
        return render(request, "videos/gate.html", gate, status=403)

    if video.is_unavailable and not request.user.is_staff:
        # An old link to a video the server found gone: a sentence, no player (nothing would play).
        return render(request, "videos/unavailable.html", {"video": video}, status=410)

    if request.user.is_authenticated:
        # The first opening of an item starts its courses (the drip's day 0).
        course_enrolments_record(user=request.user, video_id=video.pk)

    # A ?t= deep link wins; otherwise the video's default start (from the pasted URL or staff).
    # A member's saved position is offered on top of either by the tracker's resume prompt.
    start = parse_timestamp(request.GET.get("t"))
    if start is None:
        start = video.start_seconds or None
    if start is not None and video.duration is not None and start >= video.duration:
        start = None
    shared: dict[str, object] = {"video": video}
    context: dict[str, object] = {"start": start}
    found, videos = _playlist_with_videos(slug=request.GET.get("list", ""))
    if found is not None and video in videos:
        index = videos.index(video)
        following = videos[index + 1] if index + 1 < len(videos) else None
        # A next item still dripped shut is named with its opening date, and never auto-advanced
        # to (its page would only refuse).
        next_lock = video_drip_lock_get(user=request.user, video_id=following.pk) if following else None
        context.update(
            playlist=found,
            playlist_videos=videos,
            playlist_index=index + 1,
            next_video=following,
            next_lock=next_lock,
            next_url=f"{following.get_absolute_url()}?list={found.slug}" if following and not next_lock else "",
        )
    if video.source:
        # An upload plays from nginx, through a URL bound to this browser's session cookie.
        cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
        context["media_url"] = video_ladder_url_get(video=video, session_cookie=cookie)
        # The player asks for a fresh one (media_url, below) a third of this after the last.
        context["media_url_life"] = ladder_url_life_seconds()
    # Other apps' part of the page (analytics: the tracker's viewing session, resume, progress).
    context.update(page_context_get(request=request, video=video))
    # One fragment per version of the video (config/fragments.py); pages with a playlist in full.
    response = page_render(
        request=request, template_name="videos/watch.html", shared=shared, context=context, cached=found is None
    )
    file_origin = video_file_origin(video=video)
    if file_origin:
        # The file's own origin joins media-src/connect-src for this response only (config/csp.py).
        response.csp_media_sources = [file_origin]  # type: ignore[attr-defined]
    return response


def _playlist_percents(*, snapshot: Catalogue | None, progress: dict[int, Any]) -> dict[int, int]:
    if snapshot is None:
        return {}
    return {
        p.pk: playlist_percent(videos=snapshot.playlist_videos[p.slug], progress=progress) for p in snapshot.playlists
    }


def _catalogue_snapshot() -> Catalogue | None:
    try:
        return catalogue_snapshot_get()
    except CatalogueUnavailable:  # never loaded (database down since start-up): ask the database
        return None


def _playlist_with_videos(*, slug: str) -> tuple[Playlist | None, list[Video]]:
    """A watch page's ?list= playlist (published) and its published, available videos."""
    if not slug:
        return None, []
    snapshot = _catalogue_snapshot()
    if snapshot is not None and slug in snapshot.playlist_videos:
        playlist = next(p for p in snapshot.playlists if p.slug == slug)
        return playlist, snapshot.playlist_videos[slug]
    found = playlist_published_get(slug=slug)
    return found, playlist_video_list(playlist=found) if found is not None else []


def _error(status: int, message: str, **extra: object) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


@require_POST
def media_url(request: HttpRequest, slug: str) -> JsonResponse:
    """A freshly signed ladder URL of an upload for this browser session, asked for by its open
    player (players/html5.js) before the one it holds expires: under the watch page's rule
    (videos/selectors.py video_media_url_get), and never stored (each answer is this session's)."""
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    if _media_url_rate_limited(request):
        response = _error(429, "too many media URL requests; wait a minute")
        response["Retry-After"] = "60"
    else:
        try:
            url = video_media_url_get(user=request.user, slug=slug, session_cookie=cookie)
            response = JsonResponse({"url": url, "expiresIn": ladder_url_life_seconds()})
        except MediaUrlRefused as exc:
            response = _error(exc.status, exc.message)
    response["Cache-Control"] = "no-store"
    return response


def _media_url_rate_limited(request: HttpRequest) -> bool:
    # A player asks once every few minutes; the limit cuts a client asking in a loop. It is counted
    # in Redis, but playback must never depend on Redis: without it, nothing is limited.
    try:
        return not ratelimit.consume(request, action="media_url")
    except RedisError:
        return False


REPORT_HELP = 'invalid report: send {"kind": "duration", "seconds": N} (N ≥ 1) or {"kind": "unavailable", "code": C}'


@require_POST
def player_report_create(request: HttpRequest, video_id: int) -> JsonResponse:
    """A player saw the video's real duration, or that the video is unavailable.

    Only people who may watch the video report on it, and no single member's report changes what
    others see (videos/services.py): a member's duration is a vote, an unavailable report a count
    for staff. A staff member's report (previewing in the admin or on the watch page) fills an
    unknown duration at once.
    """
    if not request.user.is_authenticated:
        return _error(401, "log in to report on a video")
    try:
        report = json_request_validate(request, schema=PlayerReportIn, message=REPORT_HELP).root
    except BodyError as exc:
        return exc.response()
    video = video_reportable_get(user=request.user, video_id=video_id)
    if video is None:
        return _error(404, "no such video, or you may not watch it")
    if isinstance(report, DurationReportIn):
        recorded = video_duration_report(video=video, user=request.user, seconds=float(report.seconds))
    else:
        recorded = video_playback_problem_record(video=video, user=request.user, code=str(report.code))
    return JsonResponse({"recorded": recorded, "kind": report.kind})


@require_GET
def caption_file(request: HttpRequest, video_id: int, caption_id: int) -> HttpResponse:
    """A caption track of a video, as WebVTT, to whoever may watch the video (members only for a
    members-only video; staff previewing): the watch page's rule, so a URL passed on to someone
    else gives them a 404. Text from the database (videos/models.py VideoCaption), a few KB."""
    video = video_reportable_get(user=request.user, video_id=video_id)
    caption = video_caption_get(video=video, caption_id=caption_id) if video is not None else None
    if caption is None:
        raise Http404("No such captions, or you may not watch this video")
    response = HttpResponse(caption.webvtt, content_type="text/vtt; charset=utf-8")
    # private: members-only. The URL carries the caption's version (VideoCaption.get_absolute_url).
    response["Cache-Control"] = "private, max-age=3600"
    return response


# As nginx's /hls/ location (etc/nginx/watchpoint.conf.in): mimetypes would say .ts is Qt Linguist.
LADDER_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
}


def ladder_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """What nginx's /hls/ location does (etc/nginx/watchpoint.conf.in), for `runserver` and the
    tests' live server only (MEDIA_SERVE_FROM_DJANGO): the same signature check and headers.
    In production nginx answers /hls/ itself; no media byte passes through Python."""
    if not settings.MEDIA_SERVE_FROM_DJANGO:
        raise Http404("Served by nginx")
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    name = ladder_request_check(path=path, session_key=cookie, now=time.time())
    if name is None:
        return HttpResponseForbidden("This media link has expired or belongs to another session.")
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404("No such file") from None
    suffix = "." + name.rsplit(".", 1)[-1]
    content_type = LADDER_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    # A run's files never change (a new transcode is a new folder): segments cached for good,
    # playlists briefly (their URL expires anyway); private: members-only.
    response["Cache-Control"] = "private, max-age=60" if suffix == ".m3u8" else "private, max-age=31536000, immutable"
    return response
