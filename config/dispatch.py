"""A WSGI dispatcher in front of Django: a few hot paths go to handlers ahead of Django, everything else to Django.

Why: a watch batch through Django's full stack costs several times the handler's own work (session
row + user row: a SQL query each; CSRF; a dozen middleware), and the watch page sends one per viewer
every 10 s (docs/decisions/0002-watch-batches-ahead-of-django-on-granian.md). The handlers named in
settings.ROUTES_AHEAD_OF_DJANGO (exact PATH_INFO -> a handler's name) authenticate by other means (the
watch batches: the signed viewing-session token) and answer without Django's URL resolver or
middleware.

config imports no app, not even by a dotted string it would resolve itself (tests/config/
test_layering.py): the app that owns a handler registers it by name from its `AppConfig.ready()`,

    from config.dispatch import route_handler_register

    route_handler_register(name="watch-ingest", app=watch_ingest_app)

and routes are looked up once, when the application is built: after `django.setup()` (config/wsgi.py
builds it from `get_wsgi_application()`'s result, config/wsgi_ingest.py after its own setup).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.registry import Registry

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class PathDispatch:
    """Exact-path routing to WSGI handlers ahead of Django; Django for every other path."""

    def __init__(self, django_app: WSGIApp, routes: dict[str, WSGIApp]) -> None:
        self.django_app = django_app
        self.routes = routes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler = self.routes.get(environ.get("PATH_INFO", ""))
        if handler is None:
            return self.django_app(environ, start_response)
        return handler(environ, start_response)


_handlers: Registry[WSGIApp] = Registry("handler ahead of Django")


def route_handler_register(*, name: str, app: WSGIApp) -> None:
    """Register the WSGI callable `app` as the handler `name` (settings.ROUTES_AHEAD_OF_DJANGO' values)."""
    _handlers.register(name, app)


def _routes_ahead_of_django() -> dict[str, WSGIApp]:
    # The apps register their handlers in ready(): before it, every route would look unregistered.
    apps.check_apps_ready()
    routes = {}
    for path, name in settings.ROUTES_AHEAD_OF_DJANGO.items():
        handler = _handlers.get(name)
        if handler is None:
            # At start-up, not at the first request: a typo must not turn the endpoint into a 404.
            raise ImproperlyConfigured(
                f"settings.ROUTES_AHEAD_OF_DJANGO routes {path} to {name!r}, which no app registered "
                f"(config.dispatch.route_handler_register); registered: {sorted(_handlers)}"
            )
        routes[path] = handler
    return routes


def dispatch_application(django_app: WSGIApp) -> WSGIApp:
    """`django_app` behind the routes ahead of Django of settings.ROUTES_AHEAD_OF_DJANGO (Django alone when empty)."""
    routes = _routes_ahead_of_django()
    return PathDispatch(django_app, routes) if routes else django_app


_NOT_HERE = b'{"error": "not found: this server answers only the watch-batch endpoints"}'


def _not_here(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(_NOT_HERE)))])
    return [_NOT_HERE]


def routes_ahead_of_django_application() -> WSGIApp:
    """Only the routes ahead of Django, 404 for every other path: the ingest process (config/wsgi_ingest.py).
    It never serves the site, so a port opened for watch batches is not a second door to the admin
    or the pages, and its processes never load Django's middleware or URLconf."""
    return PathDispatch(_not_here, _routes_ahead_of_django())
