"""The `auth_request` alternative measured by the bench's media stage (bench/media.py), never deployed:
a WSGI callable nginx asks before each playlist or segment (`auth_request /_auth`), answering 204
when the request's session is a live member's session and the ladder's video may be watched, else
403. Plain WSGI, no Django middleware or URL resolver: a lower bound of what a Django view doing the
same would cost, so if even this loses to secure_link, a real view loses by more
(docs/decisions/0011-media-delivery-secure-link.md).

Run by the bench under gunicorn (gunicorn.conf.py) with the bench's environment, passed down by the
parent (it does not import `bench`, whose import would draw another secret key).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from importlib import import_module
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402

from videos.models import Video  # noqa: E402

_STORE = import_module(settings.SESSION_ENGINE).SessionStore
_FOLDER = re.compile(r"^/auth/([0-9]+)/")


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    status = "403 Forbidden"
    cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    folder = _FOLDER.match(environ.get("HTTP_X_ORIGINAL_URI", ""))
    if morsel is not None and folder is not None:
        user_id = _STORE(morsel.value).get("_auth_user_id")
        if (
            user_id is not None
            and get_user_model().objects.filter(pk=user_id, is_active=True).exists()
            and Video.objects.filter(pk=int(folder.group(1)), is_published=True).exists()
        ):
            status = "204 No Content"
    start_response(status, [("Content-Length", "0")])
    return [b""]
