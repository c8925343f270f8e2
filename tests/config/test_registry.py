"""The one plug-in mechanism (config/registry.py) behind probes, metrics collectors, member data and
page context: named entries in registration order, idempotent, never silently overridden."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts import registry as member_data
from config import metrics, probes
from config.registry import Registry
from videos import registry as page_context


def first() -> None: ...


def second() -> None: ...


def test_registering_the_same_entry_again_is_a_no_op_and_order_is_kept():
    entries: Registry[object] = Registry("thing")
    entries.register("b", first)
    entries.register("a", second)
    entries.register("b", first)

    assert list(entries.items()) == [("b", first), ("a", second)]


def test_another_entry_under_a_taken_name_is_a_configuration_error():
    entries: Registry[object] = Registry("thing")
    entries.register("a", first)

    with pytest.raises(ImproperlyConfigured, match="thing 'a' is already registered"):
        entries.register("a", second)
    assert entries["a"] is first


@pytest.mark.parametrize(
    ("register", "kind"),
    [
        (lambda: probes.probe_register(name="celery", probe=first), "probe"),
        (lambda: metrics.metrics_collector_register(name="pipeline", collect=lambda: []), "metrics collector"),
        (
            lambda: member_data.member_data_register(name="watching", exporter=lambda u: {}, eraser=lambda u: None),
            "member data handler",
        ),
        (
            lambda: page_context.page_context_register(name="analytics", provider=lambda **kw: {}),
            "page context provider",
        ),
    ],
)
def test_every_plug_in_point_refuses_a_second_entry_under_an_apps_name(register, kind):
    with pytest.raises(ImproperlyConfigured, match=f"{kind} '.+' is already registered"):
        register()
