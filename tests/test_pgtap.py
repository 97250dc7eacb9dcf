"""Runs every pgTAP file in tests/sql against a fresh clone of the migrated template."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_pgtap

SQL_TESTS = sorted((Path(__file__).parent / "sql").glob("test_*.sql"))


def test_pgtap_files_exist() -> None:
    assert SQL_TESTS, "no pgTAP files found in tests/sql"


@pytest.mark.parametrize("path", SQL_TESTS, ids=[p.stem for p in SQL_TESTS])
def test_pgtap(path: Path, db: str) -> None:
    tap, failures = run_pgtap(db, path.read_text())
    assert not failures, "\n".join([*failures, "--- TAP output ---", *tap])
