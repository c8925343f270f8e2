"""A WSGI dispatcher in front of Django: a few hot paths go to lean handlers, everything else to Django.

Why: a watch batch through Django's full stack costs ~1.6 ms of CPU (session row + user row: a SQL
query each; CSRF; a dozen middleware), and the watch page sends one per viewer every 10 s. The
handlers named in settings.LEAN_WSGI_ROUTES (exact PATH_INFO -> dotted path of a WSGI callable)
authenticate by other means (analytics.ingest: the signed viewing-session token) and answer without
Django's URL resolver or middleware. Routes are resolved once, when the application is built, with
import_string: config imports no app code at module level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

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


def dispatch_application(django_app: WSGIApp) -> WSGIApp:
    """`django_app` behind the lean routes of settings.LEAN_WSGI_ROUTES (Django alone when empty)."""
    routes: dict[str, WSGIApp] = {path: import_string(dotted) for path, dotted in settings.LEAN_WSGI_ROUTES.items()}
    return PathDispatch(django_app, routes) if routes else django_app
