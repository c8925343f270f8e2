"""docs/architecture.md's path of a watch batch matches the code: a new module on the path, or one
that left it, fails here until the doc says so."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("analytics", "config", "videos", "accounts")
# Where the batch path starts in Python: the endpoint, and the viewing session the page asks for.
ENTRY_POINTS = ("analytics.ingest", "analytics.viewing")


def _section(title: str) -> str:
    text = (ROOT / "docs" / "architecture.md").read_text()
    start = text.index(title)
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _documented() -> tuple[list[str], list[str]]:
    """(the numbered path's files, the helpers' files), in the doc's order."""
    section = _section("## The path of a watch batch")
    path_part, helpers_part = section.split("Helpers beside the path", 1)
    path = [m[1] for m in re.finditer(r"^\d+\. `([\w/.]+)`", path_part, re.M)]
    helpers = [m[1] for m in re.finditer(r"^- `([\w/.]+)`", helpers_part, re.M)]
    return path, helpers


def _module(file: str) -> str:
    return file.removesuffix(".py").replace("/", ".")


def _project_imports(module: str) -> set[str]:
    """The project modules `module` imports at module level (not inside functions)."""
    tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
    found: set[str] = set()
    for node in tree.body:
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {name for name in names if name.split(".")[0] in PACKAGES}
    return found


def test_the_documented_path_has_at_most_twelve_files_and_each_exists():
    path, helpers = _documented()

    assert 0 < len(path) <= 12, path
    assert len(set(path)) == len(path)
    assert [file for file in path + helpers if not (ROOT / file).is_file()] == []


def test_the_path_is_the_modules_the_endpoint_and_the_viewing_session_import():
    path, helpers = _documented()
    on_path = {_module(f) for f in path if f.endswith(".py")}
    documented = on_path | {_module(f) for f in helpers if f.endswith(".py")}
    # Follow imports from the entry points through the path's own modules (a helper's imports are
    # its own business).
    reached: set[str] = set()
    todo = list(ENTRY_POINTS)
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        imported = _project_imports(module)
        assert imported <= documented, f"{module} imports {sorted(imported - documented)}: not in the doc"
        todo += [m for m in imported if m in on_path]

    page_and_dispatch = {"videos.views", "analytics.pages", "config.dispatch"}
    assert reached & on_path == on_path - page_and_dispatch
    assert "analytics.viewing" in _project_imports("analytics.pages")
    # config/dispatch.py reaches the endpoint by the name analytics registered it under (config
    # imports no app): the handler behind every route is analytics.ingest's.
    from analytics.ingest import watch_ingest_app
    from config.dispatch import routes_ahead_of_django_application

    routes = routes_ahead_of_django_application().routes
    assert set(routes) == set(settings.ROUTES_AHEAD_OF_DJANGO)
    assert set(routes.values()) == {watch_ingest_app}
