"""Request bodies of the analytics endpoints, validated before anything else touches them."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

# 20 s of playback at the fastest rate a session may report: the tracker flushes every 10 s.
MAX_EVENTS_PER_BATCH = 200
# The fastest playback rate any of our players offers is 2x; 4 leaves room, and bounds the
# seconds-per-wall-clock allowance of a session (analytics.stream._ENQUEUE_LUA).
MAX_PLAYBACK_RATE = 4
# A batch body: 200 events of ~55 bytes plus the token, well under this.
MAX_BODY_BYTES = 16 * 1024
# No catalogue entry is longer than a day.
MAX_POSITION = 24 * 3600


class WatchEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    position: Annotated[StrictInt, Field(ge=0, le=MAX_POSITION)]
    # Milliseconds since the Unix epoch, counted by the tracker from the server's issue time; the
    # service checks it against the viewing session (analytics.services.watch_batch_accept).
    client_ts: Annotated[StrictInt, Field(ge=0, le=2**53)]
    rate: Annotated[StrictFloat | StrictInt, Field(ge=0.0625, le=MAX_PLAYBACK_RATE, allow_inf_nan=False)] = 1.0

    @field_validator("rate")
    @classmethod
    def _as_float(cls, value: float) -> float:
        return float(value)


class WatchBatchIn(BaseModel):
    """One flush of the browser tracker: seconds watched of one video in one viewing session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    video_id: Annotated[StrictInt, Field(ge=1)]
    session_id: uuid.UUID
    events: Annotated[list[WatchEventIn], Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)]
    # The watch page's signed viewing-session token (analytics.services.viewing_session_start).
    token: Annotated[str, Field(max_length=500)] | None = None

    @field_validator("session_id")
    @classmethod
    def _v4(cls, value: uuid.UUID) -> uuid.UUID:
        if value.version != 4:
            raise ValueError("must be a version-4 UUID (crypto.randomUUID())")
        return value


class TokenRenewIn(BaseModel):
    """The open watch page asking for a fresh token for its viewing session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: Annotated[str, Field(min_length=1, max_length=500)]
