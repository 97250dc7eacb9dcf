"""Test harness: a real PostgreSQL for every test, never a mock, never a skip.

A session starts one private server (or uses DATABASE_URL), builds a template
database migrated to the current schema with pgTAP and the test fixtures
loaded, and clones a fresh database from it for each test that asks for `db`.
A missing server or a missing pgTAP is a hard error.

pgTAP files `tests/sql/test_*.sql` run from tests/test_pgtap.py: each in its
own clone, inside the BEGIN ... ROLLBACK the file itself declares.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from connection_summary import migrate
from connection_summary.localpg import start_local_server

TESTS = Path(__file__).parent
PGTAP_CANDIDATES = [
    os.environ.get("CONNECTION_SUMMARY_PGTAP_SQL", ""),
    str(TESTS.parent / ".cache" / "pgtap" / "usr" / "share" / "postgresql" / "15" / "extension"
        / "pgtap.sql"),
    "/usr/share/postgresql/15/extension/pgtap.sql",
]
_counter = itertools.count()


@dataclass(frozen=True)
class Server:
    """Where the tests' databases live: `conninfo(dbname)` reaches one of them."""

    base: str
    version_num: int

    def conninfo(self, dbname: str) -> str:
        return psycopg.conninfo.make_conninfo(self.base, dbname=dbname)


def _pgtap_sql() -> str:
    for candidate in PGTAP_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text()
    raise pytest.UsageError(
        "pgTAP not found: run `make pgtap` (fetches Debian's postgresql-15-pgtap) or set "
        "CONNECTION_SUMMARY_PGTAP_SQL to its pgtap.sql"
    )


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    url = os.environ.get("DATABASE_URL")
    if url:
        with psycopg.connect(url) as conn:
            version = conn.info.server_version
        yield Server(url, version)
        return
    local = start_local_server()
    try:
        yield Server(local.conninfo(), local.version_num)
    finally:
        local.stop()


def _admin(server: Server) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(server.conninfo("postgres"), autocommit=True)


def create_database(server: Server, template: str | None = None, prefix: str = "cs_test") -> str:
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    with _admin(server) as conn:
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template))
        conn.execute(query)
    return name


def drop_database(server: Server, name: str) -> None:
    with _admin(server) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(
            sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_db(server: Server) -> Iterator[str]:
    """A database migrated to head, with pgTAP and the test fixtures loaded."""
    name = create_database(server, prefix="cs_template")
    conninfo = server.conninfo(name)
    migrate(conninfo)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("create extension if not exists pg_stat_statements")
        conn.execute(_pgtap_sql().encode())
        conn.execute((TESTS / "sql" / "fixtures.sql").read_text().encode())
    try:
        yield name
    finally:
        drop_database(server, name)


@pytest.fixture
def empty_db(server: Server) -> Iterator[str]:
    """A fresh, empty database (for migration tests); yields its conninfo."""
    name = create_database(server)
    try:
        yield server.conninfo(name)
    finally:
        drop_database(server, name)


@pytest.fixture
def db(server: Server, template_db: str) -> Iterator[str]:
    """A fresh database cloned from the migrated template; yields its conninfo."""
    name = create_database(server, template=template_db)
    try:
        yield server.conninfo(name)
    finally:
        drop_database(server, name)


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(db, autocommit=True) as connection:
        yield connection


# --- pgTAP files as pytest items -------------------------------------------------------------

_TAP_RESULT = re.compile(r"^(not ok|ok)\s+(\d+)(.*)$")
_TAP_PLAN = re.compile(r"^1\.\.(\d+)")


def run_pgtap(conninfo: str, text: str) -> tuple[list[str], list[str]]:
    """Run a pgTAP script; return (all TAP lines, failure descriptions)."""
    lines: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(text.encode())
        while True:
            if cur.description is not None:
                lines.extend(str(row[0]) for row in cur.fetchall() if row and row[0] is not None)
            if not cur.nextset():
                break
    tap = [piece for line in lines for piece in line.splitlines()]
    failures = [line for line in tap
                if line.startswith("not ok") and "# TODO" not in line]
    plans = [int(m.group(1)) for line in tap if (m := _TAP_PLAN.match(line))]
    ran = sum(1 for line in tap if _TAP_RESULT.match(line))
    if not plans:
        failures.append("no plan: the file must call plan(n) or no_plan()")
    elif plans[0] != ran:
        failures.append(f"planned {plans[0]} tests but ran {ran}")
    if ran == 0:
        failures.append("no test ran")
    return tap, failures
