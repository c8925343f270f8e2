"""Settings for the test suite: the real services, isolated from a developer's running site.

Tests use their own Redis database (so a `make run` worker never takes a test's tasks) and the
`test_<keyspace>` Cassandra keyspace that django-cassandra-engine creates and drops.
"""

import os
import tempfile

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DATABASE_URL", "sqlite:///var/test.sqlite3")
# A fresh metrics directory per test run, shared with the workers it spawns (they inherit the
# variable): counters start at zero, apart from `make run`'s var/prometheus and other runs.
if "WATCHPOINT_TEST_METRICS_DIR" not in os.environ:
    os.environ["WATCHPOINT_TEST_METRICS_DIR"] = tempfile.mkdtemp(prefix="watchpoint-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["WATCHPOINT_TEST_METRICS_DIR"]

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests read allauth's emails from the locmem outbox of this process: send them in the request.
# tests/ops/test_deploy.py covers the queued path (adapter → Celery task → backend).
ACCOUNT_EMAIL_ASYNC = False
# Tests do not run collectstatic: plain names, and WhiteNoise serves from the finders.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Tests open many viewing sessions for one member within seconds (each test its own); the cap of
# sessions sending at once is proven at its production value in tests/analytics/test_watch_integrity.py.
WATCH_CONCURRENT_SESSIONS = 1000
# The stand-in servers (tests/videos/standins.py) listen on 127.0.0.1; the production refusal of
# private addresses is proven in tests/videos/test_fetch.py with this set back to False.
VIDEO_FETCH_ALLOW_PRIVATE = True
# A spawned worker learns the stand-in's origin and self-signed certificate from its environment.
if os.environ.get("VIDEO_TEST_STANDIN_ORIGIN"):
    _standin = os.environ["VIDEO_TEST_STANDIN_ORIGIN"]
    VIDEO_OEMBED_ENDPOINTS = {p: f"{_standin}/oembed/{p}" for p in ("youtube", "vimeo", "wistia")}
    VIDEO_THUMBNAIL_HOSTS = ("127.0.0.1",)
VIDEO_FETCH_CA_FILE = os.environ.get("VIDEO_TEST_CA_FILE", "")
# Tests read members' progress right after storing their batches: recount at once. The deferred,
# coalesced recount of production (15 s after a row stops growing, at most 300 s after it first
# grew) is proven in tests/analytics/test_coverage_buckets.py and, through real worker and beat
# processes, in tests/ops/test_deploy.py.
WATCH_COUNT_REFRESH_SECONDS = 0
# The live server and test client have no nginx in front: Django's stand-in answers /hls/ (the
# nginx location itself is proven in tests/ops/test_media_delivery.py).
MEDIA_SERVE_FROM_DJANGO = True
