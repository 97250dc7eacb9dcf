"""Schema installation: numbered migrations, shared routines, and a bootstrap.

Two kinds of SQL files make the schema (see docs/migrations.md):

* `migrations/NNNN_name.sql` -- versioned, applied once, in order, recorded in
  `connection_summary.schema_migrations` with a checksum. They hold everything
  with state: tables, indexes, types. Once applied, a file must never change.
* `sql/1NN_*.sql` and up -- routines: functions, views and triggers, written
  `create or replace`. They are the single definition of every rule and are
  (re)applied as one unit, in one transaction, whenever their combined checksum
  differs from the one recorded in `connection_summary.schema_routines`.

`sql/0NN_*.sql` is the same stateful schema written as it stands today; the
bootstrap applies it plus the routines to an empty database. A test proves
that bootstrap and migrations produce identical schemas.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from . import queries
from .errors import (
    DatabaseUnavailable,
    InvalidArgument,
    MigrationChecksumMismatch,
    MigrationError,
    MigrationLockTimeout,
    SchemaTooNew,
    SchemaTooOld,
    map_database_error,
)

SCHEMA = "connection_summary"
# pg_advisory_lock key for "a migration is running": stable, package-specific.
MIGRATION_LOCK_KEY = 0x636F6E6E73756D  # "connsum"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_ROUTINE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_NO_TRANSACTION = re.compile(r"^--\s*migrate:\s*no-transaction\s*$", re.MULTILINE)
_CONCURRENT_INDEX = re.compile(
    r"create\s+(?:unique\s+)?index\s+concurrently\s+if\s+not\s+exists\s+(\w+)", re.IGNORECASE
)
ROUTINES_FROM = 100
# sql/9NN_*.sql: the privileges over every object, applied after the routines.
PRIVILEGES_FROM = 900
_log = logging.getLogger("connection_summary")


def _sql_root() -> Path:
    """Where sql/ and migrations/ are: inside the wheel, else the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_sql", here.parent.parent):
        if (candidate / "migrations").is_dir() and (candidate / "sql").is_dir():
            return candidate
    raise MigrationError(f"cannot find the package's sql/ and migrations/ near {here}")


@dataclass(frozen=True)
class SqlFile:
    version: int
    name: str
    path: Path
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def transactional(self) -> bool:
        return _NO_TRANSACTION.search(self.text) is None


def _load(directory: Path, pattern: re.Pattern[str]) -> list[SqlFile]:
    files = []
    for path in sorted(directory.glob("*.sql")):
        match = pattern.match(path.name)
        if match is None:
            raise MigrationError(f"unexpected file name {path.name} in {directory}")
        files.append(SqlFile(int(match.group(1)), match.group(2), path, path.read_text()))
    versions = [f.version for f in files]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate version numbers in {directory}")
    return files


def migration_files(root: Path | None = None) -> list[SqlFile]:
    return _load((root or _sql_root()) / "migrations", _MIGRATION_NAME)


def schema_files(root: Path | None = None) -> list[SqlFile]:
    """sql/0NN files: the stateful schema as it stands, used by the bootstrap."""
    files = _load((root or _sql_root()) / "sql", _ROUTINE_NAME)
    return [f for f in files if f.version < ROUTINES_FROM]


def routine_files(root: Path | None = None) -> list[SqlFile]:
    files = _load((root or _sql_root()) / "sql", _ROUTINE_NAME)
    return [f for f in files if f.version >= ROUTINES_FROM]


def routines_checksum(files: Iterable[SqlFile]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.path.name}\0{f.text}\0".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class MigrationState:
    version: int
    name: str
    state: str  # applied | pending | modified | unknown_to_code
    applied_at: str | None


@dataclass(frozen=True)
class InvalidIndex:
    """An INVALID index of the schema: what an interrupted CONCURRENTLY build leaves."""

    name: str
    migration: str | None  # the no-transaction migration that builds it; None: none does

    @property
    def advice(self) -> str:
        where = f"{SCHEMA}.{self.name}"
        if self.migration is not None:
            return (f"index {where} is INVALID: a build by {self.migration} was interrupted "
                    "(or is still running: see pg_stat_progress_create_index); "
                    "run `connection-summary migrate` to rebuild it")
        return (f"index {where} is INVALID and no migration builds it (an interrupted "
                "CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY of your own?); drop it "
                f"(`drop index concurrently {where};`) or rebuild it "
                f"(`reindex index concurrently {where};`), then migrate again")


@dataclass(frozen=True)
class SchemaStatus:
    migrations: list[MigrationState]
    routines_state: str  # current | pending
    database_version: int | None
    code_version: int
    invalid_indexes: list[InvalidIndex] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return (self.routines_state == "current" and not self.invalid_indexes
                and all(m.state == "applied" for m in self.migrations))


@dataclass(frozen=True)
class MigrateReport:
    applied: list[str]
    routines_applied: bool
    rebuilt_indexes: list[str]


def _connect(conninfo: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        raise DatabaseUnavailable(f"cannot connect: {exc}") from exc


def _ledger(conn: psycopg.Connection[tuple[object, ...]]) -> dict[int, tuple[str, str, str]]:
    exists = conn.execute(queries.LEDGER_EXISTS).fetchone()
    if not exists or not exists[0]:
        return {}
    return {int(str(v)): (str(n), str(c), str(a))
            for v, n, c, a in conn.execute(queries.LEDGER_ROWS).fetchall()}


def _routines_recorded(conn: psycopg.Connection[tuple[object, ...]]) -> str | None:
    exists = conn.execute(queries.LEDGER_EXISTS).fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute(queries.ROUTINES_ROW).fetchone()
    return str(row[0]) if row else None


def _check_ledger(ledger: dict[int, tuple[str, str, str]], files: list[SqlFile]) -> None:
    known = {f.version: f for f in files}
    newer = sorted(v for v in ledger if v not in known)
    if newer:
        raise SchemaTooNew(
            f"the database has migration(s) {newer} that this code does not know "
            f"(code knows up to {max(known, default=0):04d}); upgrade connection-summary"
        )
    for version, (name, checksum, _) in ledger.items():
        if known[version].checksum != checksum:
            raise MigrationChecksumMismatch(
                f"migration {version:04d}_{name} was edited after it was applied "
                f"(recorded sha256 {checksum[:12]}, file {known[version].checksum[:12]}); "
                "restore the file and put the change in a new migration"
            )


def _statements(text: str) -> list[str]:
    """Split a no-transaction migration into statements (no dollar quoting allowed there)."""
    if "$$" in text:
        raise MigrationError("no-transaction migrations must not contain $$-quoted bodies")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def _invalid_indexes(
    conn: psycopg.Connection[tuple[object, ...]], names: list[str] | None
) -> list[str]:
    """The schema's INVALID indexes among `names` (all of them when None)."""
    if names == []:
        return []
    rows = conn.execute(queries.INVALID_INDEXES, {"schema": SCHEMA, "names": names}).fetchall()
    return [str(r[0]) for r in rows]


def _index_builders(files: list[SqlFile]) -> dict[str, SqlFile]:
    """Index name -> the no-transaction migration that builds it CONCURRENTLY IF NOT EXISTS."""
    return {name: m for m in files if not m.transactional
            for name in _CONCURRENT_INDEX.findall(m.text)}


def _find_invalid_indexes(
    conn: psycopg.Connection[tuple[object, ...]], files: list[SqlFile]
) -> list[InvalidIndex]:
    builders = _index_builders(files)
    return [InvalidIndex(name, builders[name].path.name if name in builders else None)
            for name in _invalid_indexes(conn, None)]


def _to_rebuild(
    conn: psycopg.Connection[tuple[object, ...]],
    files: list[SqlFile],
    ledger: dict[int, tuple[str, str, str]],
) -> set[int]:
    """The applied migrations to run again because an index they build is INVALID
    (a pending one rebuilds its own). An INVALID index no migration builds is an error:
    dropping it, or keeping it, is the DBA's decision."""
    invalid = _find_invalid_indexes(conn, files)
    foreign = [i for i in invalid if i.migration is None]
    if foreign:
        raise MigrationError("; ".join(i.advice for i in foreign))
    by_name = {m.path.name: m.version for m in files}
    return {by_name[i.migration] for i in invalid if i.migration is not None} & set(ledger)


def _apply_migration(
    conn: psycopg.Connection[tuple[object, ...]], m: SqlFile, *, record: bool = True
) -> list[str]:
    """Apply one migration and write its ledger row (unless `record` is false: a
    rebuild of an applied no-transaction migration, which is idempotent)."""
    row = {"version": m.version, "name": m.name, "checksum": m.checksum}
    if m.transactional:
        with conn.transaction():
            conn.execute(m.text.encode())
            conn.execute(queries.LEDGER_INSERT, row)
        return []
    # An interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index behind,
    # which IF NOT EXISTS would then silently keep: drop it and build again.
    rebuilt = _invalid_indexes(conn, _CONCURRENT_INDEX.findall(m.text))
    for name in rebuilt:
        conn.execute(sql.SQL("drop index concurrently if exists {}").format(
            sql.Identifier(SCHEMA, name)))
    for statement in _statements(m.text):
        conn.execute(statement.encode())
    if record:
        conn.execute(queries.LEDGER_INSERT, row)
    return rebuilt


def _apply_routines(conn: psycopg.Connection[tuple[object, ...]], files: list[SqlFile]) -> None:
    """(Re)create every routine in one transaction, then drop the routines of
    the schema that the files no longer define (a renamed function, a changed
    signature): `create or replace` alone would leave them behind."""
    with conn.transaction():
        for f in files:
            if f.version >= PRIVILEGES_FROM:
                break
            conn.execute(f.text.encode())
        # Before the privileges: their GRANTs and REVOKEs rewrite the catalog
        # rows of every routine, which would all look recreated.
        for (statement,) in conn.execute(queries.STALE_ROUTINES, {"schema": SCHEMA}).fetchall():
            conn.execute(str(statement).encode())
        for f in files:
            if f.version >= PRIVILEGES_FROM:
                conn.execute(f.text.encode())
        conn.execute(queries.ROUTINES_UPSERT, {"checksum": routines_checksum(files)})


def _acquire_migration_lock(conn: psycopg.Connection[tuple[object, ...]], wait: str) -> None:
    """Take the session advisory lock, polling for at most `wait` (a PostgreSQL interval).

    Polled with pg_try_advisory_lock rather than waited for inside one
    pg_advisory_lock statement: a waiting statement holds a snapshot, and the
    lock holder's CREATE INDEX CONCURRENTLY waits for every older snapshot in
    the database -- the two processes would deadlock.
    """
    row = conn.execute(queries.INTERVAL_SECONDS, {"interval": wait}).fetchone()
    deadline = time.monotonic() + float(str(row[0]) if row else 0)
    pause = 0.02
    while True:
        got = conn.execute(queries.TRY_ADVISORY_LOCK, {"key": MIGRATION_LOCK_KEY}).fetchone()
        if got and got[0]:
            return
        if time.monotonic() >= deadline:
            raise MigrationLockTimeout(
                f"another process has held the migration lock for longer than {wait}; "
                "is a migration still running?"
            )
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)


def migrate(
    conninfo: str,
    *,
    lock_wait: str = "5min",
    lock_timeout: str = "30s",
    root: Path | None = None,
) -> MigrateReport:
    """Apply pending migrations, then the routines if they changed.

    Serialized by a session advisory lock, waited for at most `lock_wait`; each
    DDL statement waits at most `lock_timeout` for its table locks, so a
    migration never queues for long behind a long transaction. `root` is a
    directory holding `migrations/` and `sql/` (default: the package's own).
    """
    files = migration_files(root)
    routines = routine_files(root)
    applied: list[str] = []
    rebuilt: list[str] = []
    step = "taking the migration lock"
    with _connect(conninfo) as conn:
        try:
            _acquire_migration_lock(conn, lock_wait)
            try:
                step = "preparing the ledger"
                conn.execute(queries.SET_LOCK_TIMEOUT, {"timeout": lock_timeout})
                conn.execute(queries.ENSURE_LEDGER)
                ledger = _ledger(conn)
                _check_ledger(ledger, files)
                rebuild = _to_rebuild(conn, files, ledger)
                for m in files:
                    if m.version not in ledger:
                        step = f"applying {m.path.name}"
                        rebuilt += _apply_migration(conn, m)
                        applied.append(m.path.name)
                    elif m.version in rebuild:
                        step = f"rebuilding the INVALID index(es) of {m.path.name}"
                        rebuilt += _apply_migration(conn, m, record=False)
                routines_changed = _routines_recorded(conn) != routines_checksum(routines)
                if routines_changed:
                    step = "applying the routines (sql/1NN_*.sql and up)"
                    _apply_routines(conn, routines)
            finally:
                if not conn.closed and conn.info.transaction_status == 0:
                    conn.execute(queries.ADVISORY_UNLOCK, {"key": MIGRATION_LOCK_KEY})
        except psycopg.Error as exc:
            mapped = map_database_error(exc)
            if isinstance(mapped, MigrationLockTimeout):
                raise mapped from exc
            raise MigrationError(
                f"migration failed while {step}: {exc.diag.message_primary or exc}"
            ) from exc
    return MigrateReport(applied, routines_changed, rebuilt)


def bootstrap(conninfo: str, *, root: Path | None = None) -> None:
    """Install the whole schema on an empty database from sql/, in one transaction."""
    files = migration_files(root)
    routines = routine_files(root)
    with _connect(conninfo) as conn:
        try:
            with conn.transaction():
                conn.execute(queries.ADVISORY_XACT_LOCK, {"key": MIGRATION_LOCK_KEY})
                if _ledger(conn):
                    raise MigrationError("bootstrap needs an empty database; use migrate()")
                conn.execute(queries.ENSURE_LEDGER)
                for f in schema_files(root):
                    conn.execute(f.text.encode())
                for m in files:
                    conn.execute(queries.LEDGER_INSERT,
                                 {"version": m.version, "name": m.name, "checksum": m.checksum})
                for f in routines:
                    conn.execute(f.text.encode())
                conn.execute(queries.ROUTINES_UPSERT, {"checksum": routines_checksum(routines)})
        except psycopg.Error as exc:
            raise MigrationError(
                f"bootstrap failed: {exc.diag.message_primary or exc}"
            ) from exc


def migration_status(conninfo: str, *, root: Path | None = None) -> SchemaStatus:
    files = migration_files(root)
    routines = routine_files(root)
    with _connect(conninfo) as conn:
        ledger = _ledger(conn)
        recorded_routines = _routines_recorded(conn)
        invalid = _find_invalid_indexes(conn, files)
    states = []
    for m in files:
        if m.version not in ledger:
            states.append(MigrationState(m.version, m.name, "pending", None))
        else:
            _, checksum, at = ledger[m.version]
            state = "applied" if checksum == m.checksum else "modified"
            states.append(MigrationState(m.version, m.name, state, at))
    known = {m.version for m in files}
    for version, (name, _, at) in sorted(ledger.items()):
        if version not in known:
            states.append(MigrationState(version, name, "unknown_to_code", at))
    return SchemaStatus(
        migrations=states,
        routines_state="current" if recorded_routines == routines_checksum(routines) else "pending",
        database_version=max(ledger) if ledger else None,
        code_version=max((m.version for m in files), default=0),
        invalid_indexes=invalid,
    )


def check_schema(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    root: Path | None = None,
    strict_routines: bool = True,
) -> None:
    """Raise SchemaTooOld/SchemaTooNew unless the database matches this code.

    Versioned migrations must match exactly. Routines that differ are an error
    only with `strict_routines`: a running application (the Client) tolerates
    them with a warning, so that during a rolling upgrade the instances still
    on the previous release keep serving after the new one has migrated; the
    read functions' signatures are the stable contract between the two.
    """
    files = migration_files(root)
    ledger = _ledger(conn)
    _check_ledger(ledger, files)
    missing = [f.path.name for f in files if f.version not in ledger]
    if missing:
        raise SchemaTooOld(f"pending migrations {missing}; run `connection-summary migrate`")
    if _routines_recorded(conn) != routines_checksum(routine_files(root)):
        message = ("the database's SQL routines differ from this code's; "
                   "run `connection-summary migrate` with the newer release")
        if strict_routines:
            raise SchemaTooOld(message)
        _log.warning(message)


# --- the psql script: `connection-summary migrate --sql` ------------------------------------

# What may be written into the script's psql \set lines without quoting.
_SETTING = re.compile(r"^[\w .:+-]+$")

_SCRIPT_HEAD = r"""-- connection-summary: the pending migrations, printed by `migrate --sql`.
-- Apply it with psql, outside any transaction (never -1/--single-transaction):
--
--     psql "$DSN" -X -v ON_ERROR_STOP=1 -f pending.sql
--
-- It is the procedure `connection-summary migrate` follows: the migration lock,
-- polled for at most :lock_wait; lock_timeout = :lock_timeout for every
-- statement; the ledger checked under the lock; an INVALID index left by an
-- interrupted CONCURRENTLY build dropped and built again; the routines in one
-- transaction, the routines the files no longer define dropped before the
-- privileges; a ledger row per migration. A step another migrator applied
-- meanwhile is skipped, so after a failure, fix the cause and run it again.
-- Other waits: psql -v lock_wait=10min -v lock_timeout=0 ... (0: no limit).
\set ON_ERROR_STOP on
\set AUTOCOMMIT on
\if :{{?lock_wait}}
\else
\set lock_wait '{lock_wait}'
\endif
\if :{{?lock_timeout}}
\else
\set lock_timeout '{lock_timeout}'
\endif

-- ===== the migration lock: one migrator at a time =====
set connection_summary.lock_wait = :'lock_wait';
do $lock$
declare
    wait interval := current_setting('connection_summary.lock_wait')::interval;
    deadline timestamptz := clock_timestamp() + wait;
    pause float8 := 0.02;
    told boolean := false;
    holder text;
begin
    if transaction_timestamp() <> statement_timestamp() then
        raise exception 'this script must run outside a transaction block'
            using hint = 'apply it with psql -X -v ON_ERROR_STOP=1 -f FILE, '
                'without -1/--single-transaction';
    end if;
    -- Polled, never waited for inside one statement: a waiting statement holds a
    -- snapshot, and the holder's CREATE INDEX CONCURRENTLY waits for every older
    -- snapshot, so the two would deadlock. Each attempt and each pause ends its
    -- transaction, and with it its snapshot.
    while not pg_try_advisory_lock({key}) loop
        select string_agg(l.pid::text, ', ') into holder
        from pg_locks as l
        where l.locktype = 'advisory' and l.classid = {classid} and l.objid = {objid}
            and l.objsubid = 1 and l.granted;
        if clock_timestamp() >= deadline then
            raise exception 'another migration has held the migration lock '
                '(pg_advisory_lock({key}), pid %) for longer than %',
                coalesce(holder, '?'), wait
                using errcode = 'lock_not_available',
                hint = 'let it finish, then run this script again: it skips whatever '
                    'the other migration applied (psql -v lock_wait=10min waits longer)';
        end if;
        if not told then
            raise notice 'waiting at most % for the migration lock, held by pid % '
                '(another migration is running)', wait, coalesce(holder, '?');
            told := true;
        end if;
        commit;
        perform pg_sleep(pause);
        commit;
        pause := least(pause * 1.5, 0.5);
    end loop;
end
$lock$;
set lock_timeout = :'lock_timeout';

-- ===== the ledger (created by every migrate; safe to run again), checked as migrate does =====
set client_min_messages = warning;
{ensure_ledger}reset client_min_messages;
do $check$
declare
    unknown text;
    edited text;
begin
    select string_agg(lpad(l.version::text, 4, '0') || '_' || l.name, ', ' order by l.version)
    into unknown
    from connection_summary.schema_migrations as l
    where l.version <> all (array[{versions}]::int[]);
    if unknown is not null then
        raise exception 'the database has migration(s) % that this script does not know '
            '(it knows up to {last}); print it with the newer connection-summary', unknown;
    end if;
    select string_agg(lpad(l.version::text, 4, '0') || '_' || l.name, ', ' order by l.version)
    into edited
    from connection_summary.schema_migrations as l
    inner join (values
        {checksums}
    ) as k (version, checksum) on l.version = k.version
    where l.checksum <> k.checksum;
    if edited is not null then
        raise exception 'migration(s) % were edited after they were applied (the file''s '
            'sha256 differs from the ledger''s)', edited
            using hint = 'restore the file and put the change in a new migration';
    end if;{routines_check}
end
$check$;
"""

_ROUTINES_CHECK = r"""
    -- Routines another release recorded since the script was printed: never
    -- replace them with this script's older ones.
    if coalesce((select r.checksum from connection_summary.schema_routines as r), '')
        not in ({expected}) then
        raise exception 'the routines of the database changed since this script was printed'
            using hint = 'print the script again (connection-summary migrate --sql)';
    end if;"""


def _literal(value: str | list[str] | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array[" + ", ".join(_literal(v) for v in value) + "]"
    return "'" + value.replace("'", "''") + "'"


def _script_query(query: str, **params: str | list[str] | None) -> str:
    """A query of queries.sql with its parameters written in, without its ';' (for
    psql's \\gset or \\gexec): the script runs the very statements migrate() sends."""
    for name, value in params.items():
        query = query.replace(f"%({name})s", _literal(value))
    lines = [line for line in query.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).replace("%%", "%").strip().removesuffix(";")


def _script_step(title: str, when: str, body: list[str], skipped: str) -> list[str]:
    """A step of the script that psql runs only `when` (a boolean SQL expression,
    evaluated once the lock is held), else it says why it skipped it."""
    return [f"\n-- ===== {title} =====",
            f"select {when} as cs_run \\gset",
            "\\if :cs_run",
            *body,
            "\\else",
            f"\\echo 'skipped {skipped}'",
            "\\endif"]


def _script_drop_invalid(m: SqlFile, names: list[str]) -> list[str]:
    """Drop the INVALID leftovers of `m`'s CONCURRENTLY builds, as _apply_migration does."""
    invalid = _script_query(queries.INVALID_INDEXES, schema=SCHEMA, names=names)
    return [f"select exists ({invalid}) as cs_invalid \\gset",
            "\\if :cs_invalid",
            f"\\echo 'rebuilding the INVALID index(es) of {m.path.name}, "
            "left by an interrupted build'",
            f"select format('drop index concurrently if exists %I.%I', '{SCHEMA}', relname)\n"
            f"from ({invalid}) as invalid \\gexec",
            "\\endif"]


def _script_migration(m: SqlFile, *, applied: bool) -> list[str]:
    names = _CONCURRENT_INDEX.findall(m.text)
    if applied:  # applied, but an index it builds is INVALID: run it again, unrecorded
        invalid = _script_query(queries.INVALID_INDEXES, schema=SCHEMA, names=names)
        return _script_step(
            f"migration {m.path.name} again (OUTSIDE a transaction): an index it builds "
            "is INVALID", f"exists ({invalid})",
            [*_script_drop_invalid(m, names), m.text.rstrip()],
            f"{m.path.name}: its indexes are valid (rebuilt meanwhile)")
    ledger_row = ("insert into connection_summary.schema_migrations (version, name, checksum) "
                  f"values ({m.version}, '{m.name}', '{m.checksum}');")
    if m.transactional:
        title, body = (f"migration {m.path.name} (in its own transaction)",
                       ["begin;", m.text.rstrip(), ledger_row, "commit;"])
    else:
        title, body = (f"migration {m.path.name} (OUTSIDE a transaction)",
                       [*(_script_drop_invalid(m, names) if names else []),
                        m.text.rstrip(), ledger_row])
    return _script_step(
        title,
        f"not exists (select from connection_summary.schema_migrations "
        f"where version = {m.version})",
        body, f"{m.path.name}: already applied")


def _script_routines(files: list[SqlFile]) -> list[str]:
    checksum = routines_checksum(files)
    stale = _script_query(queries.STALE_ROUTINES, schema=SCHEMA)
    return _script_step(
        "routines (functions, views, triggers) in one transaction",
        "(select r.checksum from connection_summary.schema_routines as r) "
        f"is distinct from '{checksum}'",
        ["begin;",
         *(f"-- {f.path.name}\n{f.text.rstrip()}" for f in files
           if f.version < PRIVILEGES_FROM),
         "-- Drop the routines of the schema that the files above no longer define (a",
         "-- renamed function, an old signature), before the privileges, as migrate does.",
         f"{stale} \\gexec",
         *(f"-- {f.path.name}\n{f.text.rstrip()}" for f in files
           if f.version >= PRIVILEGES_FROM),
         queries.ROUTINES_UPSERT_LITERAL.format(checksum=checksum).strip(),
         "commit;"],
        "the routines: already current")


def pending_sql(
    conninfo: str,
    *,
    lock_wait: str = "5min",
    lock_timeout: str = "30s",
    root: Path | None = None,
) -> str:
    """A psql script that applies what migrate() would, the way migrate() does.

    For a DBA to review and run with `psql -X -v ON_ERROR_STOP=1 -f FILE`: it
    takes the migration lock (polled, at most `lock_wait`), sets `lock_timeout`,
    checks the ledger, rebuilds an INVALID leftover of a CONCURRENTLY build,
    applies each pending migration with its ledger row, then the routines with
    the sweep of the routines the files no longer define. Every step is guarded
    by the ledger, so a step another migrator applied meanwhile is skipped.
    """
    for name, value in (("lock_wait", lock_wait), ("lock_timeout", lock_timeout)):
        if not _SETTING.match(value):
            raise InvalidArgument(f"{name} {value!r} is not an interval such as 5min or 30s")
    files = migration_files(root)
    routines = routine_files(root)
    with _connect(conninfo) as conn:
        # Both are parsed by PostgreSQL now rather than by psql later.
        conn.execute(queries.INTERVAL_SECONDS, {"interval": lock_wait})
        conn.execute(queries.SET_LOCK_TIMEOUT, {"timeout": lock_timeout})
        ledger = _ledger(conn)
        _check_ledger(ledger, files)
        rebuild = _to_rebuild(conn, files, ledger)
        recorded_routines = _routines_recorded(conn)
    out: list[str] = []
    for m in files:
        if m.version not in ledger or m.version in rebuild:
            out += _script_migration(m, applied=m.version in ledger)
    checksum = routines_checksum(routines)
    if recorded_routines != checksum:
        out += _script_routines(routines)
    if not out:
        return "-- nothing to apply: the database is up to date\n"
    key = MIGRATION_LOCK_KEY
    expected = f"{_literal(recorded_routines or '')}, {_literal(checksum)}"
    head = _SCRIPT_HEAD.format(
        lock_wait=lock_wait,
        lock_timeout=lock_timeout,
        key=key,
        classid=key >> 32,
        objid=key & 0xFFFFFFFF,
        ensure_ledger=queries.ENSURE_LEDGER,
        versions=", ".join(str(m.version) for m in files),
        last=f"{max((m.version for m in files), default=0):04d}",
        checksums=",\n        ".join([f"({m.version}, '{m.checksum}')" for m in files]
                                      or ["(null::int, null::text)"]),
        routines_check=(_ROUTINES_CHECK.format(expected=expected)
                        if recorded_routines != checksum else ""),
    )
    tail = ["\n-- ===== done: release the migration lock =====",
            f"select pg_advisory_unlock({key}) as migration_lock_released;"]
    return head + "\n".join(line for line in [*out, *tail] if line) + "\n"
