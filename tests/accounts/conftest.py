from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache

from tests.factories import MemberFactory

PASSWORD = "a long and unusual passphrase 42"


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    # allauth counts attempts in the cache (Redis); every test starts with a clean slate. The test
    # run has its own Redis database (REDIS_URL), so this clears nobody else's keys.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def unconfirmed_member(db: None) -> Any:
    return MemberFactory(confirmed=False)


@pytest.fixture
def other_member(db: None) -> Any:
    return MemberFactory()


@pytest.fixture
def email() -> str:
    """An address no other test uses (allauth's per-address limits outlive a single test)."""
    return f"member-{uuid.uuid4().hex[:10]}@example.com"


def link_in_last_mail(path_fragment: str) -> str:
    """The first link in the newest email whose path contains `path_fragment`, as a path."""
    body = str(mail.outbox[-1].body)
    match = re.search(rf"https?://[^/\s]+([^\s]*?{re.escape(path_fragment)}\S*)", body)
    assert match, body
    return match.group(1)
