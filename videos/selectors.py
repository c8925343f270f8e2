"""Reads of the catalogue, for this app's views and for other apps."""

from __future__ import annotations

import enum
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, NamedTuple, TypeVar, cast
from urllib.parse import urlsplit

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from accounts.selectors import Member, member_confirmed_cache_clear, member_is_confirmed_cached
from config.csp import BadSource, csp_source_validate
from videos.media import ladder_url_sign
from videos.models import (
    AccessLevel,
    CourseEnrolment,
    Playlist,
    PlaylistItem,
    Section,
    Video,
    VideoCaption,
    VideoDurationVote,
    VideoPlaybackProblem,
    VideoUpload,
)
from videos.registry import member_plan_ids_get
from videos.search import search_query_terms
from videos.uploads import s3_client, upload_parts_stored

logger = logging.getLogger(__name__)
T = TypeVar("T")

# A playlist's order, everywhere: section by section (unsectioned items first), then the items'
# own positions. Without sections this is the items' positions, as before sections existed.
PLAYLIST_ITEM_ORDER = (
    F("section__position").asc(nulls_first=True),
    F("section_id").asc(nulls_first=True),
    "position",
    "id",
)


def video_published_list() -> QuerySet[Video]:
    return Video.objects.filter(is_published=True)


def video_member_visible_list() -> QuerySet[Video]:
    """What members browse: published videos the server's check found playable (an unavailable
    one keeps its watch page, with a notice, for old links)."""
    return video_published_list().filter(is_unavailable=False)


def video_catalogue_list(*, search: str = "") -> QuerySet[Video]:
    """Published, available videos in catalogue order, optionally matching every word of `search`
    in title or description, words stemmed and spellings folded (videos/search.py)."""
    qs = video_member_visible_list().order_by("position", "-published_at", "-id")
    terms = search_query_terms(search)
    if not search.strip():
        return qs
    if not terms:
        return qs.none()  # only punctuation: nothing can match
    if connection.vendor == "postgresql":
        # Full-text search over the stored terms, through the GIN index of migration 0007 (the
        # annotation is that index's expression); `plainto_tsquery` ANDs the terms.
        vector = SearchVector("search_document", config="simple")
        return qs.annotate(search_vector=vector).filter(
            search_vector=SearchQuery(" ".join(terms), config="simple", search_type="plain")
        )
    for term in terms:
        qs = qs.filter(search_document__contains=f" {term} ")
    return qs


def playlist_catalogue_list() -> QuerySet[Playlist]:
    """Published playlists, each annotated with `video_count` (its published, available videos)."""
    return Playlist.objects.filter(is_published=True).annotate(
        video_count=Count("items", filter=Q(items__video__is_published=True, items__video__is_unavailable=False))
    )


def playlist_published_get(*, slug: str) -> Playlist | None:
    return Playlist.objects.filter(slug=slug, is_published=True).first()


def playlist_video_list(*, playlist: Playlist) -> list[Video]:
    """The playlist's published, available videos, in its order."""
    items = PlaylistItem.objects.filter(
        playlist=playlist, video__is_published=True, video__is_unavailable=False
    ).select_related("video")
    return [item.video for item in items.order_by(*PLAYLIST_ITEM_ORDER)]


@dataclass(frozen=True)
class CourseItem:
    video: Video
    number: int  # 1-based, in the playlist's order
    drip_days: int
    # When a dripped item opens for the member; None when open, or not started (`locked` says).
    opens_at: datetime | None
    locked: bool


@dataclass(frozen=True)
class CourseSection:
    title: str  # "" for the unsectioned items listed first
    items: list[CourseItem]


@dataclass(frozen=True)
class CourseOutline:
    """A playlist as its page lists it to one member: its sections (one untitled section when it
    has none), their published, available items in order, and each item's drip lock."""

    playlist: Playlist
    sections: list[CourseSection]
    has_sections: bool
    started_at: datetime | None  # the member's CourseEnrolment (None: not started, or a visitor)

    @property
    def items(self) -> list[CourseItem]:
        return [item for section in self.sections for item in section.items]


def course_outline_get(
    *, playlist: Playlist, user: Member | AnonymousUser, now: datetime | None = None
) -> CourseOutline:
    """The playlist's outline for `user` (two queries; a third for a member's enrolment)."""
    rows = list(
        PlaylistItem.objects.filter(playlist=playlist, video__is_published=True, video__is_unavailable=False)
        .select_related("video")
        .order_by(*PLAYLIST_ITEM_ORDER)
    )
    titles = dict(Section.objects.filter(playlist=playlist).values_list("pk", "title"))
    started_at = None
    if user.is_authenticated:
        started_at = (
            CourseEnrolment.objects.filter(user_id=user.pk, playlist=playlist)
            .values_list("started_at", flat=True)
            .first()
        )
    is_staff = bool(user.is_authenticated and user.is_staff)
    now = now or timezone.now()
    sections: list[CourseSection] = []
    current: object = object()  # the section of the previous row (none yet)
    for number, row in enumerate(rows, start=1):
        opens_at = started_at + timedelta(days=row.drip_days) if started_at is not None else None
        locked = bool(row.drip_days) and not is_staff and (opens_at is None or opens_at > now)
        item = CourseItem(row.video, number, row.drip_days, opens_at if locked else None, locked)
        if row.section_id != current:
            current = row.section_id
            sections.append(CourseSection(titles.get(row.section_id, "") if row.section_id else "", []))
        sections[-1].items.append(item)
    return CourseOutline(playlist, sections, has_sections=bool(titles), started_at=started_at)


# The watch-tracking endpoint asks "may this member report this video?" for every batch of every
# viewer (hundreds per second), so a video's publication (published or not) is kept per process
# for 5 s: publishing or unpublishing it, or making it members-only, takes up to 5 s to reach the
# endpoint (a member's confirmation: accounts.selectors.member_is_confirmed_cached). A bounded
# LRU-evicting cache (cachetools), locked because gunicorn's threads share it; the database is
# read outside the lock.
_WATCHABLE_TTL_SECONDS = 5.0
_MISSING = object()
_published: TTLCache[int, Video | None] = TTLCache(maxsize=10_000, ttl=_WATCHABLE_TTL_SECONDS, timer=time.monotonic)
_cache_lock = threading.Lock()


def video_watchable_get(*, user: Member | AnonymousUser, video_id: int) -> Video | None:
    """The video if `user` may watch (and so report watching) it, else None.

    Published videos only; members-only videos need a member with a confirmed email address.
    Cached per process (see _WATCHABLE_TTL_SECONDS); treat the result as read-only.
    """
    with _cache_lock:
        cached = _published.get(video_id, _MISSING)
    if cached is _MISSING:
        video = Video.objects.filter(pk=video_id, is_published=True).first()
        with _cache_lock:
            _published[video_id] = video
    else:
        video = cast("Video | None", cached)
    if video is None:
        return None
    if video.members_only and not member_is_confirmed_cached(user=user):
        return None
    if video.access == AccessLevel.PAID and not video_paid_access_held(user=user, video_id=video.pk):
        return None
    # A dripped item not open yet: no renewed token, no progress actions (the watch page refuses it).
    if video_drip_lock_get(user=user, video_id=video_id) is not None:
        return None
    return video


def video_paid_plan_ids(*, video_id: int) -> frozenset[int]:
    """The plans that open a paid video: its own, and those of the paid playlists it is in (the
    access snapshot; empty for an unpublished or unknown video)."""
    found = video_published_access().get(video_id)
    return found.plan_ids if found is not None else frozenset()


def video_paid_access_held(*, user: Member | AnonymousUser, video_id: int) -> bool:
    """Whether `user` holds a plan that opens the paid video now (staff always do)."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return bool(member_plan_ids_get(user_id=user.pk) & video_paid_plan_ids(video_id=video_id))


def plans_opening_list(*, video: Video | None = None, playlist: Playlist | None = None) -> list[Any]:
    """The active plans (billing.Plan rows, reached through their `plans` relation: videos imports
    no billing module) that open a paid video or playlist: what its gate offers."""
    if video is not None:
        ids = set(video_paid_plan_ids(video_id=video.pk))
    elif playlist is not None:
        ids = set(Playlist.objects.filter(pk=playlist.pk).values_list("plans", flat=True)) - {None}
    else:
        return []
    plan_model = Video._meta.get_field("plans").related_model
    return list(plan_model._default_manager.filter(pk__in=ids, is_active=True))


def playlist_paid_access_held(*, user: Member | AnonymousUser, playlist: Playlist) -> bool:
    """Whether `user` may open the playlist's page: any visitor for a public one, a confirmed member
    for "any member", a plan that opens it (or staff) for a paid one."""
    if playlist.access == AccessLevel.PUBLIC:
        return True
    if not user.is_authenticated or not member_is_confirmed_cached(user=user):
        return False
    if playlist.access == AccessLevel.MEMBERS or user.is_staff:
        return True
    opened_by = frozenset(Playlist.objects.filter(pk=playlist.pk).values_list("plans", flat=True)) - {None}
    return bool(member_plan_ids_get(user_id=user.pk) & opened_by)


def member_video_ids_paid_filter(*, user: Member | AnonymousUser, video_ids: list[int]) -> list[int]:
    """`video_ids` without the paid videos `user` holds no plan for ("Continue watching" offers
    only what the member may still watch)."""
    access = video_published_access()
    paid = [video_id for video_id in video_ids if video_id in access and access[video_id].paid]
    if not paid:
        return video_ids
    if not user.is_authenticated:
        held: frozenset[int] = frozenset()
    elif user.is_staff:
        return video_ids
    else:
        held = member_plan_ids_get(user_id=user.pk)
    closed = {video_id for video_id in paid if not held & access[video_id].plan_ids}
    return [video_id for video_id in video_ids if video_id not in closed]


def video_watchable_cache_clear() -> None:
    """Forget cached answers (tests that change a video and ask again at once)."""
    with _cache_lock:
        _published.clear()
    member_confirmed_cache_clear()


def video_reportable_get(*, user: Member | AnonymousUser, video_id: int) -> Video | None:
    """The video if `user` may report what its player saw: anyone who may watch it, and staff
    previewing it (unpublished included)."""
    if user.is_authenticated and user.is_staff:
        return Video.objects.filter(pk=video_id).first()
    return video_watchable_get(user=user, video_id=video_id)


class Access(enum.Enum):
    WATCH = "watch"
    LOG_IN = "log_in"  # members-only, visitor is anonymous
    CONFIRM_EMAIL = "confirm_email"  # members-only, member has not confirmed an address
    LOCKED = "locked"  # a dripped course item that has not opened for this member yet
    SUBSCRIBE = "subscribe"  # paid, the member holds none of the plans that open it


@dataclass(frozen=True)
class DripLock:
    """A dripped item not open yet: when it opens for the member (None: they have not started the
    course, so it opens `days` days after they do) and the title of the course whose drip it is (the
    one that opens it first)."""

    opens_at: datetime | None
    days: int
    course: str = ""


@dataclass(frozen=True)
class WatchAccess:
    video: Video
    access: Access
    lock: DripLock | None = None


def catalogue_video_playlists_in_bulk(*, video_ids: Sequence[int]) -> dict[int, list[tuple[int, int]]]:
    """video id -> (playlist id, drip days) of each published playlist holding it (the snapshot;
    videos in none are absent)."""
    try:
        held = catalogue_snapshot_get().video_playlists
        return {video_id: held[video_id] for video_id in video_ids if video_id in held}
    except CatalogueUnavailable:  # never loaded: ask the database
        found: dict[int, list[tuple[int, int]]] = {}
        rows = PlaylistItem.objects.filter(video_id__in=list(video_ids), playlist__is_published=True)
        for video_id, playlist_id, days in rows.values_list("video_id", "playlist_id", "drip_days"):
            found.setdefault(video_id, []).append((playlist_id, days))
        return found


def catalogue_video_playlists_get(*, video_id: int) -> list[tuple[int, int]]:
    """(playlist id, drip days) of each published playlist holding the video (the snapshot)."""
    return catalogue_video_playlists_in_bulk(video_ids=[video_id]).get(video_id, [])


_COURSE_STARTS = "_course_starts"


def course_starts_get(*, user: Member) -> dict[int, datetime]:
    """The member's course starts (playlist id -> CourseEnrolment.started_at), read once per
    request: kept on the request's user object, as Django keeps a user's permissions, so a page's
    cards and its "Continue watching" row share one query. `course_starts_forget` drops them (a
    course started during the request)."""
    starts: dict[int, datetime] | None = vars(user).get(_COURSE_STARTS)
    if starts is None:
        starts = dict(CourseEnrolment.objects.filter(user_id=user.pk).values_list("playlist_id", "started_at"))
        vars(user)[_COURSE_STARTS] = starts
    return starts


def course_starts_forget(*, user: Member) -> None:
    vars(user).pop(_COURSE_STARTS, None)


def video_drip_locks_in_bulk(
    *, user: Member | AnonymousUser, video_ids: Sequence[int], now: datetime | None = None
) -> dict[int, DripLock]:
    """The drip lock of each of `video_ids` that drip keeps `user` from (open videos are absent).

    A video is locked while it is a dripped item (drip_days > 0) of a published playlist and no
    published playlist holding it has opened it for the member: an item opens `drip_days` after
    the member's CourseEnrolment.started_at (an undripped item opens at once). Staff are never
    locked out. One query at most per request (the member's course starts: `course_starts_get`),
    for a page of cards as for one video, and none when none is dripped (the catalogue snapshot
    says)."""
    if user.is_authenticated and user.is_staff:
        return {}
    dripped = {
        video_id: holders
        for video_id, holders in catalogue_video_playlists_in_bulk(video_ids=video_ids).items()
        if all(days for _, days in holders)
    }
    if not dripped:
        return {}
    courses = sorted({playlist_id for holders in dripped.values() for playlist_id, _ in holders})
    started = course_starts_get(user=user) if user.is_authenticated else {}
    now = now or timezone.now()
    titles = _playlist_titles_published(playlist_ids=courses)
    locks: dict[int, DripLock] = {}
    for video_id, holders in dripped.items():
        days = min(days for _, days in holders)
        opens = [(started[p] + timedelta(days=d), p) for p, d in holders if p in started]
        if not opens:
            # Not started: it opens `days` after they start the course with the shortest drip.
            shortest = min(holders, key=lambda held: (held[1], held[0]))[0]
            locks[video_id] = DripLock(opens_at=None, days=days, course=titles.get(shortest, ""))
            continue
        first, playlist_id = min(opens)
        if first > now:
            locks[video_id] = DripLock(opens_at=first, days=days, course=titles.get(playlist_id, ""))
    return locks


def video_drip_lock_get(*, user: Member | AnonymousUser, video_id: int, now: datetime | None = None) -> DripLock | None:
    """The drip lock on a video for `user`, or None when drip does not keep them from it
    (`video_drip_locks_in_bulk` for one video)."""
    return video_drip_locks_in_bulk(user=user, video_ids=[video_id], now=now).get(video_id)


def _playlist_titles_published(*, playlist_ids: list[int]) -> dict[int, str]:
    wanted = set(playlist_ids)
    try:
        return {p.pk: p.title for p in catalogue_snapshot_get().playlists if p.pk in wanted}
    except CatalogueUnavailable:
        return playlist_titles_in_bulk(playlist_ids=playlist_ids)


def video_access_get(*, user: Member | AnonymousUser, slug: str) -> WatchAccess | None:
    """What `user` may do with the video at `slug`; None when it does not exist for them.

    Unpublished videos exist only for staff (who preview them); staff may watch anything.
    """
    try:
        video: Video | None = catalogue_snapshot_get().by_slug.get(slug)
    except CatalogueUnavailable:
        video = None
    if video is None:  # unpublished (staff previews), or published since the snapshot was read
        video = Video.objects.filter(slug=slug).first()
    if video is None:
        return None
    is_staff = bool(user.is_authenticated and user.is_staff)
    if not video.is_published and not is_staff:
        return None
    if is_staff or not video.members_only:
        lock = None if is_staff else video_drip_lock_get(user=user, video_id=video.pk)
        return WatchAccess(video, Access.WATCH if lock is None else Access.LOCKED, lock)
    if member_is_confirmed_cached(user=user):
        if video.access == AccessLevel.PAID and not video_paid_access_held(user=user, video_id=video.pk):
            return WatchAccess(video, Access.SUBSCRIBE)
        lock = video_drip_lock_get(user=user, video_id=video.pk)
        return WatchAccess(video, Access.WATCH if lock is None else Access.LOCKED, lock)
    if not user.is_authenticated:
        return WatchAccess(video, Access.LOG_IN)
    return WatchAccess(video, Access.CONFIRM_EMAIL)


class CatalogueUnavailable(Exception):
    """The catalogue snapshot could not be loaded yet (database down at start-up)."""


class _Snapshot(Generic[T]):
    """A per-process value `load`ed from the database, reloaded at most every
    CATALOGUE_SNAPSHOT_SECONDS.

    One thread reloads while the others keep answering from the previous snapshot; only the very
    first load makes callers wait. A failed reload keeps the old snapshot (retried a second later).
    """

    def __init__(self, load: Callable[[], T]) -> None:
        self.load = load
        self.lock = threading.Lock()
        self.value: T | None = None
        self.fresh_until = 0.0

    def get(self) -> T:
        if time.monotonic() >= self.fresh_until:
            self._reload(wait=self.value is None)
        value = self.value
        if value is None:
            raise CatalogueUnavailable
        return value

    def _reload(self, *, wait: bool) -> None:
        if not self.lock.acquire(blocking=wait):
            return
        try:
            if time.monotonic() < self.fresh_until:  # another thread reloaded while we waited
                return
            try:
                self.value = self.load()
                self.fresh_until = time.monotonic() + settings.CATALOGUE_SNAPSHOT_SECONDS
            except DatabaseError:
                logger.warning("could not reload the published catalogue", exc_info=True)
                self.fresh_until = time.monotonic() + 1.0
        finally:
            self.lock.release()

    def clear(self) -> None:
        with self.lock:
            self.value, self.fresh_until = None, 0.0


_published_snapshot = _Snapshot(lambda: dict(video_published_list().values_list("pk", "duration")))


def video_published_durations() -> dict[int, int | None]:
    """Duration in seconds (None when unknown) of every published video, keyed by id: a per-process
    snapshot at most CATALOGUE_SNAPSHOT_SECONDS old (the watch endpoint and every page's progress
    read it on every request; publishing or unpublishing shows within that time). Read-only.
    Raises CatalogueUnavailable if it has never loaded (database down since start-up)."""
    return _published_snapshot.get()


class PublishedAccess(NamedTuple):
    """What the watch endpoint checks of a published video on every batch."""

    duration: int | None
    members_only: bool
    available: bool
    paid: bool = False
    # The plans that open a paid video: its own and its paid playlists' (billing.Plan, related name
    # `plans`).
    plan_ids: frozenset[int] = frozenset()


def _access_load() -> dict[int, PublishedAccess]:
    opened: dict[int, set[int]] = {}
    for video_id, plan_id in (
        video_published_list().filter(access=AccessLevel.PAID, plans__isnull=False).values_list("pk", "plans")
    ):
        opened.setdefault(video_id, set()).add(plan_id)
    for video_id, plan_id in PlaylistItem.objects.filter(
        playlist__access=AccessLevel.PAID, playlist__plans__isnull=False, video__access=AccessLevel.PAID
    ).values_list("video_id", "playlist__plans"):
        opened.setdefault(video_id, set()).add(plan_id)
    return {
        pk: PublishedAccess(
            duration,
            access != AccessLevel.PUBLIC,
            not unavailable,
            access == AccessLevel.PAID,
            frozenset(opened.get(pk, ())),
        )
        for pk, duration, access, unavailable in video_published_list().values_list(
            "pk", "duration", "access", "is_unavailable"
        )
    }


_access_snapshot = _Snapshot(_access_load)


def video_published_access() -> dict[int, PublishedAccess]:
    """Duration, access level (and the plans of a paid one) and availability of every published
    video, keyed by id: a
    per-process snapshot at most CATALOGUE_SNAPSHOT_SECONDS old, so staff tightening a video's
    access reaches the watch endpoint within that time. Read-only. Raises CatalogueUnavailable if
    it has never loaded."""
    return _access_snapshot.get()


@dataclass(frozen=True)
class Catalogue:
    """What members' pages show of the published catalogue, read at once (read-only: shared by
    every thread of the process)."""

    listed: list[Video]  # published and available, in catalogue order (the home page)
    visible: dict[int, Video]  # the same, by id
    by_slug: dict[str, Video]  # every published video, unavailable ones included (their watch page)
    playlists: list[Playlist]  # published, each with `video_count` (its published, available videos)
    playlist_videos: dict[str, list[Video]]  # playlist slug -> its published, available videos, in order
    # video id -> (playlist id, drip days) of each published playlist holding it (a first opening
    # starts each: videos.services.course_enrolments_record; drip: video_drip_lock_get)
    video_playlists: dict[int, list[tuple[int, int]]]


def _catalogue_load() -> Catalogue:
    published = list(video_published_list().order_by("position", "-published_at", "-id"))
    listed = [video for video in published if not video.is_unavailable]
    visible = {video.pk: video for video in listed}
    playlists = list(Playlist.objects.filter(is_published=True))
    items: dict[int, list[Video]] = {playlist.pk: [] for playlist in playlists}
    video_playlists: dict[int, list[tuple[int, int]]] = {}
    for playlist_id, video_id, drip_days in (
        PlaylistItem.objects.filter(playlist_id__in=list(items), video__is_published=True)
        .order_by(*PLAYLIST_ITEM_ORDER)
        .values_list("playlist_id", "video_id", "drip_days")
    ):
        video_playlists.setdefault(video_id, []).append((playlist_id, drip_days))
        if video_id in visible:
            items[playlist_id].append(visible[video_id])
    for playlist in playlists:
        playlist.video_count = len(items[playlist.pk])  # type: ignore[attr-defined]
    return Catalogue(
        listed=listed,
        visible=visible,
        by_slug={video.slug: video for video in published},
        playlists=playlists,
        playlist_videos={playlist.slug: items[playlist.pk] for playlist in playlists},
        video_playlists=video_playlists,
    )


_catalogue_snapshot = _Snapshot(_catalogue_load)


def catalogue_snapshot_get() -> Catalogue:
    """The published catalogue as members' pages show it: a per-process snapshot at most
    CATALOGUE_SNAPSHOT_SECONDS old, cleared in this process by every change made through the
    models or videos.services (apps.py, video_published_snapshot_clear), like the durations.
    Raises CatalogueUnavailable if it has never loaded."""
    return _catalogue_snapshot.get()


def video_published_snapshot_clear() -> None:
    """Forget the snapshots (a change to the catalogue; tests that publish and ask again at once)."""
    _published_snapshot.clear()
    _access_snapshot.clear()
    _catalogue_snapshot.clear()


def video_member_visible_in_bulk(*, video_ids: list[int]) -> dict[int, Video]:
    """The given videos that members browse (published and available): "Continue watching" and
    playlist progress skip the others. From the catalogue snapshot (read-only videos)."""
    visible = catalogue_snapshot_get().visible
    return {video_id: visible[video_id] for video_id in video_ids if video_id in visible}


def video_unavailable_published_list() -> QuerySet[Video]:
    """Published videos the server (or staff) found unavailable, newest first (admin warning)."""
    return video_published_list().filter(is_unavailable=True).order_by("-unavailable_at", "-id")


def video_durations_in_bulk(*, video_ids: list[int]) -> dict[int, int | None]:
    """Duration in seconds (None when unknown) of the given videos, published or not (staff, rollups)."""
    return dict(Video.objects.filter(pk__in=video_ids).values_list("pk", "duration"))


def video_staff_get(*, video_id: int) -> Video | None:
    """Any video, published or not, for staff pages."""
    return Video.objects.filter(pk=video_id).first()


def video_titles_in_bulk(*, video_ids: list[int]) -> dict[int, str]:
    """Titles of the given videos, published or not (staff dashboards)."""
    return dict(Video.objects.filter(pk__in=video_ids).values_list("pk", "title"))


def video_links_in_bulk(*, video_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Title and page path of the given videos, published or not (a member's data export)."""
    videos = Video.objects.filter(pk__in=video_ids).only("pk", "title", "slug")
    return {video.pk: (video.title, video.get_absolute_url()) for video in videos}


def video_ids_all() -> list[int]:
    """Every video id, published or not (rollup rebuilds)."""
    return list(Video.objects.order_by("pk").values_list("pk", flat=True))


def video_playback_problem_count(*, video_id: int, since: datetime) -> int:
    """How many members' players could not play the video since `since` (each member once)."""
    return (
        VideoPlaybackProblem.objects.filter(video_id=video_id, created_at__gte=since)
        .values("user_id")
        .distinct()
        .count()
    )


def video_playback_problem_count_annotate(*, queryset: QuerySet[Video], since: datetime) -> QuerySet[Video]:
    """`queryset` with `recent_problem_count` (as `video_playback_problem_count`), for list pages."""
    return queryset.annotate(
        recent_problem_count=Count(
            "playback_problems__user", filter=Q(playback_problems__created_at__gte=since), distinct=True
        )
    )


def video_caption_get(*, video: Video, caption_id: int) -> VideoCaption | None:
    """One of the video's captions (the caller checked the reader may watch the video)."""
    return VideoCaption.objects.filter(video=video, pk=caption_id).first()


def video_player_tracks(*, video: Video) -> dict[str, list[dict[str, object]]]:
    """What the watch page's player shows beside the video: its chapters and, for a file the
    site plays itself, its captions (the URLs of `caption_file`)."""
    captions: list[dict[str, object]] = []
    if video.provider == Video.Provider.FILE:
        captions = [
            {"src": c.get_absolute_url(), "lang": c.language, "label": c.label, "default": c.is_default}
            for c in VideoCaption.objects.filter(video=video)
        ]
    chapters: list[dict[str, object]] = [{"start": c.start, "title": c.title} for c in video.chapter_list]
    return {"captions": captions, "chapters": chapters}


def video_ladder_url_get(*, video: Video, session_cookie: str) -> str:
    """The signed URL of an uploaded video's master playlist for the browser session whose cookie
    is `session_cookie` (nginx checks it: videos/media.py); "" while it has no ladder.

    It works for MEDIA_URL_TTL_SECONDS whatever the video's length: a copy stops working within
    minutes for everyone, and at once for any other session. The open page keeps playing past that
    because its player asks `video_media_url_get` (videos/views.py media_url) for a freshly signed
    URL well before, and swaps it into every later playlist and segment request (players/html5.js)."""
    if not video.ladder_path:
        return ""
    expires = int(time.time()) + settings.MEDIA_URL_TTL_SECONDS
    return ladder_url_sign(ladder_path=video.ladder_path, session_key=session_cookie, expires=expires)


def ladder_url_life_seconds() -> int:
    """How long a URL from `video_ladder_url_get` works at least: its expiry is a whole second."""
    return settings.MEDIA_URL_TTL_SECONDS - 1


class MediaUrlRefused(Exception):
    """`video_media_url_get` refuses: the HTTP status and the sentence the player is answered with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# What the watch page's gate says (templates/videos/gate.html), in a sentence for a JSON answer.
_MEDIA_URL_GATES = {
    Access.LOG_IN: (401, "log in to watch this video"),
    Access.CONFIRM_EMAIL: (403, "confirm your email address to watch this video"),
    Access.SUBSCRIBE: (403, "this video needs a plan you do not hold"),
    Access.LOCKED: (403, "this course item has not opened for you yet"),
}


def video_media_url_get(*, user: Member | AnonymousUser, slug: str, session_cookie: str) -> str:
    """A freshly signed ladder URL of the upload at `slug` for the browser session whose cookie is
    `session_cookie`, for its open player (`video_ladder_url_get` signed it into the page).

    Exactly the watch page's rule (`video_access_get`, then unavailable videos for staff only), so
    the URL outlives the page only for those the page would still play to; staff also for the
    admin preview (any video). Reads the catalogue snapshot and at most the member's plans and
    course starts: no Redis, no Cassandra. Raises MediaUrlRefused otherwise."""
    found = video_access_get(user=user, slug=slug)
    if found is None:
        raise MediaUrlRefused(404, "no such video")
    if found.access is not Access.WATCH:
        raise MediaUrlRefused(*_MEDIA_URL_GATES[found.access])
    video = found.video
    if video.is_unavailable and not (user.is_authenticated and user.is_staff):
        raise MediaUrlRefused(410, "this video is no longer available")
    url = video_ladder_url_get(video=video, session_cookie=session_cookie) if video.source else ""
    if not url:
        raise MediaUrlRefused(404, "this video is not an upload with a ready ladder")
    return url


def member_video_reports_export(user: Member) -> dict[str, object]:
    """The member's section of their data export: what their players reported to the site (the
    durations they measured and the playback problems they met), each with the video named."""
    votes = VideoDurationVote.objects.filter(user=user).select_related("video").order_by("created_at")
    problems = VideoPlaybackProblem.objects.filter(user=user).select_related("video").order_by("created_at")
    return {
        "duration_reports": [
            {
                "video_id": vote.video_id,
                "title": vote.video.title,
                "seconds": vote.seconds,
                "reported_at": vote.created_at.isoformat(),
            }
            for vote in votes
        ],
        "playback_problems": [
            {
                "video_id": problem.video_id,
                "title": problem.video.title,
                "code": problem.code,
                "day": problem.day.isoformat(),
                "reported_at": problem.created_at.isoformat(),
            }
            for problem in problems
        ],
    }


def course_enrolments_export(*, user_id: int) -> list[dict[str, str]]:
    """The member's course starts, for their data export (accounts.registry)."""
    rows = CourseEnrolment.objects.filter(user_id=user_id).select_related("playlist").order_by("started_at", "id")
    return [{"course": row.playlist.title, "started_at": row.started_at.isoformat()} for row in rows]


def video_file_origin(*, video: Video) -> str | None:
    """The origin an external file plays from, for the CSP of the pages that play it (the watch
    page, the admin preview); None for other providers, the site's own files ("/static/...") and
    anything that is not a plain scheme://host[:port] (config/csp.py would refuse it anyway)."""
    if video.provider != Video.Provider.FILE:
        return None
    try:
        parts = urlsplit(video.external_id)
        return csp_source_validate(f"{parts.scheme}://{parts.netloc}") if parts.scheme and parts.netloc else None
    except (ValueError, BadSource):
        return None


def playlist_video_ids_containing(*, video_ids: list[int]) -> dict[int, list[int]]:
    """Every playlist holding any of these videos → all its video ids in its order (the students
    report's course items: every item staff put in the playlist, published or not)."""
    playlist_ids = PlaylistItem.objects.filter(video_id__in=video_ids).values("playlist_id")
    items: dict[int, list[int]] = {}
    rows = PlaylistItem.objects.filter(playlist_id__in=playlist_ids).order_by("playlist_id", *PLAYLIST_ITEM_ORDER)
    for playlist_id, video_id in rows.values_list("playlist_id", "video_id"):
        items.setdefault(playlist_id, []).append(video_id)
    return items


def playlist_video_ids_get(*, playlist_id: int) -> list[int]:
    """All the playlist's video ids in its order (published or not), for the students report."""
    rows = PlaylistItem.objects.filter(playlist_id=playlist_id).order_by(*PLAYLIST_ITEM_ORDER)
    return list(rows.values_list("video_id", flat=True))


def playlist_staff_get(*, playlist_id: int) -> Playlist | None:
    return Playlist.objects.filter(pk=playlist_id).first()


def playlist_ids_all() -> list[int]:
    return list(Playlist.objects.order_by("pk").values_list("pk", flat=True))


def playlist_titles_in_bulk(*, playlist_ids: list[int]) -> dict[int, str]:
    return dict(Playlist.objects.filter(pk__in=playlist_ids).values_list("pk", "title"))


def video_upload_get(*, member: Member, upload_id: uuid.UUID) -> VideoUpload | None:
    """The upload `member` started (another staff member's is not theirs to send parts to)."""
    return VideoUpload.objects.filter(pk=upload_id, created_by=member).first()


def video_upload_complete_get(*, upload_id: uuid.UUID) -> VideoUpload | None:
    """A complete upload not yet any video's source (the admin form's token)."""
    return VideoUpload.objects.filter(pk=upload_id, completed_at__isnull=False).first()


def video_upload_parts_stored(*, upload: VideoUpload) -> dict[int, int]:
    """The parts stored so far, {number: length}."""
    if upload.completed_at is not None:
        # Joined into one file: the store no longer knows the upload (S3 forgets it once complete).
        return {n: upload.part_length(n) for n in range(1, upload.part_count + 1)}
    stored = upload_parts_stored(
        storage=default_storage, upload_id=str(upload.id), name=upload.name, s3_upload_id=upload.s3_upload_id
    )
    # The filesystem's markers exist only for whole parts.
    return {n: upload.part_length(n) if length < 0 else length for n, length in stored.items()}


def video_upload_origin() -> str:
    """The origin browsers send upload parts to when it is not the site's: the S3 endpoint."""
    client = s3_client(storage=default_storage)
    if client is None:
        return ""
    parts = urlsplit(client.meta.endpoint_url)
    return f"{parts.scheme}://{parts.netloc}"
