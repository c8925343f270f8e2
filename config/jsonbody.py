"""One way to turn a JSON request body into a pydantic model, or into a 4xx that says why.

Every JSON endpoint (watch batches, player reports) goes through `json_body_validate` (raw bytes, for
handlers that run outside Django's request machinery) or `json_request_validate` (a Django request).
What a hostile body cannot do here, whatever its shape:
- be larger than `max_bytes` (413; the length header is checked before the body is read);
- arrive as anything but `application/json` (415: multipart and form bodies are never parsed);
- nest deeper than pydantic's JSON parser allows (jiter stops at depth 200 with a parse error, no
  RecursionError), or be invalid UTF-8/JSON (400);
- make the error answer large: at most MAX_ERRORS field errors go back, without the input values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from django.http import HttpRequest, JsonResponse
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

DEFAULT_MAX_BYTES = 16 * 1024
MAX_ERRORS = 20
JSON_CONTENT_TYPES = frozenset({"application/json"})


@dataclass
class BodyError(Exception):
    """A refused body: `status` (400/413/415), a sentence for people, field errors for programs."""

    status: int
    message: str
    errors: list[dict[str, str]] = field(default_factory=list)

    def response(self) -> JsonResponse:
        body: dict[str, object] = {"error": self.message}
        if self.errors:
            body["errors"] = self.errors
        return JsonResponse(body, status=self.status)


def media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return content_type.split(";", 1)[0].strip().lower()


def json_body_validate(*, body: bytes, content_type: str, schema: type[M], message: str = "invalid body") -> M:
    """Validate `body` against `schema`; raises BodyError (never anything else) when it does not fit."""
    if media_type(content_type) not in JSON_CONTENT_TYPES:
        raise BodyError(415, "send the body as application/json")
    try:
        return schema.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise BodyError(400, "body must be JSON (UTF-8, at most 200 levels deep)") from None
        raise BodyError(
            400,
            message,
            errors=[
                {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "reason": err["msg"]}
                for err in errors[:MAX_ERRORS]
            ],
        ) from None


def request_body_read(request: HttpRequest, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The body of `request`, refusing (413) more than `max_bytes` before reading it all."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BodyError(400, "bad Content-Length") from None
    if declared > max_bytes:
        raise BodyError(413, f"body too large (at most {max_bytes} bytes)")
    body = request.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise BodyError(413, f"body too large (at most {max_bytes} bytes)")
    return body


def json_request_validate(
    request: HttpRequest, *, schema: type[M], max_bytes: int = DEFAULT_MAX_BYTES, message: str = "invalid body"
) -> M:
    """`json_body_validate` for a Django request (content type checked before the body is read)."""
    if media_type(request.content_type or "") not in JSON_CONTENT_TYPES:
        raise BodyError(415, "send the body as application/json")
    return json_body_validate(
        body=request_body_read(request, max_bytes=max_bytes),
        content_type=request.content_type or "",
        schema=schema,
        message=message,
    )
