"""The layering of docs/architecture.md where import-linter cannot look (issue #20).

import-linter (pyproject.toml) sees Python imports only. These tests read what it does not:
dotted strings that config/ resolves to app code, templates that load another app's tag library or
include another app's template, template names one app's code hands to another's, and which of
another app's modules an app imports (its selectors, services and registry only; a model's type
reaches another app through a Protocol, not an import of its models).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.template import engines

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES = ROOT / "templates"
APPS = ("accounts", "videos", "analytics", "billing")

# What an app offers the others: reads, writes, and the registries the others fill.
PUBLIC = {
    "accounts": {"selectors", "services", "registry"},
    "videos": {"selectors", "services", "registry"},
    "analytics": set[str](),
    # Its signal (analytics revokes watch tokens when an entitlement ends) and its reads.
    "billing": {"selectors", "services", "signals"},
}

# Settings Django, allauth or Celery read by name: Django imports these itself (or, for Celery, they
# are task names, not modules); config's own code never resolves an app's dotted path.
SETTINGS_NAMING_APPS = {
    "INSTALLED_APPS",
    "AUTH_USER_MODEL",
    "AUTHENTICATION_BACKENDS",
    "TEMPLATES",  # context processors
    "SESSION_ENGINE",
    "MIDDLEWARE",  # Django reads it (accounts: the ended-session notice)
    "ACCOUNT_ADAPTER",
    "ACCOUNT_FORMS",
    "CELERY_TASK_ROUTES",
    "CELERY_BEAT_SCHEDULE",
}

# Template directories owned by an app (allauth's "account/" and "allauth/" overrides are accounts').
TEMPLATE_OWNERS = {
    "account": "accounts",
    "allauth": "accounts",
    "videos": "videos",
    "analytics": "analytics",
    "admin/videos": "videos",
    "admin/analytics": "analytics",
    "admin/accounts": "accounts",
    "billing": "billing",
}

_APP_DOTTED = re.compile(rf"(?:{'|'.join(APPS)})(?:\.\w+)+")
_TEMPLATE_NAME = re.compile(r"[\w./-]+\.html")
_LOAD = re.compile(r"{%\s*load\s+(.+?)\s*%}")
_INCLUDE = re.compile(r"""{%\s*(include|extends)\s+["']([^"']+)["']""")


def template_owner(name: str) -> str | None:
    """The app a template name belongs to; None for the site's own (base.html, error pages, the
    admin index) and third-party ones."""
    parts = name.split("/")
    return TEMPLATE_OWNERS.get("/".join(parts[:2])) or TEMPLATE_OWNERS.get(parts[0])


def module_owner(module: str) -> str | None:
    top = module.split(".", 1)[0]
    return top if top in APPS else None


def python_files(package: str) -> Iterator[Path]:
    yield from sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def strings(tree: ast.AST) -> Iterator[tuple[ast.Constant, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node, node.value


def imported_modules(tree: ast.AST) -> Iterator[str]:
    """Every module an AST imports, `from a import b` as a.b too (b may be a module)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in APPS:
                yield from (f"{node.module}.{alias.name}" for alias in node.names)
            else:
                yield node.module


# --- config/ reaches no app by a dotted string ----------------------------------------------------


def config_dotted_strings() -> list[str]:
    found = []
    for path in sorted((ROOT / "config").glob("*.py")):
        tree = ast.parse(path.read_text())
        allowed: set[int] = set()
        for node in ast.walk(tree):
            # config/urls.py includes the apps' URLconfs by name (docs/architecture.md).
            if path.name == "urls.py" and isinstance(node, ast.Call) and getattr(node.func, "id", "") == "include":
                allowed.update(id(arg) for arg in node.args)
            if path.name.startswith("settings") and isinstance(node, ast.Assign):
                names = {target.id for target in node.targets if isinstance(target, ast.Name)}
                if names & SETTINGS_NAMING_APPS:
                    allowed.update(id(const) for const, _ in strings(node.value))
        found += [
            f"config/{path.name}:{const.lineno}: {value!r}"
            for const, value in strings(tree)
            if id(const) not in allowed and _APP_DOTTED.fullmatch(value)
        ]
    return found


def test_config_names_no_app_module_in_a_string_it_could_import():
    # A dotted path in a setting config resolves itself (import_string) is an import import-linter
    # never sees: lower layers get app code through registries the apps fill from ready().
    assert config_dotted_strings() == []


# --- templates: an app's templates use only its own and shared templates and tag libraries --------


def library_owners() -> dict[str, str | None]:
    libraries: dict[str, str] = engines["django"].engine.libraries
    return {name: module_owner(module) for name, module in libraries.items()}


def template_violations() -> list[str]:
    owners = library_owners()
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        owner = template_owner(name)
        text = path.read_text()
        for match in _LOAD.finditer(text):
            bits = match.group(1).split()
            loaded = [bits[-1]] if "from" in bits else bits
            for library in loaded:
                library_owner = owners.get(library)
                if library_owner is not None and library_owner != owner:
                    found.append(f"{name}: loads {library!r} ({library_owner})")
        for match in _INCLUDE.finditer(text):
            target = match.group(2)
            target_owner = template_owner(target)
            if target_owner is not None and target_owner != owner:
                found.append(f"{name}: {match.group(1)}s {target!r} ({target_owner})")
    return found


def test_no_template_loads_or_includes_another_apps_tags_or_templates():
    # A page shows another app's part as HTML its view got from that app (videos.registry), and
    # the site's templates (base.html, the admin index) only display what views and registries
    # put in the context: a tag library is code, and a template loading another app's reaches
    # into it past every contract.
    assert template_violations() == []


def python_template_names() -> list[str]:
    found = []
    for package in ("config", *APPS):
        for path in python_files(package):
            for const, value in strings(ast.parse(path.read_text())):
                if _TEMPLATE_NAME.fullmatch(value):
                    target = template_owner(value)
                    if target is not None and target != module_owner(package):
                        found.append(f"{path.relative_to(ROOT)}:{const.lineno}: {value!r}")
    return found


def test_code_renders_only_its_own_apps_templates():
    assert python_template_names() == []


# --- Python: another app's modules only through its public ones -----------------------------------


def private_imports() -> list[str]:
    found = []
    for app in APPS:
        for path in python_files(app):
            for module in imported_modules(ast.parse(path.read_text())):
                other = module_owner(module)
                if other is None or other == app:
                    continue
                public = module.split(".")[1] if "." in module else ""
                if public not in PUBLIC[other]:
                    found.append(f"{path.relative_to(ROOT)}: imports {module}")
    return found


def test_apps_import_each_other_only_through_selectors_services_and_registries():
    # Type-only imports count too: a model's type is its internals as much as its manager is.
    assert private_imports() == []


# --- the checks themselves ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("base.html", None),
        ("admin/index.html", None),
        ("admin/base_site.html", None),
        ("admin/videos/_unavailable_warning.html", "videos"),
        ("account/login.html", "accounts"),
        ("analytics/admin/_glance.html", "analytics"),
        ("videos/watch.html", "videos"),
    ],
)
def test_each_template_has_the_owner_its_directory_says(name, owner):
    assert template_owner(name) == owner


def test_the_template_check_sees_loads_and_includes(tmp_path, monkeypatch):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "page.html").write_text(
        '{% load static watch_tracking %}{% include "analytics/_tracker.html" %}{% include "videos/_player.html" %}'
    )
    (tmp_path / "base.html").write_text("{% load videos_tags fragments %}")
    monkeypatch.setattr(f"{__name__}.TEMPLATES", tmp_path)
    monkeypatch.setattr(
        f"{__name__}.library_owners",
        lambda: {"static": None, "fragments": None, "watch_tracking": "analytics", "videos_tags": "videos"},
    )

    assert template_violations() == [
        "base.html: loads 'videos_tags' (videos)",
        "videos/page.html: loads 'watch_tracking' (analytics)",
        "videos/page.html: includes 'analytics/_tracker.html' (analytics)",
    ]
