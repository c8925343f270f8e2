"""The viewing-session token: Django's signing (no private re-implementation), bound to its claims,
short-lived, and refused once the secret that signed it is rotated away."""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.core import signing

from analytics.acceptance import TOKEN_SALT, SessionClaims, viewing_session_token_read, viewing_session_token_sign


def claims() -> SessionClaims:
    return SessionClaims(7, 9, uuid.uuid4(), 1_700_000_000_000, 3, True)


def test_a_token_reads_back_as_its_claims() -> None:
    original = claims()

    assert viewing_session_token_read(token=viewing_session_token_sign(claims=original)) == original


def test_tampered_malformed_or_foreign_tokens_are_refused() -> None:
    good = viewing_session_token_sign(claims=claims())
    payload, stamp, signature = good.split(":")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    other_salt = signing.dumps({"u": 7, "v": 9, "s": str(uuid.uuid4()), "t": 1, "g": 0, "m": 1}, salt="other")
    for token in [
        f"{payload}x:{stamp}:{signature}",
        f"{payload}:{stamp}:{flipped}",
        f"{payload}:{stamp}",
        good[:-1],
        "",
        "::",
        other_salt,
        signing.dumps({"u": 7}, salt=TOKEN_SALT),  # genuine but missing claims
    ]:
        assert viewing_session_token_read(token=token) is None, token


def test_a_token_is_read_only_within_its_life_and_the_late_window(settings: Any, monkeypatch: Any) -> None:
    token = viewing_session_token_sign(claims=claims())
    life = settings.WATCH_TOKEN_TTL_SECONDS + settings.WATCH_LATE_WINDOW_SECONDS
    now = time.time()

    monkeypatch.setattr("django.core.signing.time.time", lambda: now + life - 5)
    assert viewing_session_token_read(token=token) is not None
    monkeypatch.setattr("django.core.signing.time.time", lambda: now + life + 5)
    assert viewing_session_token_read(token=token) is None


def test_a_rotated_secret_refuses_old_tokens_at_once_unless_listed_as_a_fallback(settings: Any) -> None:
    token = viewing_session_token_sign(claims=claims())
    assert viewing_session_token_read(token=token) is not None

    settings.SECRET_KEY_FALLBACKS = []
    previous, settings.SECRET_KEY = settings.SECRET_KEY, "a-brand-new-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    assert viewing_session_token_read(token=token) is None

    settings.SECRET_KEY_FALLBACKS = [previous]
    assert viewing_session_token_read(token=token) is not None
