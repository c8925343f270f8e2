"""Request bodies of the analytics endpoints other than the watch batch (whose shape is one of the
rules of analytics/acceptance.py, `WatchBatchIn`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class TokenRenewIn(BaseModel):
    """The open watch page asking for a fresh token for its viewing session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: Annotated[str, Field(min_length=1, max_length=500)]
