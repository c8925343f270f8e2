"""SITE_URL: the origin every emailed link is built on (accounts.adapter), checked at start-up."""

from __future__ import annotations

import pytest

from config.env import Settings, SettingsError, get_settings


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("SITE_URL", "DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "NGINX_LISTEN"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "value",
    [
        "watchpoint.example",
        "ftp://watchpoint.example",
        "https://watchpoint.example/members",
        "https://watchpoint.example.",
        "https://user@watchpoint.example",
        "https://watchpoint.example/?next=/",
        "https://watchpoint.example:99999",
    ],
)
def test_a_site_url_that_is_not_a_bare_origin_stops_start_up(clean_env, value):
    clean_env.setenv("SITE_URL", value)
    with pytest.raises(SettingsError) as excinfo:
        get_settings()
    assert "SITE_URL" in str(excinfo.value)


def test_the_site_url_keeps_its_port_and_loses_a_trailing_slash(clean_env):
    clean_env.setenv("SITE_URL", "https://Watchpoint.Example:8443/")
    assert get_settings().site_origin == "https://watchpoint.example:8443"


def test_without_a_site_url_production_uses_https_and_the_first_allowed_host(clean_env):
    env = Settings(
        _env_file=None, django_debug=False, django_secret_key="x" * 50, django_allowed_hosts=[".example", "wp.example"]
    )
    assert env.site_origin == "https://wp.example"
    # make run: members arrive through nginx (bin/nginx, NGINX_LISTEN), not runserver's port.
    assert Settings(_env_file=None).site_origin == "http://127.0.0.1:8080"
