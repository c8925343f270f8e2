"""Request bodies of the analytics endpoints, validated before anything else touches them."""

from __future__ import annotations

import math
import time
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

MAX_EVENTS_PER_BATCH = 600
# A browser clock may run ahead of ours; beyond this a timestamp is refused as from the future.
CLOCK_SKEW_MS = 5 * 60 * 1000
# Batches kept in a browser's localStorage are resent later; older than this they are refused.
MAX_EVENT_AGE_MS = 30 * 24 * 3600 * 1000


class WatchEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    position: Annotated[StrictInt, Field(ge=0, le=24 * 3600)]
    client_ts: Annotated[StrictInt, Field(description="milliseconds since the Unix epoch, browser clock")]
    rate: Annotated[StrictFloat | StrictInt, Field(ge=0.0625, le=16)] = 1.0

    @field_validator("client_ts")
    @classmethod
    def _recent(cls, value: int) -> int:
        now = int(time.time() * 1000)
        if value > now + CLOCK_SKEW_MS:
            raise ValueError("is in the future")
        if value < now - MAX_EVENT_AGE_MS:
            raise ValueError("is older than 30 days")
        return value

    @field_validator("rate")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return float(value)


class WatchBatchIn(BaseModel):
    """One flush of the browser tracker: seconds watched of one video in one viewing session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    video_id: Annotated[StrictInt, Field(ge=1)]
    session_id: uuid.UUID
    events: Annotated[list[WatchEventIn], Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)]
    # Only on the sendBeacon path: the signed per-page token (see viewing_session_start).
    token: Annotated[str, Field(max_length=500)] | None = None

    @field_validator("session_id")
    @classmethod
    def _v4(cls, value: uuid.UUID) -> uuid.UUID:
        if value.version != 4:
            raise ValueError("must be a version-4 UUID (crypto.randomUUID())")
        return value
