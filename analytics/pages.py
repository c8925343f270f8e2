"""What the catalogue's pages show of watch tracking: registered with `videos.registry` (apps.py).

Called once by each videos view, before rendering (videos never imports analytics), so a page
reads the member's progress once (one Cassandra partition, `member_videos`) in its view and the
templates only display what this returns:

- `progress_map`: video id → `VideoProgress` for the videos the page lists (and the watched video);
- `watch_progress`: the watched video's progress (watch pages), or None, and `watch_progress_html`,
  what the page shows of it (rendered once per video and state, config.fragments);
- `tracker_config`: the tracker's config for a watch page (a viewing session, its token, the
  saved position), None for visitors, and `tracker_html`, the tracker's markup with it
  (templates/analytics/_tracker.html, rendered once, the config filled in);
- `continue_watching`: the member's (video, progress) rows, when the page shows the row, and
  `continue_watching_html`, the row with their cards (rendered once per video version);
- `playlist_completed`: how many of the listed videos the member completed.

The catalogue's templates show these as they come: they never include an analytics template or
load an analytics tag library (tests/config/test_layering.py).

Cassandra down drops progress and resume, never the page.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable
from django.conf import settings
from django.http import HttpRequest
from django.urls import get_script_prefix, reverse
from django.utils.crypto import salted_hmac
from django.utils.html import json_script
from django.utils.safestring import SafeString, mark_safe

from accounts.selectors import member_is_confirmed_cached
from analytics.selectors import VideoProgress, completed_count, continue_watching_from, video_progress_map
from analytics.viewing import viewing_session_start
from config.formatting import clock
from config.fragments import csrf_input, fragment_get
from videos.selectors import (
    member_video_ids_paid_filter,
    video_drip_locks_in_bulk,
    video_member_visible_in_bulk,
    video_published_durations,
)

logger = logging.getLogger(__name__)

CASSANDRA_ERRORS = (NoHostAvailable, DriverException)


class Video(Protocol):
    """What these pages read of a catalogue video (videos.selectors' rows): a type of our own, as
    analytics imports no videos model."""

    @property
    def pk(self) -> int: ...
    @property
    def duration(self) -> int | None: ...
    @property
    def is_published(self) -> bool: ...
    @property
    def members_only(self) -> bool: ...
    @property
    def access(self) -> str: ...


def member_outbox_key(*, user_id: int) -> str:
    """The name of the member's tracker outbox in a browser's localStorage (static/js/outbox.js).

    Per member, so a shared browser never resends one member's batches under another's session;
    stable across logins, so a member's own unsent batches go out on their next visit; an HMAC
    under SECRET_KEY, so the name does not give the user id away to whoever reads the storage.
    """
    return _outbox_key(user_id, settings.SECRET_KEY)


@functools.lru_cache(maxsize=10_000)
def _outbox_key(user_id: int, secret: str) -> str:
    # Every member page shows it (twice on a watch page): an HMAC per member, not per page.
    return salted_hmac("watchpoint.outbox", str(user_id), secret=secret, algorithm="sha256").hexdigest()[:16]


def _tracker_endpoints() -> tuple[str, str, str]:
    """The watch-batch, beacon and renewal URLs, reversed once per script prefix (every watch page
    has them)."""
    prefix = get_script_prefix()
    found = _endpoints.get(prefix)
    if found is None:
        found = _endpoints[prefix] = (
            reverse("analytics:watch-batch"),
            reverse("analytics:watch-beacon"),
            reverse("analytics:watch-renew"),
        )
    return found


_endpoints: dict[str, tuple[str, str, str]] = {}


def page_context(
    *, request: HttpRequest, videos: Sequence[Video], video: Video | None, continue_watching: bool
) -> dict[str, Any]:
    """The videos page's watch context (see the module docstring); the provider videos calls."""
    user = request.user
    if not user.is_authenticated:
        return {
            "progress_map": {},
            "watch_progress": None,
            "watch_progress_html": "",
            "tracker_config": None,
            "tracker_html": _tracker_html(config=None) if video is not None else "",
            "continue_watching": [],
            "continue_watching_html": "",
            "playlist_completed": 0,
        }
    # Progress counts only published videos (a staff preview of an unpublished one shows none);
    # the row needs every published video's duration to tell started from completed.
    listed = [*videos, *([video] if video is not None else [])]
    durations = (
        video_published_durations() if continue_watching else {v.pk: v.duration for v in listed if v.is_published}
    )
    resume: int | None = None
    progress: dict[int, VideoProgress] = {}
    try:
        # One partition read per page: the resume position is the watched video's row in it.
        progress, resume = _progress_read(user_id=user.pk, durations=durations, video=video)
    except CASSANDRA_ERRORS:
        # Browsing and watching must not fail because the progress store is down: the page just
        # shows no progress bars, no row and offers no resume.
        logger.warning("member progress unavailable", exc_info=True)

    rows: list[tuple[Video, VideoProgress]] = []
    if continue_watching:
        started = continue_watching_from(progress=progress)
        # Unavailable videos leave the row (the server's availability check decides).
        # So do paid videos the member holds no plan for (any more), and course items dripped shut
        # for them (the page's cards read the same course starts: one query for both).
        open_ids = member_video_ids_paid_filter(user=user, video_ids=[p.video_id for p in started]) if started else []
        locked = video_drip_locks_in_bulk(user=user, video_ids=open_ids) if open_ids else {}
        open_ids = [video_id for video_id in open_ids if video_id not in locked]
        visible = video_member_visible_in_bulk(video_ids=open_ids) if open_ids else {}
        rows = [(visible[p.video_id], p) for p in started if p.video_id in visible]

    tracker = _tracker_config(user=user, video=video, resume=resume) if video is not None else None
    return {
        "continue_watching_html": _continue_watching_html(request=request, rows=rows) if continue_watching else "",
        "progress_map": progress,
        "watch_progress": progress.get(video.pk) if video is not None else None,
        "watch_progress_html": _watch_progress_html(request=request, video=video, progress=progress.get(video.pk))
        if video is not None
        else "",
        "tracker_config": tracker,
        "tracker_html": _tracker_html(config=tracker) if video is not None else "",
        "continue_watching": rows,
        "playlist_completed": completed_count(progress=progress, video_ids=[v.pk for v in videos]),
    }


def _continue_watching_html(*, request: HttpRequest, rows: list[tuple[Video, VideoProgress]]) -> SafeString:
    """The "Continue watching" row (its empty state when the member has nothing in progress): the
    row and each card rendered once per version of its video (config.fragments), the member's
    position, progress, CSRF token and this page's address filled in."""
    member = {"csrf": csrf_input(request), "next": request.get_full_path()}
    cards = []
    for video, progress in rows:
        fragment = fragment_get(template_name="analytics/_continue_watching_card.html", shared={"video": video})
        values = {
            "position": clock(progress.position or 0),
            "percent": int(progress.percent),
            "watched": clock(progress.watched_seconds),
            **member,
        }
        cards.append(fragment.fill(values))
    row = fragment_get(template_name="analytics/_continue_watching.html", shared={"started": bool(rows)})
    # Our own autoescaped templates, escaped values.
    return mark_safe(row.fill({"cards": mark_safe("".join(cards))}))  # noqa: S308


def _tracker_html(*, config: dict[str, Any] | None) -> SafeString:
    """The watch page's resume prompt and tracker script, with this page's config (None: a visitor,
    or a member watching untracked)."""
    fragment = fragment_get(template_name="analytics/_tracker.html", shared={})
    # json_script escapes what could close the <script>.
    return mark_safe(fragment.fill({"config": json_script(config, "watch-tracker-config")}))  # noqa: S308


def _watch_progress_html(*, request: HttpRequest, video: Video, progress: VideoProgress | None) -> SafeString:
    """The member's progress under the player and its forms: rendered once per video and state
    (config.fragments), the percentage and the page's CSRF token filled in."""
    completed = progress is not None and progress.completed
    started = progress is not None and progress.started
    fragment = fragment_get(
        template_name="analytics/_watch_progress.html",
        shared={"video": video, "completed": completed, "started": started},
    )
    values = {"percent": int(progress.percent) if progress is not None else "", "csrf": csrf_input(request)}
    return mark_safe(fragment.fill(values))  # noqa: S308 (our own autoescaped template, an int and a token)


def _progress_read(
    *, user_id: int, durations: dict[int, int | None], video: Video | None
) -> tuple[dict[int, VideoProgress], int | None]:
    if video is None:
        return video_progress_map(user_id=user_id, durations=durations), None
    # The resume position is offered for any video the member may watch (staff previews of
    # unpublished ones included), so the watched video is read whatever its publication.
    every = video_progress_map(user_id=user_id, durations={**durations, video.pk: video.duration})
    mine = every.get(video.pk)
    if video.pk not in durations:
        every.pop(video.pk, None)
    return every, (mine.position if mine is not None else None)


def _tracker_config(*, user: Any, video: Video, resume: int | None) -> dict[str, Any] | None:
    """The tracker's config for one watch page load: a fresh (or reused) viewing session.

    Confirmed members only: an address nobody confirmed could be anyone's (sign-ups with made-up
    addresses), so its watching never reaches staff figures; such a member watches untracked and
    is offered the confirmation link (templates/videos/watch.html).
    """
    if not member_is_confirmed_cached(user=user):
        return None
    user_id = user.pk
    viewing = viewing_session_start(
        user_id=user_id, video_id=video.pk, members_only=video.members_only, paid=video.access == "paid"
    )
    endpoint, beacon, renew = _tracker_endpoints()
    return {
        "videoId": video.pk,
        "duration": video.duration,
        "sessionId": str(viewing.session_id),
        "token": viewing.token,
        "issuedAt": viewing.issued_at_ms,
        # The tracker counts event times from this server time, not from the browser's clock.
        "serverTime": int(time.time() * 1000),
        "endpoint": endpoint,
        "beaconEndpoint": beacon,
        "renewEndpoint": renew,
        # Renew the token well before its life ends (the tracker renews only while the page is
        # visible or playing).
        "renewEveryMs": settings.WATCH_TOKEN_TTL_SECONDS * 1000 // 3,
        "resumePosition": resume,
        "outboxKey": member_outbox_key(user_id=user_id),
    }
