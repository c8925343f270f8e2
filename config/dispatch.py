"""A WSGI dispatcher in front of Django: a few hot paths go to handlers ahead of Django, everything else to Django.

Why: a watch batch through Django's full stack costs several times the handler's own work (session
row + user row: a SQL query each; CSRF; a dozen middleware), and the watch page sends one per viewer
every 10 s (docs/decisions/0002-watch-batches-ahead-of-django-on-granian.md). The handlers named in
settings.ROUTES_AHEAD_OF_DJANGO (exact PATH_INFO -> dotted path of a WSGI callable) authenticate by other
means (analytics.ingest: the signed viewing-session token) and answer without Django's URL resolver
or middleware. Routes are resolved once, when the application is built, with import_string: config
imports no app code at module level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

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


def _routes_ahead_of_django() -> dict[str, WSGIApp]:
    return {path: import_string(dotted) for path, dotted in settings.ROUTES_AHEAD_OF_DJANGO.items()}


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
