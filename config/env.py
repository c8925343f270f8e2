"""Typed settings read once from the environment (and an optional `.env` file).

Every deployment knob lives here; `config/settings.py` only translates this object into Django's
settings. Defaults run a local checkout with zero configuration: SQLite, Redis and a one-node
Cassandra on 127.0.0.1. A bad value stops start-up with a message naming the variable.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
import dj_email_url
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BASE_DIR = Path(__file__).resolve().parent.parent

# Only used when DJANGO_DEBUG is on; production must set DJANGO_SECRET_KEY (checked below).
INSECURE_DEV_SECRET_KEY = "django-insecure-watchpoint-local-development-only-0123456789abcdef"  # noqa: S105


class ConsistencyLevel(StrEnum):
    ONE = "ONE"
    TWO = "TWO"
    THREE = "THREE"
    QUORUM = "QUORUM"
    ALL = "ALL"
    LOCAL_QUORUM = "LOCAL_QUORUM"
    EACH_QUORUM = "EACH_QUORUM"
    LOCAL_ONE = "LOCAL_ONE"


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=BASE_DIR / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
    )

    # --- Django
    django_debug: bool = True
    django_secret_key: str = INSECURE_DEV_SECRET_KEY
    django_allowed_hosts: Annotated[list[str], NoDecode] = ["127.0.0.1", "localhost", "[::1]"]
    django_csrf_trusted_origins: Annotated[list[str], NoDecode] = []
    # Behind a TLS-terminating proxy: trust X-Forwarded-Proto and redirect http to https.
    django_secure_proxy_ssl: bool = False
    django_secure_ssl_redirect: bool = False
    # Proxies in front that append to X-Forwarded-For (per-IP rate limits read the client's address).
    django_trusted_proxy_count: int = Field(default=0, ge=0, le=5)
    # The site's canonical origin (scheme://host[:port]): every link in an email is built on it, never
    # on the request's Host header. Unset: see `site_origin`.
    site_url: str | None = None

    # --- Relational database: SQLite unless DATABASE_URL names PostgreSQL.
    database_url: str = f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"

    # --- Redis: Celery broker and Django's cache (rate limits).
    redis_url: str = "redis://127.0.0.1:6379/0"

    # --- Cassandra
    cassandra_hosts: Annotated[list[str], NoDecode] = ["127.0.0.1"]
    cassandra_port: int = Field(default=9042, ge=1, le=65535)
    cassandra_keyspace: str = "watchpoint"
    # "SimpleStrategy:1", or "NetworkTopologyStrategy:dc1=3,dc2=3"
    cassandra_replication: str = "SimpleStrategy:1"
    cassandra_local_dc: str | None = None
    cassandra_write_consistency: ConsistencyLevel = ConsistencyLevel.ONE
    cassandra_read_consistency: ConsistencyLevel = ConsistencyLevel.ONE
    cassandra_username: str | None = None
    cassandra_password: str | None = None
    # AstraDB: path of the secure-connect bundle zip; the token goes in CASSANDRA_PASSWORD with
    # CASSANDRA_USERNAME=token.
    cassandra_secure_connect_bundle: Path | None = None
    # TLS to self-managed nodes (client_encryption_options on the server). The CA file is the PEM of
    # the authority that signed the nodes' certificates; without it the system store is used.
    cassandra_ssl: bool = False
    cassandra_ssl_ca_file: Path | None = None
    cassandra_ssl_verify_hostname: bool = True
    cassandra_connect_timeout: float = Field(default=5.0, gt=0)
    # Seconds a request waits for Cassandra before the driver gives up (the session's default_timeout).
    cassandra_request_timeout: float = Field(default=10.0, gt=0, le=600)
    # Requests in flight per call from one process (analytics/cassandra.py): plain statements, and
    # the drain's packed batches of ~100 rows. Size them to the ring: more nodes take more at once.
    cassandra_concurrency: int = Field(default=128, ge=1, le=2048)
    cassandra_packed_concurrency: int = Field(default=8, ge=1, le=256)
    # Raw watch events expire after this many days (rollups and resume positions do not).
    watch_event_ttl_days: int = Field(default=400, ge=1, le=3650)
    # Ingestion: per-member batches per minute past which the endpoint answers 429.
    watch_batches_per_minute: int = Field(default=60, ge=1)
    # A stream entry a worker took but did not acknowledge for this long is claimed by another.
    watch_claim_idle_seconds: float = Field(default=30.0, gt=0)
    # Backlog cap: batches accepted but not yet stored. Past it the endpoint answers 503 + Retry-After
    # and the tracker keeps the batch. Size it to a few minutes of the drain's sustained rate
    # (docs/benchmarks.md) and to the Redis memory it may take (~600 B per 10-event entry: 200,000
    # is ~120 MB), so an outage of the drain or of Cassandra is ridden out, not refused.
    watch_stream_max_batches: int = Field(default=200_000, ge=1)
    # Batches a drain reads per round. Bigger rounds merge more of a member's batches into the same
    # requests (the driver's cost is per request, not per row), so a backlog drains with less CPU
    # per event. Memory stays bounded: at most this many x 200 events per drain child (raise
    # CELERY_WORKER_MAX_MEMORY_PER_CHILD with it).
    watch_drain_round_batches: int = Field(default=1000, ge=1, le=10_000)
    # When a grown coverage row's watched count is recounted (one read and one write per member for
    # all their batches in that time; recounting per batch was most of the drain's and Cassandra's
    # CPU, docs/decisions/0006-recount-when-a-row-goes-quiet.md): once the member has not grown it
    # for WATCH_COUNT_REFRESH_SECONDS (longer than the player's 10-s flush, so a member watching on
    # keeps postponing it), and at the latest WATCH_COUNT_REFRESH_MAX_SECONDS after it first grew.
    # With the defaults, progress bars are right ~15 s after a member stops watching (plus the 5-s
    # periodic drain) and lag by at most 5 minutes while they watch on another device; positions
    # never lag. 0: recount at once.
    watch_count_refresh_seconds: int = Field(default=15, ge=0, le=3600)
    watch_count_refresh_max_seconds: int = Field(default=300, ge=1, le=86_400)
    # Dead-letter cap: past it the drain stops setting entries aside and leaves them pending (alert).
    watch_dead_letters_max: int = Field(default=10_000, ge=1)

    # --- Celery
    # A prefork child whose resident memory passes this many KiB is replaced after its task (Celery's
    # worker_max_memory_per_child); raise it with WATCH_DRAIN_ROUND_BATCHES.
    celery_worker_max_memory_per_child: int = Field(default=400_000, ge=50_000)
    # Seconds after which Redis redelivers a task message nobody acknowledged (its worker died). Longer
    # than any task runs, or a slow task is run twice.
    celery_broker_visibility_timeout: int = Field(default=300, ge=30, le=86_400)

    # --- Operations
    # prometheus-client's multiprocess mode: every process of this host (gunicorn and granian workers,
    # Celery children, beat) writes its counters here and /metrics sums them (config/metrics.py).
    # Wiped when the host's processes start, never while they run (docs/operations.md §5).
    prometheus_multiproc_dir: Path = BASE_DIR / "var" / "prometheus"
    # Bearer token for /metrics (Prometheus); staff sessions are allowed too. Empty: staff only.
    metrics_token: str | None = None
    # "json" (one object per line, for log shippers) or "plain"; default json when DJANGO_DEBUG is off.
    log_format: Literal["json", "plain"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # gunicorn (gunicorn.conf.py): workers default to 2 x CPUs + 1; threads per worker (gthread).
    web_concurrency: int | None = Field(default=None, ge=1, le=64)
    web_threads: int = Field(default=4, ge=1, le=64)
    web_bind: str = "127.0.0.1:8000"
    web_timeout: int = Field(default=30, ge=5, le=600)
    # The ingest process (config/serve_ingest.py, Procfile `ingest`): granian serving only the
    # watch-batch paths; the reverse proxy sends /api/watch/ there. Workers default to one per CPU.
    ingest_bind: str = "127.0.0.1:8001"
    ingest_workers: int | None = Field(default=None, ge=1, le=64)
    ingest_threads: int = Field(default=4, ge=1, le=64)
    # A worker whose memory passes this many MiB is replaced gracefully (the leak cap gunicorn's
    # max_requests is for the site).
    ingest_max_rss_mb: int = Field(default=400, ge=64)

    # --- Media (videos/media.py): uploaded sources, their HLS ladders, thumbnails and card images.
    # "local": files under MEDIA_ROOT (var/media/), served by nginx. "s3": any S3-compatible store
    # (AWS, MinIO, R2...) through django-storages; credentials may also come from the instance role.
    media_storage: Literal["local", "s3"] = "local"
    media_root: Path = BASE_DIR / "var" / "media"
    media_s3_bucket: str | None = None
    media_s3_endpoint_url: str | None = None
    media_s3_region: str = "us-east-1"
    media_s3_access_key_id: str | None = None
    media_s3_secret_access_key: str | None = None
    # MinIO and most self-hosted stores need path-style addressing (http://host:9000/<bucket>/<key>).
    media_s3_addressing_style: Literal["path", "virtual"] = "path"
    # Key of the signed media URLs nginx checks (secure_link); unset: derived from DJANGO_SECRET_KEY
    # (`media_signing_key`; bin/nginx reads the same value from here).
    media_url_secret: str | None = None
    # A signed ladder URL works this long after it was issued; the open page's player renews it.
    media_url_ttl_seconds: int = Field(default=600, ge=30, le=86_400)
    # Largest upload staff may send, in MiB (nginx's client_max_body_size for the upload path too).
    media_upload_max_mb: int = Field(default=20_480, ge=1)
    # An unfinished upload untouched (no part asked for or sent) this many hours is swept: its parts
    # deleted or its S3 multipart upload aborted, its row deleted. At least 2: longer than a
    # presigned part URL lives (1 h, videos/services.py UPLOAD_PART_URL_SECONDS), so no part is
    # still on its way to the store when the upload is swept.
    media_upload_abandoned_hours: int = Field(default=24, ge=2)
    # A transcode starts only with this much free space (MiB) beyond 3x the source's size in its work dir.
    media_transcode_min_free_mb: int = Field(default=1024, ge=0)
    # Where transcodes work (a temp dir per video, removed at the start and end of each attempt).
    media_work_dir: Path = BASE_DIR / "var" / "media-work"

    # --- Email
    email_url: str = "console://"
    default_from_email: str = "Watchpoint <no-reply@watchpoint.local>"

    # --- Billing (billing/): Stripe. Without STRIPE_SECRET_KEY paid plans are off (the admin says so).
    # Test mode: sk_test_... keys; `bin/stripe-mock env` prints settings for the offline API mock.
    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    # The endpoint's signing secret (whsec_...): webhooks without a valid signature are refused.
    stripe_webhook_secret: str | None = None
    # Only for stripe-mock (tests, offline runs); unset: Stripe's own API.
    stripe_api_base: str | None = None
    # Seconds a webhook's signed timestamp may be old (the SDK's tolerance; replays past it are refused).
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=30, le=3600)
    # A past_due subscription keeps its access this many days (with a banner and an email).
    billing_past_due_grace_days: int = Field(default=3, ge=0, le=60)

    @field_validator("django_allowed_hosts", "django_csrf_trusted_origins", "cassandra_hosts", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        return _csv(value)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in {"sqlite", "postgres", "postgresql"}:
            raise ValueError("must start with sqlite:/// or postgres://")
        database_config(value, conn_max_age=0)  # a malformed URL or query stops start-up here
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"redis", "rediss"}:
            raise ValueError("must be a redis:// or rediss:// URL")
        return value

    @field_validator("site_url")
    @classmethod
    def _check_site_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if (
            parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.hostname.endswith(".")
            or parts.username is not None
            or parts.path not in {"", "/"}
            or parts.query
            or parts.fragment
        ):
            raise ValueError("must be http(s)://host[:port], without a path, user, query or trailing dot")
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
        return f"{parts.scheme}://{parts.netloc.lower()}"

    @field_validator("email_url")
    @classmethod
    def _check_email_url(cls, value: str) -> str:
        email_config(value)  # an unknown scheme or a malformed URL stops start-up here
        return value

    @field_validator("cassandra_keyspace")
    @classmethod
    def _check_keyspace(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,47}", value):
            raise ValueError("must be lower-case letters, digits and _ (at most 48), starting with a letter")
        return value

    @field_validator("cassandra_replication")
    @classmethod
    def _check_replication(cls, value: str) -> str:
        parse_replication(value)
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if not self.django_debug and self.django_secret_key == INSECURE_DEV_SECRET_KEY:
            raise ValueError("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
        if self.cassandra_secure_connect_bundle is not None:
            if not self.cassandra_secure_connect_bundle.is_file():
                raise ValueError("CASSANDRA_SECURE_CONNECT_BUNDLE does not name a file")
            if not (self.cassandra_username and self.cassandra_password):
                raise ValueError("CASSANDRA_SECURE_CONNECT_BUNDLE needs CASSANDRA_USERNAME and CASSANDRA_PASSWORD")
            # The bundle names the contact points and carries its own TLS material: a second source
            # for either would be silently ignored, so refuse the contradiction.
            for variable, field in (
                ("CASSANDRA_HOSTS", "cassandra_hosts"),
                ("CASSANDRA_PORT", "cassandra_port"),
                ("CASSANDRA_SSL", "cassandra_ssl"),
                ("CASSANDRA_SSL_CA_FILE", "cassandra_ssl_ca_file"),
            ):
                if field in self.model_fields_set:
                    raise ValueError(f"{variable} contradicts CASSANDRA_SECURE_CONNECT_BUNDLE (the bundle sets it)")
        if self.cassandra_ssl_ca_file is not None:
            if not self.cassandra_ssl:
                raise ValueError("CASSANDRA_SSL_CA_FILE is set but CASSANDRA_SSL is off")
            if not self.cassandra_ssl_ca_file.is_file():
                raise ValueError("CASSANDRA_SSL_CA_FILE does not name a file")
        if bool(self.cassandra_username) != bool(self.cassandra_password):
            raise ValueError("CASSANDRA_USERNAME and CASSANDRA_PASSWORD must be set together")
        local = self.cassandra_consistency_is_local
        if local and not self.cassandra_local_dc:
            raise ValueError("CASSANDRA_LOCAL_DC must be set for LOCAL_* consistency levels")
        replication = self.cassandra_replication_map
        if (
            replication["class"] == "NetworkTopologyStrategy"
            and self.cassandra_local_dc
            and self.cassandra_local_dc not in replication
        ):
            raise ValueError(
                f"CASSANDRA_LOCAL_DC {self.cassandra_local_dc!r} is not a data centre of CASSANDRA_REPLICATION"
            )
        if self.media_storage == "s3" and not self.media_s3_bucket:
            raise ValueError("MEDIA_S3_BUCKET must be set when MEDIA_STORAGE=s3")
        if bool(self.media_s3_access_key_id) != bool(self.media_s3_secret_access_key):
            raise ValueError("MEDIA_S3_ACCESS_KEY_ID and MEDIA_S3_SECRET_ACCESS_KEY must be set together")
        # Written into nginx's config (secure_link_md5): no character nginx would read as syntax.
        if self.media_url_secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{24,}", self.media_url_secret):
            raise ValueError("MEDIA_URL_SECRET must be at least 24 letters, digits, - or _")
        if not self.django_debug and self.metrics_token is not None and len(self.metrics_token) < 24:
            raise ValueError("METRICS_TOKEN must be at least 24 characters when DJANGO_DEBUG is off")
        return self

    @property
    def site_origin(self) -> str:
        """SITE_URL, else `make run`'s front door with DJANGO_DEBUG (nginx, NGINX_LISTEN, where members
        arrive and uploaded videos play), else https:// and the first DJANGO_ALLOWED_HOSTS entry that
        names one host."""
        if self.site_url:
            return self.site_url
        if self.django_debug:
            return f"http://{os.environ.get('NGINX_LISTEN') or '127.0.0.1:8080'}"
        host = next((h for h in self.django_allowed_hosts if h != "*" and not h.startswith(".")), "localhost")
        return f"https://{host}"

    @property
    def media_signing_key(self) -> str:
        """The secret nginx's secure_link and Django share for signed media URLs. Derived, not the
        DJANGO_SECRET_KEY itself: it is written into nginx's rendered config."""
        if self.media_url_secret:
            return self.media_url_secret
        return hmac.new(self.django_secret_key.encode(), b"watchpoint.media-url", hashlib.sha256).hexdigest()

    @property
    def billing_enabled(self) -> bool:
        """Paid plans need both the API key and the webhook secret (access follows the webhooks)."""
        return bool(self.stripe_secret_key and self.stripe_webhook_secret)

    @property
    def json_logs(self) -> bool:
        return self.log_format == "json" if self.log_format else not self.django_debug

    @property
    def cassandra_consistency_is_local(self) -> bool:
        return any(c.startswith("LOCAL_") for c in (self.cassandra_write_consistency, self.cassandra_read_consistency))

    @property
    def cassandra_replication_map(self) -> dict[str, str | int]:
        return parse_replication(self.cassandra_replication)


def parse_replication(value: str) -> dict[str, str | int]:
    """`SimpleStrategy:1` or `NetworkTopologyStrategy:dc1=3,dc2=2` → a CQL replication map."""
    strategy, _, factors = value.partition(":")
    if strategy == "SimpleStrategy" and factors.isdigit() and int(factors) > 0:
        return {"class": "SimpleStrategy", "replication_factor": int(factors)}
    if strategy == "NetworkTopologyStrategy" and factors:
        replication: dict[str, str | int] = {"class": "NetworkTopologyStrategy"}
        for item in factors.split(","):
            dc, _, rf = item.partition("=")
            if not dc.strip() or not rf.strip().isdigit() or int(rf) < 1:
                break
            replication[dc.strip()] = int(rf)
        else:
            return replication
    raise ValueError("must be SimpleStrategy:<rf> or NetworkTopologyStrategy:<dc>=<rf>[,<dc>=<rf>...]")


def database_config(url: str, *, conn_max_age: int) -> dict[str, Any]:
    """Django DATABASES entry for a sqlite:/// or postgres:// URL (dj-database-url).

    The query string is kept: `?sslmode=require` (and any other driver option) goes to OPTIONS, and
    `?conn_max_age=<seconds>` overrides `conn_max_age` (dj-database-url would hand it to the driver,
    which refuses it). Persistent connections are for PostgreSQL; SQLite opens per request unless
    the URL asks.
    """
    sqlite = urlsplit(url).scheme == "sqlite"
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=0 if sqlite else conn_max_age, conn_health_checks=not sqlite)
    )
    options: dict[str, Any] = config.get("OPTIONS", {})
    if "conn_max_age" in options:
        age = options.pop("conn_max_age")
        if not isinstance(age, int) or isinstance(age, bool):
            raise ValueError("conn_max_age must be a whole number of seconds")
        config["CONN_MAX_AGE"] = age
        if not options:
            del config["OPTIONS"]
    if isinstance(config.get("PORT"), int):
        config["PORT"] = str(config["PORT"])
    return config


EMAIL_SCHEMES = ("console", "file", "smtp", "smtps")


def email_config(url: str) -> dict[str, Any]:
    """Django EMAIL_* settings for console://, file:///path, smtp://… or smtps://… (dj-email-url).

    dj-email-url decodes the user and password (`%40` → `@`) and reads `?timeout=`, `?ssl=`, `?tls=`.
    The schemes keep Watchpoint's meaning, not dj-email-url's: smtp:// is STARTTLS on 587 and
    smtps:// implicit TLS on 465 (its smtps is STARTTLS with no default port), and file:///srv/mail
    is the absolute /srv/mail. Any other scheme raises ValueError.
    """
    parts = urlsplit(url)
    if parts.scheme not in EMAIL_SCHEMES:
        raise ValueError(f"unknown scheme {parts.scheme!r}: must be console://, file:///path, smtp:// or smtps://")
    if parts.scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parts.scheme == "file":
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": unquote(parts.path) or str(BASE_DIR / "var" / "mail"),
        }
    with warnings.catch_warnings():
        # Its note that smtps:// is to be deprecated concerns its own (STARTTLS) meaning of it.
        warnings.simplefilter("ignore", UserWarning)
        parsed = dj_email_url.parse(url)
    implicit_tls = parts.scheme == "smtps"
    query = parse_qs(parts.query)
    if "ssl" not in query and "tls" not in query:
        parsed["EMAIL_USE_SSL"], parsed["EMAIL_USE_TLS"] = implicit_tls, not implicit_tls
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parsed["EMAIL_HOST"] or "localhost",
        "EMAIL_PORT": parts.port or (465 if implicit_tls else 587),  # its smtp:// default is 25
        "EMAIL_HOST_USER": parsed["EMAIL_HOST_USER"] or "",
        "EMAIL_HOST_PASSWORD": parsed["EMAIL_HOST_PASSWORD"] or "",
        "EMAIL_USE_SSL": parsed["EMAIL_USE_SSL"],
        "EMAIL_USE_TLS": parsed["EMAIL_USE_TLS"],
        "EMAIL_TIMEOUT": parsed["EMAIL_TIMEOUT"],
    }


class SettingsError(SystemExit):
    """Raised at start-up for bad configuration; the message names each offending variable."""


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            variable = ".".join(str(part) for part in error["loc"]).upper() or "configuration"
            lines.append(f"  {variable}: {error['msg']}")
        raise SettingsError("Watchpoint configuration error:\n" + "\n".join(lines)) from None
