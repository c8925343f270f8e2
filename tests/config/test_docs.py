"""The documents that name tests name tests that exist: a renamed or moved test fails here, not in a
reader's hands."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cited(doc: Path) -> list[tuple[str, str | None]]:
    """(test file, test name or None) for every `tests/...py[::name]` and `::name` cited in backticks;
    a bare `::name` belongs to the last file cited before it."""
    cited: list[tuple[str, str | None]] = []
    current = None
    for token in re.findall(r"`([^`]+)`", doc.read_text()):
        found = re.fullmatch(r"(tests/[\w/]+\.py)?(?:::(\w+))?(?:\[[^\]]*\])?", token)
        if not found or not (found.group(1) or found.group(2)):
            continue
        current = found.group(1) or current
        if current is not None:
            cited.append((current, found.group(2)))
    return cited


def test_every_test_docs_attacks_cites_exists():
    cited = _cited(ROOT / "docs" / "ATTACKS.md")
    assert len(cited) > 50
    missing = []
    for path, name in cited:
        file = ROOT / path
        if not file.is_file() or (name and not re.search(rf"^def {name}\(", file.read_text(), re.M)):
            missing.append(f"{path}::{name}" if name else path)
    assert not missing, missing
