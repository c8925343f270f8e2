"""config/dispatch.py finds each lean handler in the registry its app fills from ready(), never by
importing a dotted path from settings (tests/config/test_layering.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.dispatch import (
    PathDispatch,
    dispatch_application,
    route_handler_register,
    routes_ahead_of_django_application,
)


def _django(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    return [b"django"]


def test_each_lean_path_goes_to_the_handler_its_app_registered():
    from analytics.ingest import watch_ingest_app

    app = dispatch_application(_django)

    assert isinstance(app, PathDispatch)
    assert app.routes == {"/api/watch/": watch_ingest_app, "/api/watch/beacon/": watch_ingest_app}
    assert app({"PATH_INFO": "/"}, lambda *a: None) == [b"django"]


def test_a_route_to_a_name_no_app_registered_stops_start_up(settings):
    # At start-up, not at the first batch: a typo would otherwise turn the endpoint into a 404.
    settings.ROUTES_AHEAD_OF_DJANGO = {"/api/watch/": "analytics.ingest.watch_ingest_app"}

    for build in (lambda: dispatch_application(_django), routes_ahead_of_django_application):
        with pytest.raises(ImproperlyConfigured, match=r"analytics\.ingest\.watch_ingest_app.*watch-ingest"):
            build()


def test_another_handler_under_a_taken_name_is_refused():
    from analytics.ingest import watch_ingest_app

    route_handler_register(name="watch-ingest", app=watch_ingest_app)  # the same again: a no-op
    with pytest.raises(ImproperlyConfigured, match="already registered"):
        route_handler_register(name="watch-ingest", app=_django)
