"""Production settings: `check --deploy` is clean, cookies are locked down."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_PROXY_SSL": "true",
    "EMAIL_URL": "smtp://mailer:secret@smtp.example.com:587",
}


def run_in_production(*args: str) -> subprocess.CompletedProcess[str]:
    # A subprocess: settings are read once per process, and the test run's own are test settings.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "EMAIL_"))}
    env.update(PRODUCTION_ENV)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_check_deploy_prints_no_warnings_with_production_settings():
    result = run_in_production("manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_cookies_are_secure_http_only_and_same_site_lax():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_REFERRER_POLICY, s.EMAIL_BACKEND)"
    )
    result = run_in_production("-c", code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "True",
        "Lax",
        "True",
        "True",
        "strict-origin-when-cross-origin",
        "django.core.mail.backends.smtp.EmailBackend",
    ]
