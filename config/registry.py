"""Named entries that apps add from their `AppConfig.ready()`: the one shape of every plug-in point.

A lower layer (config, accounts, videos) must not import a higher one, yet needs its help: /healthz
asks each app about its services (`config.probes`), /metrics adds each app's gauges
(`config.metrics`), accounts exports and erases each app's member data (`accounts.registry`), the
catalogue's pages show analytics' progress (`videos.registry`). Each keeps a `Registry` of named
entries, in registration order. Registering the same entry again is a no-op (`ready()` can run
twice in some test set-ups); a different one under a taken name is a configuration error, never a
silent override. Tests swap an entry with pytest's `monkeypatch.setitem`.
"""

from __future__ import annotations

from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")


class Registry(dict[str, T]):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def register(self, name: str, entry: T) -> None:
        existing = self.get(name)
        if existing is not None and existing != entry:
            raise ImproperlyConfigured(f"{self.kind} {name!r} is already registered")
        self[name] = entry
