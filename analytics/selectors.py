"""Reads of the analytics app (Cassandra), for views and other apps."""

from __future__ import annotations

from analytics.cassandra import READ_PROFILE, cassandra_prepared, cassandra_session

SELECT_RESUME = "SELECT position FROM {ks}.resume_positions WHERE user_id = ? AND video_id = ?"


def resume_position_get(*, user_id: int, video_id: int) -> int | None:
    """The second where the member last stopped in the video, or None if never watched."""
    row = (
        cassandra_session()
        .execute(cassandra_prepared(SELECT_RESUME), (user_id, video_id), execution_profile=READ_PROFILE)
        .one()
    )
    return None if row is None else int(row.position)
