"""What every benchmark writes the same way: its section of docs/benchmarks.md, and the
check that its JSON holds every key the smoke tests expect."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(title: str, section: str, path: Path = DOCS) -> None:
    """Replace the section `## <title>` of `path` with `section` (or append it)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def missing_keys(res: dict[str, Any], required: Sequence[str]) -> list[str]:
    """The dotted keys of `required` that `res` lacks (a list stands for its first item)."""
    missing = []
    for dotted in required:
        node: Any = res
        for part in dotted.split("."):
            if isinstance(node, list):
                node = node[0] if node else None
            if not isinstance(node, dict) or part not in node:
                missing.append(dotted)
                break
            node = node[part]
    return missing
