"""Deployment settings: TLS to Cassandra, AstraDB bundle, metrics token; contradictions stop start-up."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys

import pytest

from config.env import SettingsError, get_settings
from tests.conftest import ROOT

VARIABLES = (
    "CASSANDRA_HOSTS",
    "CASSANDRA_PORT",
    "CASSANDRA_SSL",
    "CASSANDRA_SSL_CA_FILE",
    "CASSANDRA_SECURE_CONNECT_BUNDLE",
    "CASSANDRA_USERNAME",
    "CASSANDRA_PASSWORD",
    "CASSANDRA_REPLICATION",
    "CASSANDRA_LOCAL_DC",
    "CASSANDRA_WRITE_CONSISTENCY",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "METRICS_TOKEN",
    "LOG_FORMAT",
)


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture
def bundle(env, tmp_path):
    path = tmp_path / "secure-connect-wp.zip"
    path.write_bytes(b"PK")
    env.setenv("CASSANDRA_SECURE_CONNECT_BUNDLE", str(path))
    env.setenv("CASSANDRA_USERNAME", "token")
    env.setenv("CASSANDRA_PASSWORD", "AstraCS:abc")
    return path


def refused(variable: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        get_settings()
    assert variable in str(excinfo.value)


def test_the_astra_bundle_with_its_token_is_accepted(bundle):
    assert get_settings().cassandra_secure_connect_bundle == bundle


@pytest.mark.parametrize(
    ("variable", "value"),
    [("CASSANDRA_HOSTS", "10.0.0.1"), ("CASSANDRA_PORT", "9142"), ("CASSANDRA_SSL", "true")],
)
def test_the_astra_bundle_beside_its_own_contact_points_or_tls_is_refused(bundle, env, variable, value):
    env.setenv(variable, value)
    refused(variable)


def test_a_ca_file_without_tls_is_refused(env, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env.setenv("CASSANDRA_SSL_CA_FILE", str(ca))
    refused("CASSANDRA_SSL_CA_FILE")


def test_a_missing_ca_file_is_refused(env, tmp_path):
    env.setenv("CASSANDRA_SSL", "true")
    env.setenv("CASSANDRA_SSL_CA_FILE", str(tmp_path / "nope.pem"))
    refused("CASSANDRA_SSL_CA_FILE")


def test_a_local_dc_that_the_replication_does_not_name_is_refused(env):
    env.setenv("CASSANDRA_REPLICATION", "NetworkTopologyStrategy:dc1=3")
    env.setenv("CASSANDRA_LOCAL_DC", "dc2")
    refused("CASSANDRA_LOCAL_DC")


def test_a_short_metrics_token_is_refused_in_production(env):
    env.setenv("DJANGO_DEBUG", "false")
    env.setenv("DJANGO_SECRET_KEY", "x" * 50)
    env.setenv("METRICS_TOKEN", "short")
    refused("METRICS_TOKEN")


def test_logs_are_json_in_production_unless_told_otherwise(env):
    env.setenv("DJANGO_DEBUG", "false")
    env.setenv("DJANGO_SECRET_KEY", "x" * 50)
    assert get_settings().json_logs is True
    env.setenv("LOG_FORMAT", "plain")
    get_settings.cache_clear()
    assert get_settings().json_logs is False


def test_tls_to_cassandra_gives_the_driver_a_verifying_ssl_context():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "c = s.DATABASES['cassandra']['OPTIONS']['connection']['ssl_context']; "
        "print(c.verify_mode == __import__('ssl').CERT_REQUIRED, c.check_hostname)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASSANDRA_SSL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        CASSANDRA_SSL="true",
        CASSANDRA_SSL_CA_FILE=ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


def test_json_log_lines_carry_the_message_level_and_extra_fields():
    import json
    import logging

    from config.logging import JsonFormatter

    record = logging.LogRecord("analytics", logging.WARNING, __file__, 1, "drained %d", (5,), None)
    record.events = 50
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"], line["events"]) == ("WARNING", "analytics", "drained 5", 50)
