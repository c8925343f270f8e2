"""Fixtures of the analytics tests."""

from __future__ import annotations

from typing import Any

import pytest

from analytics.stream import stream_client


@pytest.fixture
def redis() -> Any:
    """The real Redis the stream lives in (the tests' own database), emptied for this test."""
    client = stream_client()
    client.flushdb()
    return client
