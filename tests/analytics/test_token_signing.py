"""The viewing-session token read (analytics.services._TokenSigner, HMAC key derived once) accepts
exactly the tokens django.core.signing.loads accepts, and refuses the same ones."""

from __future__ import annotations

import time
import uuid
from typing import Any
from unittest import mock

import pytest
from django.core import signing

from analytics import services
from analytics.services import TOKEN_SALT, SessionClaims, viewing_session_token_read, viewing_session_token_sign

MAX_AGE = 3600
OLD_KEY = "an-old-secret-key-that-was-rotated-away-0123456789-abcdefghijkl"


def claims() -> SessionClaims:
    return SessionClaims(7, 9, uuid.uuid4(), 1_700_000_000_000, 3)


def django_verdict(token: str) -> Any:
    try:
        return signing.loads(token, salt=TOKEN_SALT, max_age=MAX_AGE)
    except Exception as exc:  # the verdict is the exception type
        return type(exc)


def lean_verdict(token: str) -> Any:
    try:
        return services._token_signer().unsign_object(token, max_age=MAX_AGE)
    except Exception as exc:
        return type(exc)


def signed_at(seconds_ago: int, **kwargs: Any) -> str:
    payload = {"u": 7, "v": 9, "s": str(uuid.uuid4()), "t": 1, "g": 0}
    with mock.patch("django.core.signing.time.time", return_value=time.time() - seconds_ago):
        return signing.dumps(payload, **({"salt": TOKEN_SALT} | kwargs))


def tokens() -> list[str]:
    good = viewing_session_token_sign(claims=claims())
    payload, stamp, signature = good.split(":")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return [
        good,
        signed_at(0, compress=True),  # a compressed body: Django accepts it, so must we
        signed_at(MAX_AGE - 60),
        signed_at(MAX_AGE + 60),  # expired
        signed_at(0, salt="another.salt"),
        signed_at(0, key=OLD_KEY),
        f"{payload}x:{stamp}:{signature}",  # tampered body
        f"{payload}:{stamp}:{flipped}",  # tampered signature
        f"{payload}:{stamp}",
        f"{payload}:{stamp}:",
        good[:-1],
        "",
        "no-separator",
        "::",
        f"{payload}:{stamp}:{signature}\udc80",
    ]


@pytest.mark.parametrize("fallbacks", [[], [OLD_KEY]])
def test_every_token_gets_the_verdict_django_gives_it(settings: Any, fallbacks: list[str]) -> None:
    settings.SECRET_KEY_FALLBACKS = fallbacks

    verdicts = [(django_verdict(token), lean_verdict(token)) for token in tokens()]

    assert [ours for _, ours in verdicts] == [theirs for theirs, _ in verdicts]
    accepted = sum(1 for theirs, _ in verdicts if isinstance(theirs, dict))
    assert accepted == (4 if fallbacks else 3)  # the cases above do cover both answers


def test_a_token_django_signed_reads_back_as_its_claims() -> None:
    original = claims()

    assert viewing_session_token_read(token=viewing_session_token_sign(claims=original)) == original


def test_a_rotated_secret_refuses_old_tokens_at_once_unless_listed_as_a_fallback(settings: Any) -> None:
    token = viewing_session_token_sign(claims=claims())
    assert viewing_session_token_read(token=token) is not None

    settings.SECRET_KEY_FALLBACKS = []
    previous, settings.SECRET_KEY = settings.SECRET_KEY, "a-brand-new-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    assert viewing_session_token_read(token=token) is None

    settings.SECRET_KEY_FALLBACKS = [previous]
    assert viewing_session_token_read(token=token) is not None


def test_the_hmac_key_is_derived_once_for_many_reads() -> None:
    services._derived_hmac_key.cache_clear()
    token = viewing_session_token_sign(claims=claims())

    with mock.patch("analytics.services.hashlib.sha256", wraps=services.hashlib.sha256) as derive:
        read = [viewing_session_token_read(token=token) for _ in range(5)]

    assert all(read)
    assert derive.call_count == 1
