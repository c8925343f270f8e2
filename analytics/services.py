"""Writes of the analytics app a member asks for: their continue-watching row and their progress.

The rest of analytics' writes live by job: analytics/acceptance.py (is a batch acceptable, queue
it), analytics/viewing.py (viewing sessions and tokens), analytics/drain.py (stream to Cassandra,
dead letters), analytics/recount.py (watched counts), analytics/erasure.py (a member's erasure),
analytics/rollups.py (staff figures).
"""

from __future__ import annotations

import time

from analytics.cassandra import cassandra_execute_all, cassandra_prepared
from analytics.students import course_members_refresh

HIDE = "UPDATE {ks}.member_videos SET hidden = true WHERE user_id = ? AND video_id = ?"
# The position is cleared with the server's time as its write time (microseconds, like the drain's
# client-time writes of it): "Mark as watched" ends the resume offer, a batch watched later (newer
# event time) offers it again, and a late batch watched before the mark does not bring it back.
MARK_WATCHED = (
    "UPDATE {ks}.member_videos USING TIMESTAMP ? SET marked_watched = true, position = null "
    "WHERE user_id = ? AND video_id = ?"
)
FORGET = "DELETE FROM {ks}.member_videos WHERE user_id = ? AND video_id = ?"
FORGET_COVERAGE = "DELETE FROM {ks}.member_video_coverage WHERE user_id = ? AND video_id = ?"
KEEP_TITLE = "UPDATE {ks}.video_rollups SET title = ? WHERE video_id = ?"


def member_video_hide(*, user_id: int, video_id: int) -> None:
    """Remove a video from the member's continue-watching row (until they watch it again)."""
    cassandra_execute_all([(cassandra_prepared(HIDE), (user_id, video_id))])


def member_video_mark_watched(*, user_id: int, video_id: int) -> None:
    """Complete the video for the member and stop offering to resume it."""
    now_micros = time.time_ns() // 1000
    cassandra_execute_all([(cassandra_prepared(MARK_WATCHED), (now_micros, user_id, video_id))])
    course_members_refresh(touched=[(user_id, video_id)])


def member_video_mark_unwatched(*, user_id: int, video_id: int) -> None:
    """Forget the member's position and coverage of the video (raw events stay for analytics)."""
    cassandra_execute_all(
        [(cassandra_prepared(statement), (user_id, video_id)) for statement in (FORGET, FORGET_COVERAGE)]
    )
    course_members_refresh(touched=[(user_id, video_id)])


def video_last_title_keep(*, video_id: int, title: str) -> None:
    """Keep a video's title in its rollup partition (no TTL: a static column), so staff pages and
    exports name it after the catalogue deleted it."""
    cassandra_execute_all([(cassandra_prepared(KEEP_TITLE), (title, video_id))])
