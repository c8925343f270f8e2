from __future__ import annotations

import os
import subprocess
import sys

import pytest

from config.env import Settings, SettingsError, database_config, email_config, get_settings, parse_replication
from tests.conftest import ROOT

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def clean_env(monkeypatch):
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "CASSANDRA_HOSTS",
        "CASSANDRA_REPLICATION",
        "DJANGO_DEBUG",
        "DJANGO_SECRET_KEY",
        "CASSANDRA_PORT",
        "CASSANDRA_KEYSPACE",
        "CASSANDRA_WRITE_CONSISTENCY",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_defaults_run_locally_with_zero_configuration(clean_env):
    env = Settings(_env_file=None)
    assert env.database_url.startswith("sqlite:///")
    assert env.cassandra_hosts == ["127.0.0.1"]
    assert env.cassandra_replication_map == {"class": "SimpleStrategy", "replication_factor": 1}


def test_lists_and_replication_come_from_the_environment(clean_env):
    clean_env.setenv("CASSANDRA_HOSTS", "10.0.0.1, 10.0.0.2")
    clean_env.setenv("CASSANDRA_REPLICATION", "NetworkTopologyStrategy:dc1=3,dc2=2")
    env = Settings(_env_file=None)
    assert env.cassandra_hosts == ["10.0.0.1", "10.0.0.2"]
    assert env.cassandra_replication_map == {"class": "NetworkTopologyStrategy", "dc1": 3, "dc2": 2}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://x/y"),
        ("REDIS_URL", "http://localhost"),
        ("CASSANDRA_PORT", "not-a-port"),
        ("CASSANDRA_REPLICATION", "NetworkTopologyStrategy:dc1=zero"),
        ("CASSANDRA_KEYSPACE", "Bad-Name"),
        ("CASSANDRA_WRITE_CONSISTENCY", "SOMETIMES"),
        ("DJANGO_DEBUG", "perhaps"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(clean_env, variable, value):
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError) as excinfo:
        get_settings()
    assert variable in str(excinfo.value)


def test_production_without_a_secret_key_is_refused(clean_env):
    clean_env.setenv("DJANGO_DEBUG", "false")
    with pytest.raises(SettingsError, match="DJANGO_SECRET_KEY"):
        get_settings()


def test_local_consistency_needs_a_local_dc(clean_env):
    clean_env.setenv("CASSANDRA_WRITE_CONSISTENCY", "LOCAL_QUORUM")
    with pytest.raises(SettingsError, match="CASSANDRA_LOCAL_DC"):
        get_settings()


def test_database_urls_become_django_entries():
    assert database_config("sqlite:////srv/wp/x.db", conn_max_age=0)["NAME"] == "/srv/wp/x.db"
    pg = database_config("postgres://u:p%40ss@db.example:5433/wp", conn_max_age=60)
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql",
        "wp",
        "u",
        "p@ss",
        "db.example",
        "5433",
    )


def test_the_database_url_query_string_reaches_the_driver():
    pg = database_config("postgres://u:p@db.example/wp?sslmode=require&connect_timeout=5", conn_max_age=60)
    assert pg["OPTIONS"] == {"sslmode": "require", "connect_timeout": 5}
    assert (pg["CONN_MAX_AGE"], pg["CONN_HEALTH_CHECKS"]) == (60, True)


def test_conn_max_age_in_the_database_url_overrides_the_default_and_is_not_a_driver_option():
    pg = database_config("postgres://u:p@db.example/wp?conn_max_age=600&sslmode=verify-full", conn_max_age=60)
    assert pg["CONN_MAX_AGE"] == 600
    assert pg["OPTIONS"] == {"sslmode": "verify-full"}
    assert "OPTIONS" not in database_config("postgres://u:p@db.example/wp?conn_max_age=0", conn_max_age=60)
    assert database_config("sqlite:///var/x.db?conn_max_age=30", conn_max_age=60)["CONN_MAX_AGE"] == 30
    assert database_config("sqlite:///var/x.db", conn_max_age=60)["CONN_MAX_AGE"] == 0


@pytest.mark.parametrize("url", ["postgres://u:p@db/wp?conn_max_age=soon", "postgres://u:p@db:port/wp"])
def test_a_malformed_database_url_stops_start_up_naming_it(clean_env, url):
    clean_env.setenv("DATABASE_URL", url)
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        get_settings()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("console://", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        (
            "file:///srv/wp/mail",
            {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": "/srv/wp/mail"},
        ),
        (
            "smtp://mailer:secret@smtp.example.com",
            {"EMAIL_HOST": "smtp.example.com", "EMAIL_PORT": 587, "EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False},
        ),
        ("smtp://smtp.example.com:2525", {"EMAIL_PORT": 2525, "EMAIL_USE_TLS": True, "EMAIL_HOST_USER": ""}),
        (
            "smtps://mailer:secret@smtp.example.com",
            {"EMAIL_BACKEND": SMTP, "EMAIL_PORT": 465, "EMAIL_USE_SSL": True, "EMAIL_USE_TLS": False},
        ),
        ("smtp://", {"EMAIL_HOST": "localhost", "EMAIL_PORT": 587}),
    ],
)
def test_each_email_scheme_maps_to_its_backend(url, expected):
    config = email_config(url)
    assert {key: config.get(key) for key in expected} == expected


def test_the_email_user_and_password_are_percent_decoded():
    config = email_config("smtps://mailer%40example.com:p%40ss%2Fw%3Ard%25@smtp.example.com:465")
    assert (config["EMAIL_HOST_USER"], config["EMAIL_HOST_PASSWORD"]) == ("mailer@example.com", "p@ss/w:rd%")


@pytest.mark.parametrize("url", ["smpt://mailer:secret@smtp.example.com", "sendgrid://key", "smtp.example.com:587"])
def test_an_unknown_email_scheme_stops_start_up_naming_email_url(clean_env, url):
    clean_env.setenv("EMAIL_URL", url)
    with pytest.raises(SettingsError, match="EMAIL_URL"):
        get_settings()


def test_django_settings_take_the_decoded_email_settings():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.EMAIL_HOST_PASSWORD, s.EMAIL_PORT)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "EMAIL_URL": "smtps://u:p%40ss@smtp.example.com"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["p@ss", "465"]


def test_replication_strings_are_checked():
    with pytest.raises(ValueError, match="SimpleStrategy"):
        parse_replication("SimpleStrategy:0")
