"""Request bodies of the videos endpoints, validated before anything else touches them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictFloat, StrictInt, StrictStr

from videos.services import MAX_REPORTED_DURATION_SECONDS


class DurationReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["duration"]
    # Whole seconds once rounded: under one second is no video's duration (and would round to 0),
    # so it is refused here with a message rather than reaching the service. allow_inf_nan=False:
    # JSON has no Infinity, but lenient parsers accept it.
    seconds: Annotated[StrictFloat | StrictInt, Field(ge=1, le=MAX_REPORTED_DURATION_SECONDS, allow_inf_nan=False)]


class UnavailableReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["unavailable"]
    # YouTube's onError number, a MediaError code, or a provider's error name.
    code: Annotated[StrictInt, Field(ge=0, le=10**6)] | Annotated[StrictStr, Field(min_length=1, max_length=32)]


class PlayerReportIn(RootModel[DurationReportIn | UnavailableReportIn]):
    root: Annotated[DurationReportIn | UnavailableReportIn, Field(discriminator="kind")]


class UploadStartIn(BaseModel):
    """The admin's upload form starting a resumable upload (videos/admin_upload.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filename: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    # Checked against MEDIA_UPLOAD_MAX_BYTES by the service, with a message that names the limit.
    size: Annotated[StrictInt, Field(ge=0, le=2**62)]
