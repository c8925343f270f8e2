"""The watch-batch endpoint: POST /api/watch/ and /api/watch/beacon/ ahead of Django's stack.

config/dispatch.py hands these two paths to `watch_ingest_app` before Django's URL resolver and
middleware. No SQL query per batch, no session or user row, no CSRF middleware:

- Who: the signed viewing-session token in the body (issued by the watch page to a logged-in
  member, analytics/viewing.py) is the credential. `watch_batch_accept` (analytics/acceptance.py)
  verifies its signature, age and binding to the body's video and session, and the Lua call its
  generation, which logout, password change, deactivation and erasure bump: a revoked token is
  refused at once.
- Cross-site requests: the token is not a cookie, so a browser never attaches it to another site's
  request; on top, only `application/json` is accepted (a cross-site form cannot send it without a
  CORS preflight, which this handler never answers), and `Origin` / `Sec-Fetch-Site`, when the
  browser sends them, must say same-origin.
- Which videos: published ones, from the per-process snapshot of the catalogue (id -> duration,
  videos.selectors.video_published_durations) reloaded at most every CATALOGUE_SNAPSHOT_SECONDS (one
  query per process per period, whatever the traffic; an unknown id costs nothing).
  Access: the watch page issues a token only to a confirmed member whom
  `videos.selectors.video_access_get` lets watch, and the token says whether the video was
  members-only then; every batch is checked against the snapshot's current access and
  availability, so a video made members-only or unavailable refuses the next batch of a token
  issued before. Tokens are short-lived (WATCH_TOKEN_TTL_SECONDS; the open page renews them).
- Logging: no access log line per batch (gunicorn.conf.py skips these paths); requests, refusals
  and accepted events are counted in /metrics (config/metrics.py buffers them in-process).

Where Django itself routes these paths (its test client, ASGI), analytics/views.py
`watch_batch_create` hands the request to `watch_ingest_respond`: one implementation of the endpoint.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.db import connections
from django.http.request import split_domain_port, validate_host
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from analytics.acceptance import MAX_BODY_BYTES, BatchRefused, Enqueued, VideoLimits, WatchBatchIn, watch_batch_accept
from analytics.tasks import watch_stream_drain_task
from config.jsonbody import BodyError, json_body_validate, media_type
from config.metrics import counter_inc, histogram_observe
from videos.selectors import CatalogueUnavailable, video_published_access

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestAnswer:
    status: int
    body: dict[str, Any]
    retry_after: int = 0


def _refused(
    status: int, message: str, *, retry_after: int = 0, errors: list[dict[str, str]] | None = None
) -> IngestAnswer:
    counter_inc("watchpoint_watch_batches_rejected", status=str(status))
    return IngestAnswer(status, {"error": message, **({"errors": errors} if errors else {})}, retry_after)


def watch_batch_ingest(*, batch: WatchBatchIn) -> IngestAnswer:
    """Accept a parsed batch for the member its token names."""
    if not batch.token:
        return _refused(401, "log in to record watching")
    # Only which member the token names, unverified: watch_batch_accept checks the signature and
    # that this member, video and session are the ones it binds (else 403).
    user_id = _token_member(batch.token)
    if user_id is None:
        return _refused(403, "token missing, expired or not for this member, video and session")
    try:
        video = video_limits_get(batch.video_id)
    except CatalogueUnavailable:
        return _refused(503, "tracking is briefly unavailable; keep the batch and retry", retry_after=5)
    if video is None:
        return _refused(404, "no such video, or you may not watch it")
    try:
        outcome = watch_batch_accept(user_id=user_id, video=video, batch=batch)
    except BatchRefused as exc:
        return _refused(exc.status, exc.message, retry_after=exc.retry_after_seconds, errors=exc.errors)
    except (RedisConnectionError, RedisTimeoutError):
        logger.warning("watch batch refused: Redis unreachable")
        return _refused(503, "tracking is briefly unavailable; keep the batch and retry", retry_after=5)
    if outcome.status is Enqueued.QUEUED_WAKE_DRAIN:
        try:
            watch_stream_drain_task.delay()
        except OperationalError:
            # The batch is already durable in the stream; the beat drain will pick it up.
            logger.warning("could not wake a drain task; the periodic drain will store the batch")
    counter_inc("watchpoint_watch_events_accepted", len(batch.events))
    return IngestAnswer(202, {"accepted": len(batch.events)})


def _token_member(token: str) -> int | None:
    """The member id in a django.core.signing token ("<base64 json>:<timestamp>:<signature>"), read
    without verifying: the one verification is watch_batch_accept's."""
    try:
        payload = token.split(":", 1)[0]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        member = claims["u"]
    except (ValueError, TypeError, KeyError):
        return None
    return member if isinstance(member, int) and member > 0 else None


def video_limits_get(video_id: int) -> VideoLimits | None:
    # The per-process catalogue snapshot (videos.selectors): no SQL query per batch.
    found = video_published_access().get(video_id)
    return (
        None
        if found is None
        else VideoLimits(video_id, found.duration, found.members_only, found.available, found.paid)
    )


# --- WSGI -----------------------------------------------------------------------------------------

_VIEWS = {"/api/watch/": "analytics:watch-batch", "/api/watch/beacon/": "analytics:watch-beacon"}
_JSON = "application/json"
_SAME_SITE_FETCH = frozenset({"same-origin", "none"})


def watch_ingest_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """WSGI handler of the two watch-batch paths (routed by config/dispatch.py ahead of Django)."""
    started = time.perf_counter()
    # Ahead of Django, the request_started/finished signals that manage database connections are
    # not sent: do what they do for the one database this path may use (the catalogue snapshot's
    # reload). Not close_old_connections(): django-cassandra-engine's alias would open a second
    # Cassandra cluster connection in every web process. (Where Django routes the path, its own
    # request cycle does this, and closing here would close a test's transaction under it.)
    database = connections["default"]
    database.close_if_unusable_or_obsolete()
    try:
        status, headers, body = watch_ingest_respond(environ)
    finally:
        database.close_if_unusable_or_obsolete()
    view = _VIEWS.get(environ.get("PATH_INFO", ""), "analytics:watch-batch")
    counter_inc("watchpoint_http_requests", flush=False, view=view, status=str(status))
    histogram_observe("watchpoint_http_request_duration_seconds", time.perf_counter() - started, view=view)
    phrase = HTTPStatus(status).phrase
    start_response(f"{status} {phrase}", headers)
    return [body]


def watch_ingest_respond(environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """The answer to one request for a watch-batch path: (status, headers, body).

    The one implementation of the endpoint, whoever serves the path: `watch_ingest_app` ahead of
    Django, or analytics/views.py `watch_batch_create` when Django routes it (the test client,
    ASGI), which counts the request in its own middleware."""
    try:
        answer = _handle(environ)
    except Exception:
        logger.exception("watch batch failed")
        answer = IngestAnswer(500, {"error": "server error; keep the batch and retry"})
    body = json.dumps(answer.body, separators=(",", ":")).encode()
    headers = [
        ("Content-Type", _JSON),
        ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
    ]
    if answer.status == 405:
        headers.append(("Allow", "POST"))
    if answer.retry_after:
        headers.append(("Retry-After", str(answer.retry_after)))
    return answer.status, headers, body


def _handle(environ: dict[str, Any]) -> IngestAnswer:
    if environ.get("REQUEST_METHOD") != "POST":
        return IngestAnswer(405, {"error": "POST a batch"})
    host = _host(environ)
    if host is None:
        return _refused(400, "bad Host header")
    if not _same_origin(environ, host):
        return _refused(403, "cross-site requests cannot record watching")
    content_type = environ.get("CONTENT_TYPE", "")
    try:
        if media_type(content_type) != _JSON:
            raise BodyError(415, "send the body as application/json")
        batch = json_body_validate(
            body=_body(environ), content_type=content_type, schema=WatchBatchIn, message="invalid watch batch"
        )
    except BodyError as exc:
        return _refused(exc.status, exc.message, errors=exc.errors)
    return watch_batch_ingest(batch=batch)


def _body(environ: dict[str, Any]) -> bytes:
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BodyError(400, "bad Content-Length") from None
    if declared > MAX_BODY_BYTES:
        raise BodyError(413, f"body too large (at most {MAX_BODY_BYTES} bytes)")
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    # Without a length (chunked), read one byte past the cap to tell "too large" from "exactly full".
    body: bytes = environ["wsgi.input"].read(MAX_BODY_BYTES + 1 if chunked else declared)
    if len(body) > MAX_BODY_BYTES:
        raise BodyError(413, f"body too large (at most {MAX_BODY_BYTES} bytes)")
    return body


def _host(environ: dict[str, Any]) -> str | None:
    """The request's host if settings.ALLOWED_HOSTS allows it (as Django's request.get_host())."""
    host = environ.get("HTTP_X_FORWARDED_HOST", "") if settings.USE_X_FORWARDED_HOST else ""
    host = host or environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _ = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return host if domain and validate_host(domain, allowed) else None


def _scheme(environ: dict[str, Any]) -> str:
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy and environ.get(proxy[0]) == proxy[1]:
        return "https"
    return str(environ.get("wsgi.url_scheme", "http"))


def _same_origin(environ: dict[str, Any], host: str) -> bool:
    """False when the browser says the request comes from another site (Fetch metadata, Origin)."""
    fetch_site = environ.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None and fetch_site not in _SAME_SITE_FETCH:
        return False
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return True
    return origin == f"{_scheme(environ)}://{host}" or origin in settings.CSRF_TRUSTED_ORIGINS
