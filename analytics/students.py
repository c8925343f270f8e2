"""The staff students report: per course (a playlist), each member's progress, exact, from Cassandra.

Tables (analytics/models.py): course_members (partition playlist_id, a row per member who started
the course) and course_member_order (the same members sorted by one figure within one status, so a
page of the report is one slice read). Both are derived from member_videos and recomputed, never
incremented, so delivering a batch twice changes nothing:

- a member's rows are recomputed (one member_videos partition read) whenever their member_videos
  rows change: the drain's watched-count recount (analytics.recount, which follows every batch),
  "mark as watched" / "mark unwatched" (analytics.services), and erased on account deletion;
- a whole course is recounted (`course_members_recount`) when its items change (a PlaylistItem
  saved or deleted: analytics.receivers queues `course_members_recount_task` after the commit), so
  an added or removed item changes every member's total and % at once; `manage.py
  course_members_rebuild` runs the same recount for every course (backfill of existing data).

Definitions (the same on the page, in the CSV and here):
- a course's items: every video staff put in the playlist;
- started: the member has a position, watched seconds, or "marked as watched" on any item;
- completed item: the video's completion rule (analytics.selectors.is_complete, or marked watched);
- % complete: items completed / items, rounded down; completed: every item completed; in progress:
  started and not completed; inactive 14 days: in progress, last watched over 14 days ago;
- watch time: distinct seconds watched over the course's videos (re-watching adds nothing);
- not started: an active member with a confirmed email address and no row in the course (every such
  member may open every course, so they are its enrolled members).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from accounts.selectors import member_confirmed_page, member_emails_in_bulk
from analytics.cassandra import (
    READ_PROFILE,
    cassandra_execute_all,
    cassandra_prepared,
    cassandra_session,
)
from analytics.models import VIDEO_MEMBER_SHARDS
from analytics.selectors import is_complete, watched_seconds_sum
from videos.selectors import playlist_video_ids_containing, playlist_video_ids_get, video_durations_in_bulk

STARTED, IN_PROGRESS, COMPLETED, INACTIVE, NOT_STARTED = (
    "started",
    "in_progress",
    "completed",
    "inactive",
    "not_started",
)
FILTERS = (STARTED, IN_PROGRESS, COMPLETED, INACTIVE, NOT_STARTED)
SORTS = ("last", "percent", "watch")
INACTIVE_DAYS = 14
# Members recomputed per round of reads and writes (bounds a recount's memory and requests in flight).
CHUNK = 500

SELECT_STATE = (
    "SELECT video_id, position, last_watched, watched_buckets, marked_watched FROM {ks}.member_videos "
    "WHERE user_id = ? AND video_id IN ?"
)
SELECT_ROWS = (
    "SELECT user_id, items_completed, items_total, watch_seconds, last_watched FROM {ks}.course_members "
    "WHERE playlist_id = ? AND user_id IN ?"
)
SELECT_ALL_ROWS = (
    "SELECT user_id, items_completed, items_total, watch_seconds, last_watched FROM {ks}.course_members "
    "WHERE playlist_id = ?"
)
SELECT_VIDEO_MEMBER_IDS = "SELECT user_id FROM {ks}.video_members WHERE video_id = ? AND shard = ?"
UPSERT_ROW = (
    "UPDATE {ks}.course_members USING TIMESTAMP ? SET items_completed = ?, items_total = ?, watch_seconds = ?, "
    "last_watched = ?, as_of = ? WHERE playlist_id = ? AND user_id = ?"
)
DELETE_ROW = "DELETE FROM {ks}.course_members USING TIMESTAMP ? WHERE playlist_id = ? AND user_id = ?"
INSERT_ORDER = (
    "INSERT INTO {ks}.course_member_order (playlist_id, status, sort, value, user_id) VALUES (?, ?, ?, ?, ?) "
    "USING TIMESTAMP ?"
)
DELETE_ORDER = (
    "DELETE FROM {ks}.course_member_order USING TIMESTAMP ? WHERE playlist_id = ? AND status = ? AND sort = ? "
    "AND value = ? AND user_id = ?"
)
_ORDER_COLUMNS = "SELECT value, user_id FROM {ks}.course_member_order WHERE playlist_id = ? AND status = ? AND sort = ?"
SELECT_ORDER = {
    (False, False): _ORDER_COLUMNS + " LIMIT ?",
    (False, True): _ORDER_COLUMNS + " AND (value, user_id) > (?, ?) LIMIT ?",
    (True, False): _ORDER_COLUMNS + " ORDER BY value DESC, user_id DESC LIMIT ?",
    (True, True): _ORDER_COLUMNS + " AND (value, user_id) < (?, ?) ORDER BY value DESC, user_id DESC LIMIT ?",
}


@dataclass(frozen=True)
class CourseProgress:
    """One member's figures in one course (a course_members row)."""

    items_completed: int
    items_total: int
    watch_seconds: int
    last_watched: datetime | None  # naive UTC, millisecond precision, as Cassandra returns it

    @property
    def percent(self) -> int:
        return 100 * self.items_completed // self.items_total if self.items_total else 0

    @property
    def status(self) -> str:
        return COMPLETED if self.items_total and self.items_completed >= self.items_total else IN_PROGRESS

    @property
    def last_watched_ms(self) -> int:
        return int(self.last_watched.replace(tzinfo=UTC).timestamp() * 1000) if self.last_watched else 0

    def value(self, sort: str) -> int:
        if sort == "last":
            return self.last_watched_ms
        return self.percent if sort == "percent" else self.watch_seconds

    def order_keys(self) -> set[tuple[str, str, int]]:
        """(status, sort, value) of each of the member's course_member_order rows."""
        return {(status, sort, self.value(sort)) for status in (STARTED, self.status) for sort in SORTS}


def course_progress_compute(
    *, rows: Iterable[Any], video_ids: Sequence[int], durations: Mapping[int, int | None]
) -> CourseProgress | None:
    """A member's figures in a course from their member_videos rows (None: not started)."""
    in_course = set(video_ids)
    started = completed = seconds = 0
    last: datetime | None = None
    for row in rows:
        if row.video_id not in in_course:
            continue
        watched = watched_seconds_sum(buckets=row.watched_buckets)
        if row.position is None and not watched and not row.marked_watched:
            continue
        started += 1
        seconds += watched
        if row.marked_watched or is_complete(seconds=watched, duration=durations.get(row.video_id)):
            completed += 1
        if row.last_watched is not None and (last is None or row.last_watched > last):
            last = row.last_watched
    if not started:
        return None
    return CourseProgress(completed, len(in_course), seconds, last)


def _progress_of(row: Any) -> CourseProgress:
    return CourseProgress(row.items_completed or 0, row.items_total or 0, row.watch_seconds or 0, row.last_watched)


def _rows_write_statements(
    *, playlist_id: int, old: CourseProgress | None, new: CourseProgress | None, user_id: int, read_at: int
) -> list[tuple[Any, Sequence[Any]]]:
    """The writes that take a member's course rows from `old` to `new` (none when equal, so a
    replayed batch writes nothing). Old order rows go 1 us before the new ones: a key in both stays."""
    if old == new:
        return []
    statements: list[tuple[Any, Sequence[Any]]] = []
    delete_order = cassandra_prepared(DELETE_ORDER)
    for status, sort, value in old.order_keys() if old else ():
        statements.append((delete_order, (read_at - 1, playlist_id, status, sort, value, user_id)))
    if new is None:
        statements.append((cassandra_prepared(DELETE_ROW), (read_at, playlist_id, user_id)))
        return statements
    as_of = datetime.fromtimestamp(read_at / 1_000_000, tz=UTC)
    statements.append(
        (
            cassandra_prepared(UPSERT_ROW),
            (
                read_at,
                new.items_completed,
                new.items_total,
                new.watch_seconds,
                new.last_watched,
                as_of,
                playlist_id,
                user_id,
            ),
        )
    )
    insert_order = cassandra_prepared(INSERT_ORDER)
    for status, sort, value in new.order_keys():
        statements.append((insert_order, (playlist_id, status, sort, value, user_id, read_at)))
    return statements


def _rows_get(*, playlist_id: int, user_ids: list[int]) -> dict[int, CourseProgress]:
    select = cassandra_prepared(SELECT_ROWS)
    chunks = [user_ids[i : i + 100] for i in range(0, len(user_ids), 100)]
    reads = cassandra_execute_all([(select, (playlist_id, chunk)) for chunk in chunks], read=True)
    return {row.user_id: _progress_of(row) for result in reads for row in result}


def _members_recompute(*, courses: Mapping[int, list[int]], members: Mapping[int, set[int]]) -> int:
    """Recompute the course rows of each (course, member) in `members` (member → the courses to
    recompute); `courses` gives each course's video ids. Returns the rows written or deleted."""
    durations = video_durations_in_bulk(video_ids=sorted({v for videos in courses.values() for v in videos}))
    user_ids = list(members)
    read_at = int(time.time() * 1_000_000)
    select = cassandra_prepared(SELECT_STATE)
    states = cassandra_execute_all(
        [(select, (u, sorted({v for p in members[u] for v in courses[p]}))) for u in user_ids], read=True
    )
    by_course: dict[int, list[int]] = defaultdict(list)
    for user_id in user_ids:
        for playlist_id in members[user_id]:
            by_course[playlist_id].append(user_id)
    old = {p: _rows_get(playlist_id=p, user_ids=users) for p, users in by_course.items()}
    statements: list[tuple[Any, Sequence[Any]]] = []
    changed = 0
    for user_id, result in zip(user_ids, states, strict=True):
        rows = list(result)
        for playlist_id in members[user_id]:
            new = course_progress_compute(rows=rows, video_ids=courses[playlist_id], durations=durations)
            writes = _rows_write_statements(
                playlist_id=playlist_id, old=old[playlist_id].get(user_id), new=new, user_id=user_id, read_at=read_at
            )
            changed += bool(writes)
            statements += writes
    cassandra_execute_all(statements)
    return changed


def course_members_refresh(*, touched: Iterable[tuple[int, int]]) -> int:
    """Recompute the course rows of members whose member_videos rows of these (member, video) pairs
    changed, in every course holding those videos. Returns the member rows that changed."""
    videos_of: dict[int, set[int]] = defaultdict(set)
    for user_id, video_id in touched:
        videos_of[user_id].add(video_id)
    if not videos_of:
        return 0
    courses = playlist_video_ids_containing(video_ids=sorted({v for vs in videos_of.values() for v in vs}))
    if not courses:
        return 0
    courses_of_video: dict[int, set[int]] = defaultdict(set)
    for playlist_id, video_ids in courses.items():
        for video_id in video_ids:
            courses_of_video[video_id].add(playlist_id)
    members = {u: {p for v in vs for p in courses_of_video.get(v, ())} for u, vs in videos_of.items()}
    members = {u: ps for u, ps in members.items() if ps}
    changed = 0
    user_ids = list(members)
    for start in range(0, len(user_ids), CHUNK):
        chunk = {u: members[u] for u in user_ids[start : start + CHUNK]}
        changed += _members_recompute(courses=courses, members=chunk)
    return changed


def course_members_recount(*, playlist_id: int) -> int:
    """Recompute every member's row of one course (its items changed, or a backfill): the members
    already in it and every member with coverage of any of its videos (video_members). Returns the
    rows that changed."""
    video_ids = playlist_video_ids_get(playlist_id=playlist_id)
    session = cassandra_session()
    candidates = {
        row.user_id
        # Iterating a result set fetches the next page (the session's fetch_size) as it goes.
        for row in session.execute(cassandra_prepared(SELECT_ALL_ROWS), (playlist_id,), execution_profile=READ_PROFILE)
    }
    select = cassandra_prepared(SELECT_VIDEO_MEMBER_IDS)
    reads = cassandra_execute_all(
        [(select, (v, shard)) for v in video_ids for shard in range(VIDEO_MEMBER_SHARDS)], read=True
    )
    # Erased members' history is kept under negative ids (analytics.erasure): not members any more.
    candidates |= {row.user_id for result in reads for row in result if row.user_id > 0}
    courses = {playlist_id: video_ids}
    ordered = sorted(candidates)
    changed = 0
    for start in range(0, len(ordered), CHUNK):
        changed += _members_recompute(
            courses=courses, members={u: {playlist_id} for u in ordered[start : start + CHUNK]}
        )
    return changed


def course_member_erase(*, user_id: int, playlist_ids: Iterable[int]) -> None:
    """Delete the member's rows from these courses (account deletion)."""
    read_at = int(time.time() * 1_000_000)
    statements: list[tuple[Any, Sequence[Any]]] = []
    for playlist_id in playlist_ids:
        old = _rows_get(playlist_id=playlist_id, user_ids=[user_id]).get(user_id)
        statements += _rows_write_statements(
            playlist_id=playlist_id, old=old, new=None, user_id=user_id, read_at=read_at
        )
        if old is None:  # a retry after a partial erasure: the row may be gone and order rows left
            statements.append((cassandra_prepared(DELETE_ROW), (read_at, playlist_id, user_id)))
    cassandra_execute_all(statements)


# --- Reads: the report's pages and CSV -----------------------------------------------------------


@dataclass(frozen=True)
class StudentRow:
    user_id: int
    email: str
    progress: CourseProgress | None  # None: not started


@dataclass(frozen=True)
class StudentsPage:
    rows: list[StudentRow]
    next_cursor: str | None  # "<value>.<user_id>" of the last row shown ("<user_id>" for not started)


def _cursor_parse(cursor: str | None) -> tuple[int, int] | None:
    """A hostile client value: two ints or nothing (the view turns ValueError into a 400)."""
    if not cursor:
        return None
    value, _, user_id = cursor.partition(".")
    parsed = int(value), int(user_id or "0")
    if not all(-(2**63) <= n < 2**63 for n in parsed):
        raise ValueError("cursor out of range")
    return parsed


def course_students_page(
    *,
    playlist_id: int,
    status: str,
    sort: str,
    descending: bool,
    cursor: str | None,
    limit: int = 50,
    now: datetime | None = None,
) -> StudentsPage:
    """One page of the students report. Reads one slice of course_member_order, then those members'
    course_members rows (an entry that no longer matches its row is skipped: a race left it; deleting
    it here could race the write that is about to make it right), then their
    addresses: a few milliseconds whatever the course's size. `inactive` is always oldest first."""
    if status not in FILTERS or sort not in SORTS:
        raise ValueError("unknown filter or sort")
    after = _cursor_parse(cursor)
    if status == NOT_STARTED:
        return _not_started_page(playlist_id=playlist_id, after_id=after[0] if after else 0, limit=limit)
    cutoff_ms = None
    if status == INACTIVE:
        status, sort, descending = IN_PROGRESS, "last", False
        cutoff = (now or datetime.now(tz=UTC)) - timedelta(days=INACTIVE_DAYS)
        cutoff_ms = int(cutoff.timestamp() * 1000)
    session = cassandra_session()
    found: list[tuple[int, CourseProgress]] = []
    more = True
    for _ in range(5):  # stale entries are rare: a few more slices at most
        statement = cassandra_prepared(SELECT_ORDER[(descending, after is not None)])
        params = (playlist_id, status, sort, *(after or ()), limit + 1 - len(found))
        entries = [(r.value, r.user_id) for r in session.execute(statement, params, execution_profile=READ_PROFILE)]
        more = len(entries) == params[-1]
        if cutoff_ms is not None and any(value >= cutoff_ms for value, _ in entries):
            entries, more = [(v, u) for v, u in entries if v < cutoff_ms], False
        rows = _rows_get(playlist_id=playlist_id, user_ids=[u for _, u in entries])
        for value, user_id in entries:
            progress = rows.get(user_id)
            if progress is not None and (status, sort, value) in progress.order_keys():
                found.append((user_id, progress))
        if entries:
            after = entries[-1]
        if not more or len(found) > limit:
            break
    has_next = len(found) > limit
    found = found[:limit]
    emails = member_emails_in_bulk(user_ids=[u for u, _ in found])
    last = found[-1] if found else None
    return StudentsPage(
        rows=[StudentRow(u, emails.get(u, f"member {u} (deleted)"), p) for u, p in found],
        next_cursor=f"{last[1].value(sort)}.{last[0]}" if has_next and last else None,
    )


def _not_started_page(*, playlist_id: int, after_id: int, limit: int) -> StudentsPage:
    """Confirmed members by id, without a row in the course. Each round reads a few hundred
    members and checks them in one course_members read; a page stops after 10 rounds even if short
    (a course nearly everyone started), with a cursor to go on."""
    rows: list[StudentRow] = []
    last_id = after_id
    exhausted = False
    for _ in range(10):
        candidates = member_confirmed_page(after_id=last_id, limit=200)
        if not candidates:
            exhausted = True
            break
        started = _rows_get(playlist_id=playlist_id, user_ids=[u for u, _ in candidates])
        for user_id, email in candidates:
            if user_id not in started:
                rows.append(StudentRow(user_id, email, None))
            last_id = user_id
            if len(rows) == limit:
                break
        if len(rows) == limit:
            break
    return StudentsPage(rows=rows, next_cursor=None if exhausted else str(last_id))


def course_students_csv_rows(*, playlist_id: int, now: datetime | None = None) -> Iterator[list[str]]:
    """Every member who started the course, by member id, read in pages of 1,000 rows (memory stays
    bounded whatever the course's size): member id, email, status, %, items, watch seconds, last
    watched (ISO 8601, UTC)."""
    cutoff = (now or datetime.now(tz=UTC)) - timedelta(days=INACTIVE_DAYS)
    yield ["member_id", "email", "status", "percent_complete", "items_completed", "items_total",
           "watch_seconds", "last_watched_utc", "inactive_14_days"]  # fmt: skip
    statement = cassandra_prepared(SELECT_ALL_ROWS).bind((playlist_id,))
    statement.fetch_size = 1000
    result = cassandra_session().execute(statement, execution_profile=READ_PROFILE)
    while True:
        page = [(row.user_id, _progress_of(row)) for row in result.current_rows]
        emails = member_emails_in_bulk(user_ids=[u for u, _ in page])
        for user_id, p in page:
            last = p.last_watched.replace(tzinfo=UTC) if p.last_watched else None
            inactive = p.status == IN_PROGRESS and (last is None or last < cutoff)
            yield [
                str(user_id),
                emails.get(user_id, ""),
                p.status,
                str(p.percent),
                str(p.items_completed),
                str(p.items_total),
                str(p.watch_seconds),
                last.isoformat() if last else "",
                "yes" if inactive else "no",
            ]
        if not result.has_more_pages:
            return
        result.fetch_next_page()


# --- A member's courses and videos (their admin page) ---------------------------------------------

SELECT_MEMBER_STATE = (
    "SELECT video_id, position, last_watched, watched_buckets, marked_watched FROM {ks}.member_videos WHERE user_id = ?"
)


@dataclass(frozen=True)
class MemberCourses:
    courses: list[tuple[int, CourseProgress]]  # (playlist id, progress), most recently watched first
    videos: list[tuple[int, int, bool, datetime | None]]  # (video id, seconds watched, completed, last watched)
    durations: dict[int, int | None]


def member_courses_get(*, user_id: int) -> MemberCourses:
    """The member's progress in every course they started and on every video they touched, computed
    live from their member_videos partition (one read) with the report's own rules."""
    rows = list(
        cassandra_session().execute(cassandra_prepared(SELECT_MEMBER_STATE), (user_id,), execution_profile=READ_PROFILE)
    )
    video_ids = [row.video_id for row in rows]
    courses = playlist_video_ids_containing(video_ids=video_ids) if video_ids else {}
    durations = video_durations_in_bulk(video_ids=sorted(set(video_ids) | {v for vs in courses.values() for v in vs}))
    progress = [
        (playlist_id, p)
        for playlist_id, items in courses.items()
        if (p := course_progress_compute(rows=rows, video_ids=items, durations=durations)) is not None
    ]
    progress.sort(key=lambda pair: -pair[1].last_watched_ms)
    videos = []
    for row in rows:
        seconds = watched_seconds_sum(buckets=row.watched_buckets)
        done = bool(row.marked_watched) or is_complete(seconds=seconds, duration=durations.get(row.video_id))
        videos.append((row.video_id, seconds, done, row.last_watched))
    videos.sort(key=lambda v: v[3].isoformat() if v[3] else "", reverse=True)
    return MemberCourses(courses=progress, videos=videos, durations=durations)
