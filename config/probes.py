"""Health probes: `/healthz` asks each app about the services it uses, without importing the app.

`config/` imports no app module (an app importing `config.metrics` while config imports the app back
is how import cycles start). Instead each app registers its probes once, from `AppConfig.ready()`
(a `config.registry.Registry`, as for member data and metrics collectors):

    from config.probes import probe_register

    probe_register(name="cassandra", probe=cassandra_probe)

A probe raises when its service does not answer (only the exception's class name is reported: messages
can carry hosts or credentials) and otherwise returns None or a `ProbeResult`: details shown to
operators only, and warnings. A critical probe's failure makes `/healthz` "down"; an informational
one's (critical=False) becomes a warning: a deep queue, say, is not an outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

from config.registry import Registry


@dataclass(frozen=True)
class ProbeResult:
    details: Mapping[str, object] | None = None
    warnings: tuple[str, ...] = ()


Probe = Callable[[], ProbeResult | None]


@dataclass(frozen=True)
class RegisteredProbe:
    name: str
    probe: Probe
    critical: bool


@dataclass(frozen=True)
class ProbeReport:
    name: str
    critical: bool
    ok: bool
    ms: float
    error: str | None = None  # the exception's class name
    details: Mapping[str, object] | None = None
    warnings: tuple[str, ...] = ()


# Top-level keys of the /healthz body: a probe cannot take them.
RESERVED_NAMES = frozenset({"status", "down", "checks", "warnings", "checked_seconds_ago", "database", "redis"})

_registry: Registry[RegisteredProbe] = Registry("probe")


def probe_register(*, name: str, probe: Probe, critical: bool = True) -> None:
    """Register `probe` under `name` (its key in /healthz `checks`, or its details' key if not critical).

    Registering the same probe again is a no-op (`ready()` can run twice in some test set-ups); a
    different one under a taken name is a configuration error, not a silent override.
    """
    if name in RESERVED_NAMES:
        raise ImproperlyConfigured(f"probe name {name!r} is reserved")
    _registry.register(name, RegisteredProbe(name=name, probe=probe, critical=critical))


def probe_unregister(*, name: str) -> None:
    """Remove a probe (for tests that register a fake one)."""
    _registry.pop(name, None)


def probes_registered() -> list[RegisteredProbe]:
    """Every registered probe, in registration order."""
    return list(_registry.values())


def probe_run(entry: RegisteredProbe) -> ProbeReport:
    started = time.perf_counter()
    try:
        result = entry.probe()
    except Exception as exc:
        ms = round((time.perf_counter() - started) * 1000, 1)
        warnings = () if entry.critical else (f"{entry.name} probe failed ({type(exc).__name__})",)
        return ProbeReport(
            name=entry.name, critical=entry.critical, ok=False, ms=ms, error=type(exc).__name__, warnings=warnings
        )
    ms = round((time.perf_counter() - started) * 1000, 1)
    result = result or ProbeResult()
    return ProbeReport(
        name=entry.name,
        critical=entry.critical,
        ok=True,
        ms=ms,
        details=result.details,
        warnings=tuple(result.warnings),
    )


def probes_run(extra: Mapping[str, Probe] | None = None) -> list[ProbeReport]:
    """Run `extra` (config's own critical checks) then every registered probe, one after another."""
    entries = [RegisteredProbe(name=n, probe=p, critical=True) for n, p in (extra or {}).items()]
    return [probe_run(entry) for entry in [*entries, *probes_registered()]]
