"""Django settings for Watchpoint: one module, values from the typed environment (config/env.py).

Production differs from a local checkout only by environment variables (see .env.example).
"""

from __future__ import annotations

import os
import ssl
from datetime import timedelta
from typing import Any

from cassandra import ConsistencyLevel
from kombu import Queue

from config.cassandra_policies import load_balancing_policy, reconnection_policy
from config.env import BASE_DIR, database_config, email_config, get_settings

env = get_settings()

# prometheus-client picks its multiprocess mode from this variable when first imported (config/metrics.py),
# and the processes this one starts (Celery's children, test workers) inherit it: an absolute path,
# so a process started elsewhere writes to the same directory.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(env.prometheus_multiproc_dir.resolve())
env.prometheus_multiproc_dir.mkdir(parents=True, exist_ok=True)

# --- Core
DEBUG = env.django_debug
SECRET_KEY = env.django_secret_key
ALLOWED_HOSTS = env.django_allowed_hosts
CSRF_TRUSTED_ORIGINS = env.django_csrf_trusted_origins
# Links in emails are built on this origin (accounts.adapter), never on the request's Host header.
SITE_URL = env.site_origin
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
SITE_ID = 1

INSTALLED_APPS = [
    # django_cassandra_engine first: it replaces `migrate`'s handling of the Cassandra alias and
    # provides `sync_cassandra`.
    "django_cassandra_engine",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    # Drag-and-drop ordering of playlist items in admin.
    "adminsortable2",
    "accounts",
    "videos",
    "analytics",
    "billing",
]

MIDDLEWARE = [
    # First: times the whole request, middleware included (config/metrics.py, /metrics).
    "config.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files with hashed names and far-future caching, before sessions touch the request.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # The session's member read by accounts.backends (one plain SELECT).
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After both: a device whose session the account ended (a password change elsewhere) is told why.
    "accounts.middleware.ended_session_notice_middleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.membership",
                "analytics.context_processors.tracking",
                "billing.context_processors.billing_notice",
            ],
            # {% slot %}: the per-request parts of a page rendered once per version (config/fragments.py);
            # {{ seconds|clock }}: durations as every app shows them (config/formatting.py).
            "libraries": {"fragments": "config.fragments", "formatting": "config.formatting"},
        },
    },
]

# --- Databases
# "default" is relational (users, videos, playlists). "cassandra" holds watch events, resume
# positions and rollups; django-cassandra-engine uses it for schema sync and test keyspaces, the
# hot paths use analytics.cassandra's per-process session built from the same entry.
_cassandra_connection: dict[str, object] = {
    "port": env.cassandra_port,
    # Native protocol v4, not v5: the driver frames and checksums every v5 segment in Python, on
    # every request, and nothing here uses what v5 adds (per-query keyspace, now_in_seconds).
    # Cassandra 5.0 serves both (docs/decisions/0004-cassandra-protocol-v4.md).
    "protocol_version": 4,
    "connect_timeout": env.cassandra_connect_timeout,
    "load_balancing_policy": load_balancing_policy(local_dc=env.cassandra_local_dc),
    "reconnection_policy": reconnection_policy(),
    # Never connect at import: `manage.py migrate`, the web process and Celery's parent process
    # must not open a session (a session must not cross a fork into prefork children).
    "lazy_connect": True,
    "retry_connect": True,
}
if env.cassandra_ssl:
    # Verified TLS: the nodes' CA (or the system store), and their certificates must name them.
    _ssl_context = ssl.create_default_context(
        cafile=str(env.cassandra_ssl_ca_file) if env.cassandra_ssl_ca_file else None
    )
    _ssl_context.check_hostname = env.cassandra_ssl_verify_hostname
    _cassandra_connection["ssl_context"] = _ssl_context
if env.cassandra_secure_connect_bundle:
    _cassandra_connection = {
        "cloud": {"secure_connect_bundle": str(env.cassandra_secure_connect_bundle)},
        "protocol_version": 4,
        "connect_timeout": env.cassandra_connect_timeout,
    }
DATABASES = {
    "default": database_config(env.database_url, conn_max_age=60),
    "cassandra": {
        "ENGINE": "django_cassandra_engine",
        "NAME": env.cassandra_keyspace,
        "HOST": ",".join(env.cassandra_hosts),
        "USER": env.cassandra_username or "",
        "PASSWORD": env.cassandra_password or "",
        "TEST": {"NAME": f"test_{env.cassandra_keyspace}"},
        "OPTIONS": {
            # django-cassandra-engine's `sync_cassandra` reads `strategy_class`, not CQL's `class`:
            # given only `class`, it silently created every keyspace as SimpleStrategy RF 1.
            "replication": {
                ("strategy_class" if key == "class" else key): value
                for key, value in env.cassandra_replication_map.items()
            },
            "connection": _cassandra_connection,
            "session": {"default_timeout": env.cassandra_request_timeout},
        },
    },
}
# Requests in flight per call (analytics/cassandra.py `cassandra_execute_all`, BatchPacker).
CASSANDRA_CONCURRENCY = env.cassandra_concurrency
CASSANDRA_PACKED_CONCURRENCY = env.cassandra_packed_concurrency
# The keyspace's replication as CQL states it, for analytics/models.py's table options (not read from
# DATABASES: django-cassandra-engine's test set-up pops keys out of that copy).
CASSANDRA_REPLICATION = env.cassandra_replication_map
CASSANDRA_LOCAL_DC = env.cassandra_local_dc
CASSANDRA_WRITE_CONSISTENCY = ConsistencyLevel.name_to_value[env.cassandra_write_consistency.value]
CASSANDRA_READ_CONSISTENCY = ConsistencyLevel.name_to_value[env.cassandra_read_consistency.value]
WATCH_EVENT_TTL_SECONDS = int(timedelta(days=env.watch_event_ttl_days).total_seconds())
WATCH_BATCHES_PER_MINUTE = env.watch_batches_per_minute
WATCH_CLAIM_IDLE_SECONDS = env.watch_claim_idle_seconds
WATCH_STREAM_MAX_BATCHES = env.watch_stream_max_batches
WATCH_DRAIN_ROUND_BATCHES = env.watch_drain_round_batches
WATCH_COUNT_REFRESH_SECONDS = env.watch_count_refresh_seconds
WATCH_COUNT_REFRESH_MAX_SECONDS = env.watch_count_refresh_max_seconds
WATCH_DEAD_LETTERS_MAX = env.watch_dead_letters_max
# At most one drain task is woken per this many ms by incoming batches (plus the beat safety net).
WATCH_DRAIN_WAKE_MS = 500
WATCH_DRAIN_BUDGET_SECONDS = 5.0
# Viewing sessions (analytics.viewing.viewing_session_start): issued by the watch page to confirmed
# members, bound to member, video, access tier and issue time. A token is short-lived: the open page
# renews it while it is visible (analytics.views.watch_token_renew). Past its life it is accepted only
# for the late window, and only for seconds recorded while it was valid (the tracker's outbox
# resends); events must lie within the token's life and the late window, each ± the skew (the
# tracker counts time from the server's clock, so the skew only absorbs network and timer drift).
WATCH_TOKEN_TTL_SECONDS = 600
WATCH_LATE_WINDOW_SECONDS = 1800
WATCH_CLOCK_SKEW_MS = 60_000
# What one person really watching can produce: new sessions per video in any 60 minutes (past it the
# page reuses the latest), sessions sending at once, seconds per session <= elapsed since its first
# accepted batch x rate + slack, and across all of a member's sessions at most
# concurrent cap x fastest rate x 60 seconds claimed in any one minute (analytics.stream).
WATCH_SESSIONS_PER_VIDEO_PER_HOUR = 10
WATCH_CONCURRENT_SESSIONS = 4
WATCH_ACTIVE_WINDOW_MS = 120_000
WATCH_PLAY_SLACK_SECONDS = 15
# Positions of a video whose duration is not known yet are bounded by this (no catalogue entry is
# longer; a known duration bounds them to itself + 1 s).
WATCH_UNKNOWN_DURATION_MAX_SECONDS = 6 * 3600
# The published catalogue's durations (videos.selectors.video_published_durations): a per-process
# snapshot reloaded at most this often, read by the watch endpoint and every page's progress;
# publishing or unpublishing reaches them within this time.
CATALOGUE_SNAPSHOT_SECONDS = 5.0
# Paths served ahead of Django's URL resolver and middleware (config/dispatch.py): exact PATH_INFO
# -> the name its app registered the WSGI handler under (config.dispatch.route_handler_register).
# The watch-batch endpoints authenticate by their signed token.
ROUTES_AHEAD_OF_DJANGO = {
    "/api/watch/": "watch-ingest",
    "/api/watch/beacon/": "watch-ingest",
}

# --- Cache (allauth's rate limits): Redis, shared by every web process. The per-member watch-batch
# rate is not in this cache: the enqueue Lua script (analytics/stream.py) counts it in Redis itself.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.redis_url,
        "KEY_PREFIX": "wp",
        "TIMEOUT": 300,
    }
}
REDIS_URL = env.redis_url

# --- Video facts (videos/facts.py; every outbound fetch goes through videos/fetch.py)
# Each provider's public oEmbed endpoint (tests point them at a stand-in server).
VIDEO_OEMBED_ENDPOINTS = {
    "youtube": "https://www.youtube.com/oembed",
    "vimeo": "https://vimeo.com/api/oembed.json",
    "wistia": "https://fast.wistia.com/oembed",
}
# Where oEmbed thumbnail_url values may point; the images are downloaded and served by us.
VIDEO_THUMBNAIL_HOSTS: tuple[str, ...] = ("i.ytimg.com", "i.vimeocdn.com", "embed-ssl.wistia.com", "embed.wistia.com")
# Never fetch private, loopback, link-local or reserved addresses (True only in settings_test).
VIDEO_FETCH_ALLOW_PRIVATE = False
# CA bundle for outbound TLS (fetches and ffprobe); empty: the system's.
VIDEO_FETCH_CA_FILE = ""
# ffprobe/ffmpeg read only a local copy: a file video's first bytes (and its last ones when an MP4's
# index is at its end), an HLS stream's first segment; each download within this size and time.
VIDEO_FILE_FETCH_MAX_BYTES = 32 * 1024 * 1024
VIDEO_FILE_FETCH_SECONDS = 20.0
FFPROBE_BINARY = "ffprobe"
FFMPEG_BINARY = "ffmpeg"
# The beat job re-checks every published video this often; a member's playback-problem report
# re-checks that one video at once, at most once per debounce window.
VIDEO_AVAILABILITY_CHECK_SECONDS = 3600
VIDEO_RECHECK_DEBOUNCE_SECONDS = 600

# --- Celery (config/celery_app.py reads every CELERY_ setting)
CELERY_BROKER_URL = env.redis_url
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Watch batches are not Celery messages: they wait in a Redis Stream (analytics/stream.py), and a
# drain XACKs each only after its Cassandra write. The Celery messages (drain, rollup and email tasks)
# are acknowledged after the task ran, so one whose worker died mid-task is redelivered: harmless for
# a drain (it re-reads the stream; every write is idempotent) and a rollup (recomputed); an email may
# go out twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message reserved per worker process: a drain task can run for its whole budget (5 s), and a
# message prefetched behind it would wait while another process idles; with acks_late, a killed
# worker also holds back only the messages in hand (redelivered after the visibility timeout).
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Recycle a prefork child past 400 MB resident by default (in KiB; CELERY_WORKER_MAX_MEMORY_PER_CHILD).
# A drain holds at most one round (WATCH_DRAIN_ROUND_BATCHES batches of <= 200 events) plus the
# driver's buffers, so its memory is
# bounded (docs/benchmarks.md has the measured peak); growth beyond that is a leak, and a fresh
# child costs only a new Cassandra session (well under a second). Raise it with the round size.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.celery_worker_max_memory_per_child
# Separate queues so one kind of work cannot starve another: watch ingestion (latency-sensitive,
# steady), rollups (periodic, CPU-heavy reads) and email (slow SMTP). A worker started without -Q
# consumes all of them (development, tests); production runs one worker per queue group
# (Procfile, deploy/), scaled independently.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (
    Queue("celery"),
    Queue("watch"),
    Queue("rollups"),
    Queue("email"),
    Queue("background"),
    Queue("media"),
)
CELERY_TASK_ROUTES = {
    "analytics.watch_stream_drain": {"queue": "watch"},
    "analytics.rollups_*": {"queue": "rollups"},
    "analytics.course_members_*": {"queue": "rollups"},
    "accounts.email_send": {"queue": "email"},
    "accounts.email_addresses_pending_expire": {"queue": "background"},
    # Video facts and availability checks (videos/tasks.py): outbound HTTP and ffprobe, seconds each.
    "videos.*": {"queue": "background"},
    # Transcodes of uploaded videos (videos/tasks.py): minutes of ffmpeg each, on their own worker.
    "media.*": {"queue": "media"},
    "billing.*": {"queue": "background"},
}
# Redis redelivers a message nobody acknowledged after this long (e.g. its worker was SIGKILLed).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.celery_broker_visibility_timeout}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker outage must fail a publish fast, not hang the request: the endpoint's wake-a-drain publish
# then gives up, and it still answers 202 (the batch is already in the stream; the beat drain stores it).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BEAT_SCHEDULE = {
    # Safety net: drains even when no request has woken one (e.g. after a worker restart).
    "watch-stream-drain": {"task": "analytics.watch_stream_drain", "schedule": 5.0},
    # Staff analytics rollups (analytics/rollups.py): at most ~60 s behind the raw events.
    "rollups-refresh": {"task": "analytics.rollups_refresh", "schedule": 15.0},
    # Pending email changes whose link has expired are deleted (accounts/tasks.py); the pages ignore
    # them at once, this only tidies the table.
    "email-addresses-pending-expire": {"task": "accounts.email_addresses_pending_expire", "schedule": 3600.0},
    # The server re-checks that every published video still plays (videos/tasks.py).
    # Entitlements that ended by the clock (a period's end, a grace period) revoke open watch tokens.
    "billing-entitlements-expire": {"task": "billing.entitlements_expire", "schedule": 60.0},
    "videos-availability-check": {
        "task": "videos.video_availability_check_all",
        "schedule": float(VIDEO_AVAILABILITY_CHECK_SECONDS),
    },
    # Unfinished uploads untouched for MEDIA_UPLOAD_ABANDONED_HOURS: parts and rows deleted (videos/tasks.py).
    "videos-uploads-abandoned-sweep": {"task": "videos.video_uploads_abandoned_sweep", "schedule": 3600.0},
}

# --- Auth (django-allauth, email only)
# One backend, so every password check costs exactly one hash: right, wrong or unknown address.
# With ModelBackend in front, each failure was hashed by both backends and a wrong password answered
# measurably slower than a right one. allauth's backend subclasses ModelBackend, so permissions
# (has_perm, the admin) are unchanged, and it accepts Django's `username=` callers too.
# accounts.backends is allauth's, with the session's member read by one plain SELECT (not the ORM).
AUTHENTICATION_BACKENDS = ["accounts.backends.AuthenticationBackend"]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
# Mandatory at sign-up; a later login by an unconfirmed member is allowed (accounts.adapter), and
# the members-only pages refuse them with a way to resend the link (accounts:confirm_needed).
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
ACCOUNT_PREVENT_ENUMERATION = True
# One address per member; changing it keeps the old one until the new one is confirmed.
ACCOUNT_CHANGE_EMAIL = True
# Tell members by email when their password or address changes (someone else may have done it).
ACCOUNT_EMAIL_NOTIFICATIONS = True
# Our subjects name the product themselves (the default prefix is the Sites name, "example.com").
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
# Hashes the password of a sign-up for an address that already has an account, as a new sign-up
# does: the two must cost the same, or timing tells which addresses are members.
# A sign-up or reset counts only confirmed addresses as anyone's (accounts.forms).
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm", "reset_password": "accounts.forms.ResetPasswordForm"}
# allauth's rate limits (counted in Django's cache, i.e. Redis, so shared by every web process).
# Written out rather than left to allauth's defaults so a dependency upgrade cannot loosen them.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    # Per address: stops password guessing against one member from many IPs.
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    # One confirmation mail per address every 3 minutes: resend cannot be used to mail-bomb someone.
    "confirm_email": "1/3m/key",
    # ...plus one for a sign-up over an address someone else only asked for (accounts.forms).
    "confirm_email_over_claim": "1/3m/key",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
    # Download my data (accounts.views.data_export) reads every store the member has data in.
    "member_data_export": "3/h/user",
    # Stripe's webhook deliveries (billing.views.webhook): generous, but a flood of forged posts is cut.
    "billing_webhook": "300/m/ip",
    # Starting a Checkout or Portal session calls Stripe's API.
    "billing_session": "10/m/user",
    # A watch page's player asks for a fresh signed media URL every MEDIA_URL_TTL_SECONDS / 3 (and
    # after a sleep): per address, so that hundreds of viewers behind one NAT still get theirs.
    "media_url": "120/m/ip",
}
# Behind N proxies, the client IP (for the per-IP limits) is the N-th address from the right of
# X-Forwarded-For; with 0 it is REMOTE_ADDR.
ALLAUTH_TRUSTED_PROXY_COUNT = env.django_trusted_proxy_count
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "account_login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sessions stay in the database (Django's default), not in Redis: a Redis outage must only pause
# watch tracking (503, the tracker retries), never log members out or break pages. Django's `db`
# backend, its row read with one plain SELECT instead of the ORM (accounts/sessions.py).
SESSION_ENGINE = "accounts.sessions"
# "Remember me" keeps the session this long; unticked, it ends with the browser.
SESSION_COOKIE_AGE = int(timedelta(weeks=4).total_seconds())

# --- Email: EMAIL_URL (config/env.py `email_config`): console://, file:///path,
# smtp://user:password@host:587 (STARTTLS), smtps://user:password@host:465 (TLS).
globals().update(email_config(env.email_url))
DEFAULT_FROM_EMAIL = env.default_from_email
# allauth's emails are rendered in the request and sent by a Celery task on the "email" queue, so a
# slow SMTP server never slows a sign-up (accounts.adapter, accounts.tasks).
ACCOUNT_EMAIL_ASYNC = True
SERVER_EMAIL = env.default_from_email

# --- i18n / time
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
# Hashed names (cacheable forever) and gzip/brotli copies, made by `manage.py collectstatic` at
# deploy time. With DEBUG on, `{% static %}` falls back to plain names, so `make run` needs no
# collectstatic; the test settings use the plain storage (tests do not run collectstatic).
# Media (thumbnails, card images, uploaded video sources and their HLS ladders: videos/media.py) on
# the local filesystem under MEDIA_ROOT (nginx serves it), or on any S3-compatible store through
# django-storages (MEDIA_STORAGE=s3, docs/operations.md).
_MEDIA_STORAGE: dict[str, Any] = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
if env.media_storage == "s3":
    _MEDIA_STORAGE = {
        # Same-origin URLs (/media/thumbnails/..., proxied to the bucket by nginx): config/media_storage.py.
        "BACKEND": "config.media_storage.MediaS3Storage",
        "OPTIONS": {
            "bucket_name": env.media_s3_bucket,
            "endpoint_url": env.media_s3_endpoint_url,
            "region_name": env.media_s3_region,
            "access_key": env.media_s3_access_key_id,
            "secret_key": env.media_s3_secret_access_key,
            "addressing_style": env.media_s3_addressing_style,
            "signature_version": "s3v4",
            # Never overwrite: a name taken gets a suffix, as on the filesystem.
            "file_overwrite": False,
            "default_acl": None,
        },
    }
STORAGES = {
    "default": _MEDIA_STORAGE,
    "staticfiles": {"BACKEND": "config.storage.StaticFilesStorage"},
}
MEDIA_URL = "media/"
MEDIA_ROOT = env.media_root
# Uploads past 2.5 MB go to a temp file, never the web process's memory (a video source is GBs).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
MEDIA_UPLOAD_MAX_BYTES = env.media_upload_max_mb * 2**20
MEDIA_UPLOAD_ABANDONED_AFTER = timedelta(hours=env.media_upload_abandoned_hours)
MEDIA_URL_SIGNING_KEY = env.media_signing_key
MEDIA_URL_TTL_SECONDS = env.media_url_ttl_seconds
# Signed, members-only HLS ladders: nginx serves them under this prefix (etc/nginx/watchpoint.conf.in).
MEDIA_HLS_URL = "/hls/"
# The tests' live server has no nginx in front: Django answers /hls/ there with the same check
# (videos/views.py ladder_file; config/settings_test.py turns it on). Off otherwise, `make run`
# included: nginx serves the ladders (bin/services starts it), no media byte passes through Python.
MEDIA_SERVE_FROM_DJANGO = False
MEDIA_TRANSCODE_MIN_FREE_BYTES = env.media_transcode_min_free_mb * 2**20
MEDIA_WORK_DIR = env.media_work_dir

# --- Security: secure by default, relaxed only for plain-http local development.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# Provider embeds (YouTube refuses to play without a Referer since 2025: "Error 153").
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_HSTS_SECONDS = int(timedelta(days=365).total_seconds())
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = env.django_secure_ssl_redirect
    if env.django_secure_proxy_ssl:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # SSL redirect is usually done by the proxy in front; check --deploy should not insist.
    SILENCED_SYSTEM_CHECKS = [] if SECURE_SSL_REDIRECT else ["security.W008"]

# --- Billing (billing/, docs/operations.md): Stripe through its SDK; off without the keys.
BILLING_ENABLED = env.billing_enabled
STRIPE_SECRET_KEY = env.stripe_secret_key
STRIPE_PUBLISHABLE_KEY = env.stripe_publishable_key
STRIPE_WEBHOOK_SECRET = env.stripe_webhook_secret
STRIPE_API_BASE = env.stripe_api_base
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.stripe_webhook_tolerance_seconds
BILLING_PAST_DUE_GRACE_DAYS = env.billing_past_due_grace_days

# --- Operations: /metrics (config/metrics.py) answers staff sessions or this bearer token.
METRICS_TOKEN = env.metrics_token

# --- Logging: one line per record to stderr (JSON in production); operators ship it from there.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json" if env.json_logs else "plain"}},
    "root": {"handlers": ["stderr"], "level": env.log_level},
    "loggers": {
        "cassandra": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
    },
}
