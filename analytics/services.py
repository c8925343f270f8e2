"""Writes of the analytics app a member asks for: their continue-watching row and their progress.

The rest of analytics' writes live by job: analytics/acceptance.py (is a batch acceptable, queue
it), analytics/viewing.py (viewing sessions and tokens), analytics/drain.py (stream to Cassandra,
dead letters), analytics/recount.py (watched counts), analytics/erasure.py (a member's erasure),
analytics/rollups.py (staff figures).
"""

from __future__ import annotations

from analytics.cassandra import cassandra_execute_all, cassandra_prepared
from analytics.students import course_members_refresh

HIDE = "UPDATE {ks}.member_videos SET hidden = true WHERE user_id = ? AND video_id = ?"
MARK_WATCHED = "UPDATE {ks}.member_videos SET marked_watched = true WHERE user_id = ? AND video_id = ?"
FORGET = "DELETE FROM {ks}.member_videos WHERE user_id = ? AND video_id = ?"
FORGET_COVERAGE = "DELETE FROM {ks}.member_video_coverage WHERE user_id = ? AND video_id = ?"


def member_video_hide(*, user_id: int, video_id: int) -> None:
    """Remove a video from the member's continue-watching row (until they watch it again)."""
    cassandra_execute_all([(cassandra_prepared(HIDE), (user_id, video_id))])


def member_video_mark_watched(*, user_id: int, video_id: int) -> None:
    cassandra_execute_all([(cassandra_prepared(MARK_WATCHED), (user_id, video_id))])
    course_members_refresh(touched=[(user_id, video_id)])


def member_video_mark_unwatched(*, user_id: int, video_id: int) -> None:
    """Forget the member's position and coverage of the video (raw events stay for analytics)."""
    cassandra_execute_all(
        [(cassandra_prepared(statement), (user_id, video_id)) for statement in (FORGET, FORGET_COVERAGE)]
    )
    course_members_refresh(touched=[(user_id, video_id)])
