"""Tells a member why this device was logged out when the account, not the member here, ended it.

Django ends every other session of an account on its next request when the password changes (the
session's password hash no longer matches) or the account is deactivated or deleted, and the
member then just finds themselves logged out. The session still names its member until
`request.user` is read, so comparing the two says the session was ended for them, and one read of
the account says why.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse

from accounts.selectors import session_end_reason


def ended_session_notice_middleware(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[..., HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        # Reading the session costs nothing extra: AuthenticationMiddleware's user reads it anyway.
        user_id = request.session.get(SESSION_KEY)
        if user_id is not None and not request.user.is_authenticated:
            messages.warning(request, session_end_reason(user_id=user_id))
        return get_response(request)

    return middleware
