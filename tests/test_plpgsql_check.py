"""plpgsql_check over every PL/pgSQL function of the schema, on PostgreSQL 15.

The checker is Debian's postgresql-15-plpgsql-check package, fetched into
.cache/plpgsql_check by `make plpgsql-check` (as pgTAP is) and never installed.
It is built for PostgreSQL 15, so this module starts its own private 15 server
(CONNECTION_SUMMARY_PG15_BIN, default Debian's /usr/lib/postgresql/15/bin; it
runs in `make test-pg15`), copies the library where that server's user can
read it, LOADs it by absolute path, and creates the extension's functions from
its SQL script with MODULE_PATHNAME replaced by that path (CREATE EXTENSION
looks only in the server's own lib/ and share/extension/, which belong to the
system). Nothing is skipped: a missing server, package or a library that does
not load fails the test.

After a migrate, with change notifications switched on so that their triggers
exist, every PL/pgSQL function of schema connection_summary is checked: a
trigger function once per trigger, against its table and transition tables.
A finding fails the test unless ALLOWED lists it, keyed by function, table and
message, with the reason; the function's own source repeats that reason in a
`plpgsql_check:` comment next to the statement. In-comment checker options and
pragmas are not honoured (use_incomment_options => false), so ALLOWED is the
only way to accept a finding.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from connection_summary import migrate
from connection_summary.localpg import start_local_server

pytestmark = pytest.mark.pg15

ROOT = Path(__file__).resolve().parent.parent
PG15_BIN = Path(os.environ.get("CONNECTION_SUMMARY_PG15_BIN", "/usr/lib/postgresql/15/bin"))
PACKAGE_DIR = Path(os.environ.get("CONNECTION_SUMMARY_PLPGSQL_CHECK_DIR",
                                  ROOT / ".cache" / "plpgsql_check"))
LIBRARY = PACKAGE_DIR / "usr" / "lib" / "postgresql" / "15" / "lib" / "plpgsql_check.so"
EXTENSION_DIR = PACKAGE_DIR / "usr" / "share" / "postgresql" / "15" / "extension"
CHECKER_SCHEMA = "plpgsql_check"

# Findings accepted, each with the reason (the function's source says it too).
# Key: (function as regprocedure, the trigger's table or "-", message).
ALLOWED: dict[tuple[str, str, str], str] = {
    ("connection_summary.notify_owner_changes()", "connection_summary.connectors",
     "column changed_rows.owner_id does not exist"):
        "a false positive: plpgsql_check checks both branches against the connectors "
        "trigger's transition table, but on connectors `tg_table_name = 'connectors'` "
        "holds and only the owner-less NOTIFY '*' runs; the owner_id branch serves the "
        "owner tables, whose transition tables have owner_id (checked clean there)",
}

# Every target: the function, and for a trigger its table and transition tables.
TARGETS = """
select p.oid::regprocedure::text as function,
       coalesce(t.tgrelid, 0)::oid as relid,
       coalesce(t.tgrelid::regclass::text, '-') as relation,
       t.tgname::text as trigger,
       t.tgoldtable::text as oldtable,
       t.tgnewtable::text as newtable,
       p.prorettype = 'trigger'::regtype as is_trigger_function,
       p.prosrc as source
from pg_proc as p
join pg_language as l on l.oid = p.prolang
left join pg_trigger as t on t.tgfoid = p.oid and not t.tgisinternal
where p.pronamespace = 'connection_summary'::regnamespace and l.lanname = 'plpgsql'
order by 1, 3, 4
"""

CHECK = f"""
select lineno, statement, sqlstate, message, detail, hint, level, query
from {CHECKER_SCHEMA}.plpgsql_check_function_tb(
    funcoid => %(function)s::regprocedure,
    relid => %(relid)s::oid::regclass,
    fatal_errors => false,
    other_warnings => true,
    extra_warnings => true,
    performance_warnings => false,
    security_warnings => true,
    compatibility_warnings => true,
    oldtable => %(oldtable)s,
    newtable => %(newtable)s,
    use_incomment_options => false)
"""


@dataclass(frozen=True)
class Target:
    function: str
    relid: int
    relation: str
    trigger: str | None
    oldtable: str | None
    newtable: str | None
    is_trigger_function: bool
    source: str


@dataclass(frozen=True)
class Finding:
    function: str
    relation: str
    trigger: str | None
    lineno: int | None
    statement: str | None
    sqlstate: str | None
    message: str
    detail: str | None
    hint: str | None
    level: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.function, self.relation, self.message)

    def __str__(self) -> str:
        where = f" (trigger {self.trigger} on {self.relation})" if self.trigger else ""
        extra = "".join(f"; {label}: {text}" for label, text in
                        (("detail", self.detail), ("hint", self.hint)) if text)
        return (f"{self.function}{where} line {self.lineno} {self.statement}: "
                f"{self.level} {self.sqlstate}: {self.message}{extra}")


def _extension_script() -> str:
    """The packaged extension script, runnable as plain SQL on our private server."""
    control = EXTENSION_DIR / "plpgsql_check.control"
    if not LIBRARY.is_file() or not control.is_file():
        pytest.fail(f"plpgsql_check not found under {PACKAGE_DIR}: run `make plpgsql-check` "
                    "(fetches Debian's postgresql-15-plpgsql-check) or set "
                    "CONNECTION_SUMMARY_PLPGSQL_CHECK_DIR to where it is unpacked")
    match = re.search(r"^default_version\s*=\s*'([^']+)'", control.read_text(), re.M)
    assert match, f"no default_version in {control}"
    script = EXTENSION_DIR / f"plpgsql_check--{match.group(1)}.sql"
    lines = [line for line in script.read_text().splitlines() if not line.startswith("\\")]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def lint_db() -> Iterator[str]:
    """A migrated database on a private PostgreSQL 15 with plpgsql_check's functions."""
    if not (PG15_BIN / "postgres").is_file():
        pytest.fail(f"no PostgreSQL 15 server binaries at {PG15_BIN} (Debian's postgresql-15); "
                    "set CONNECTION_SUMMARY_PG15_BIN. plpgsql_check is built for 15 only.")
    script = _extension_script()
    server = start_local_server(PG15_BIN)
    try:
        assert server.version_num // 10000 == 15, f"{PG15_BIN} is not PostgreSQL 15"
        # The server runs as an unprivileged user when we are root: it reads the
        # library from its own (world-readable) directory, not from the checkout.
        library = server.data_dir.parent / LIBRARY.name
        shutil.copyfile(LIBRARY, library)
        library.chmod(0o644)
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute("create database plpgsql_lint")
        conninfo = server.conninfo("plpgsql_lint")
        migrate(conninfo)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("select connection_summary.set_change_notifications(p_enabled => true)")
            conn.execute(f"load '{library}'".encode())
            conn.execute(f"create schema {CHECKER_SCHEMA}".encode())
            conn.execute(f"set search_path = {CHECKER_SCHEMA}".encode())
            conn.execute(script.replace("MODULE_PATHNAME", str(library))
                         .replace("@extschema@", CHECKER_SCHEMA).encode())
        yield conninfo
    finally:
        server.stop()


def _targets(conn: psycopg.Connection[tuple[object, ...]]) -> list[Target]:
    rows = conn.execute(TARGETS).fetchall()
    return [Target(str(f), int(str(r)), str(rel), None if t is None else str(t),
                   None if o is None else str(o), None if n is None else str(n),
                   bool(trig), str(src))
            for f, r, rel, t, o, n, trig, src in rows]


def _check(conn: psycopg.Connection[tuple[object, ...]], target: Target) -> list[Finding]:
    rows = conn.execute(CHECK, {"function": target.function, "relid": target.relid,
                                "oldtable": target.oldtable,
                                "newtable": target.newtable}).fetchall()
    found = []
    for lineno, statement, sqlstate, message, detail, hint, level, _query in rows:
        found.append(Finding(
            target.function, target.relation, target.trigger,
            None if lineno is None else int(str(lineno)),
            None if statement is None else str(statement),
            None if sqlstate is None else str(sqlstate), str(message),
            None if detail is None else str(detail), None if hint is None else str(hint),
            None if level is None else str(level)))
    return found


def test_the_checker_is_loaded_and_reports_what_it_should(lint_db: str) -> None:
    """Not a vacuous pass: a planted error and an extra warning are both reported."""
    with psycopg.connect(lint_db, autocommit=True) as conn:
        conn.execute("create schema lint_probe")
        conn.execute("""
            create function lint_probe.broken() returns int language plpgsql as $$
            declare
                v_unused int;
            begin
                return (select no_such_column from pg_catalog.pg_class limit 1);
            end;
            $$""")
        target = Target("lint_probe.broken()", 0, "-", None, None, None, False, "")
        messages = {f.message for f in _check(conn, target)}
        conn.execute("drop schema lint_probe cascade")
    assert 'column "no_such_column" does not exist' in messages, messages
    assert 'unused variable "v_unused"' in messages, messages


def test_every_plpgsql_function_of_the_schema_is_clean(lint_db: str) -> None:
    with psycopg.connect(lint_db, autocommit=True) as conn:
        targets = _targets(conn)
        findings = [f for t in targets for f in _check(conn, t)]

    functions = {t.function for t in targets}
    assert len(functions) >= 10, f"too few PL/pgSQL functions found: {sorted(functions)}"
    # A trigger function is checked against its table: it must have one here.
    unattached = sorted(t.function for t in targets if t.is_trigger_function and not t.trigger)
    assert not unattached, (f"trigger functions with no trigger to check them against: "
                            f"{unattached}")
    assert {"connection_summary.spine_events_refold()",
            "connection_summary.notify_owner_changes()"} <= functions
    # Findings can be accepted only here, never from inside the function.
    for target in targets:
        assert "@plpgsql_check_options" not in target.source, target.function
        assert "plpgsql_check_pragma" not in target.source, target.function

    unexpected = [f for f in findings if f.key not in ALLOWED]
    assert not unexpected, "plpgsql_check findings (fix them, or justify them in the " \
        "function and in ALLOWED):\n" + "\n".join(str(f) for f in unexpected)

    # Every allowance is still needed, and explained where the code is.
    seen = {f.key for f in findings}
    stale = sorted(set(ALLOWED) - seen)
    assert not stale, f"ALLOWED entries plpgsql_check no longer reports: {stale}"
    sources = {t.function: t.source for t in targets}
    for function, _, message in ALLOWED:
        assert re.search(r"--\s*plpgsql_check:", sources[function]), (
            f"{function}: the allowed finding {message!r} needs a `-- plpgsql_check:` "
            "comment in the function saying why")
