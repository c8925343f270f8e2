"""Hardware- and cluster-dependent knobs come from the environment (config/env.py), checked at start-up.

Product rules and abuse limits (WATCH_SESSIONS_*, WATCH_CONCURRENT_SESSIONS, token lifetimes) stay
constants in config/settings.py: an operator sizes the machines, not the rules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from config.env import Settings, SettingsError, get_settings
from tests.conftest import ROOT

KNOBS = {
    "CASSANDRA_CONCURRENCY": "64",
    "CASSANDRA_PACKED_CONCURRENCY": "3",
    "CASSANDRA_REQUEST_TIMEOUT": "4.5",
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD": "800000",
    "CELERY_BROKER_VISIBILITY_TIMEOUT": "900",
}


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in KNOBS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_the_knobs_reach_django_celery_and_the_cassandra_module():
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "from analytics import cassandra as c; "
        "print(json.dumps([c.CONCURRENCY, c.PACKED_CONCURRENCY, "
        "s.DATABASES['cassandra']['OPTIONS']['session']['default_timeout'], "
        "s.CELERY_WORKER_MAX_MEMORY_PER_CHILD, s.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout']]))"
    )
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **KNOBS}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [64, 3, 4.5, 800_000, 900]


def test_the_knobs_default_to_the_measured_values(env):
    settings = get_settings()

    assert (settings.cassandra_concurrency, settings.cassandra_packed_concurrency) == (128, 8)
    assert settings.cassandra_request_timeout == 10.0
    assert settings.celery_worker_max_memory_per_child == 400_000
    assert settings.celery_broker_visibility_timeout == 300


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CASSANDRA_CONCURRENCY", "0"),
        ("CASSANDRA_PACKED_CONCURRENCY", "many"),
        ("CASSANDRA_REQUEST_TIMEOUT", "-1"),
        ("CELERY_WORKER_MAX_MEMORY_PER_CHILD", "400"),  # KiB: 400 would recycle after every task
        ("CELERY_BROKER_VISIBILITY_TIMEOUT", "5"),  # shorter than a drain: every task would run twice
    ],
)
def test_a_bad_knob_stops_start_up_naming_the_variable(env, variable, value):
    env.setenv(variable, value)

    with pytest.raises(SettingsError) as excinfo:
        get_settings()

    assert variable in str(excinfo.value)


def test_env_example_lists_every_setting():
    listed = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }

    assert {name.upper() for name in Settings.model_fields} <= listed
