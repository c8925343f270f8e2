"""A WSGI dispatcher in front of Django: a few hot paths go to lean handlers, everything else to Django.

Why: a watch batch through Django's full stack costs several times the handler's own work (session
row + user row: a SQL query each; CSRF; a dozen middleware), and the watch page sends one per viewer
every 10 s (docs/decisions/0002-watch-batches-ahead-of-django-on-granian.md). The handlers named in
settings.LEAN_WSGI_ROUTES (exact PATH_INFO -> a handler's name) authenticate by other means (the
watch batches: the signed viewing-session token) and answer without Django's URL resolver or
middleware.

config imports no app, not even by a dotted string it would resolve itself (tests/config/
test_layering.py): the app that owns a handler registers it by name from its `AppConfig.ready()`,

    from config.dispatch import lean_handler_register

    lean_handler_register(name="watch-ingest", app=watch_ingest_app)

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
    """Exact-path routing to lean WSGI handlers; Django for every other path."""

    def __init__(self, django_app: WSGIApp, routes: dict[str, WSGIApp]) -> None:
        self.django_app = django_app
        self.routes = routes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler = self.routes.get(environ.get("PATH_INFO", ""))
        if handler is None:
            return self.django_app(environ, start_response)
        return handler(environ, start_response)


_handlers: Registry[WSGIApp] = Registry("lean handler")


def lean_handler_register(*, name: str, app: WSGIApp) -> None:
    """Register the WSGI callable `app` as the lean handler `name` (settings.LEAN_WSGI_ROUTES' values)."""
    _handlers.register(name, app)


def _lean_routes() -> dict[str, WSGIApp]:
    # The apps register their handlers in ready(): before it, every route would look unregistered.
    apps.check_apps_ready()
    routes = {}
    for path, name in settings.LEAN_WSGI_ROUTES.items():
        handler = _handlers.get(name)
        if handler is None:
            # At start-up, not at the first request: a typo must not turn the endpoint into a 404.
            raise ImproperlyConfigured(
                f"settings.LEAN_WSGI_ROUTES routes {path} to {name!r}, which no app registered "
                f"(config.dispatch.lean_handler_register); registered: {sorted(_handlers)}"
            )
        routes[path] = handler
    return routes


def dispatch_application(django_app: WSGIApp) -> WSGIApp:
    """`django_app` behind the lean routes of settings.LEAN_WSGI_ROUTES (Django alone when empty)."""
    routes = _lean_routes()
    return PathDispatch(django_app, routes) if routes else django_app


_NOT_HERE = b'{"error": "not found: this server answers only the watch-batch endpoints"}'


def _not_here(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(_NOT_HERE)))])
    return [_NOT_HERE]


def lean_routes_application() -> WSGIApp:
    """Only the lean routes, 404 for every other path: the ingest process (config/wsgi_ingest.py).
    It never serves the site, so a port opened for watch batches is not a second door to the admin
    or the pages, and its processes never load Django's middleware or URLconf."""
    return PathDispatch(_not_here, _lean_routes())
