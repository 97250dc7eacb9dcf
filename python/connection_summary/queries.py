"""Loads queries.sql: every statement the wrapper sends, by name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def _parse(text: str) -> dict[str, str]:
    parts = _HEADER.split(text)
    return {name: body.strip() + "\n" for name, body in zip(parts[1::2], parts[2::2], strict=True)}


_QUERIES: Final = _parse((Path(__file__).parent / "queries.sql").read_text())

SET_LOCK_TIMEOUT: Final = _QUERIES["set_lock_timeout"]
TRY_ADVISORY_LOCK: Final = _QUERIES["try_advisory_lock"]
INTERVAL_SECONDS: Final = _QUERIES["interval_seconds"]
ADVISORY_UNLOCK: Final = _QUERIES["advisory_unlock"]
ADVISORY_XACT_LOCK: Final = _QUERIES["advisory_xact_lock"]
ENSURE_LEDGER: Final = _QUERIES["ensure_ledger"]
LEDGER_EXISTS: Final = _QUERIES["ledger_exists"]
LEDGER_ROWS: Final = _QUERIES["ledger_rows"]
LEDGER_INSERT: Final = _QUERIES["ledger_insert"]
ROUTINES_ROW: Final = _QUERIES["routines_row"]
ROUTINES_UPSERT: Final = _QUERIES["routines_upsert"]
ROUTINES_UPSERT_LITERAL: Final = _QUERIES["routines_upsert_literal"]
INVALID_INDEXES: Final = _QUERIES["invalid_indexes"]
STALE_ROUTINES: Final = _QUERIES["stale_routines"]
OVERVIEW: Final = _QUERIES["overview"]
FOR_ROUTE: Final = _QUERIES["for_route"]
DIAGNOSTICS: Final = _QUERIES["diagnostics"]
LISTEN_CHANGES: Final = _QUERIES["listen_changes"]
SERVER_VERSION: Final = _QUERIES["server_version"]
SCHEMA_EXISTS: Final = _QUERIES["schema_exists"]
INPUT_TABLES_HAVE_ROWS: Final = _QUERIES["input_tables_have_rows"]
LOCK_CONNECTORS: Final = _QUERIES["lock_connectors"]
