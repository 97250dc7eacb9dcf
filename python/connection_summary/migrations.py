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
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from . import queries
from .errors import (
    DatabaseUnavailable,
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
class SchemaStatus:
    migrations: list[MigrationState]
    routines_state: str  # current | pending
    database_version: int | None
    code_version: int

    @property
    def up_to_date(self) -> bool:
        return self.routines_state == "current" and all(
            m.state == "applied" for m in self.migrations
        )


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


def _invalid_indexes(conn: psycopg.Connection[tuple[object, ...]], text: str) -> list[str]:
    names = _CONCURRENT_INDEX.findall(text)
    if not names:
        return []
    rows = conn.execute(queries.INVALID_INDEXES, {"schema": SCHEMA, "names": names}).fetchall()
    return [str(r[0]) for r in rows]


def _apply_migration(conn: psycopg.Connection[tuple[object, ...]], m: SqlFile) -> list[str]:
    record = {"version": m.version, "name": m.name, "checksum": m.checksum}
    if m.transactional:
        with conn.transaction():
            conn.execute(m.text.encode())
            conn.execute(queries.LEDGER_INSERT, record)
        return []
    # An interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index behind,
    # which IF NOT EXISTS would then silently keep: drop it and build again.
    rebuilt = _invalid_indexes(conn, m.text)
    for name in rebuilt:
        conn.execute(sql.SQL("drop index concurrently if exists {}").format(
            sql.Identifier(SCHEMA, name)))
    for statement in _statements(m.text):
        conn.execute(statement.encode())
    conn.execute(queries.LEDGER_INSERT, record)
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
                for m in files:
                    if m.version not in ledger:
                        step = f"applying {m.path.name}"
                        rebuilt += _apply_migration(conn, m)
                        applied.append(m.path.name)
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


def pending_sql(conninfo: str, *, root: Path | None = None) -> str:
    """The SQL that migrate() would run, for a DBA to review and apply with psql."""
    files = migration_files(root)
    routines = routine_files(root)
    with _connect(conninfo) as conn:
        ledger = _ledger(conn)
        _check_ledger(ledger, files)
        recorded_routines = _routines_recorded(conn)
    out: list[str] = []
    if not ledger:
        out.append("-- ledger (created by every migrate; safe to run again)")
        out.append(queries.ENSURE_LEDGER.strip())
    for m in files:
        if m.version in ledger:
            continue
        mode = "in its own transaction" if m.transactional else "OUTSIDE a transaction"
        out.append(f"\n-- ===== migration {m.path.name} ({mode}) =====")
        out.append("begin;" if m.transactional else "")
        out.append(m.text.rstrip())
        out.append(
            f"insert into connection_summary.schema_migrations (version, name, checksum) "
            f"values ({m.version}, '{m.name}', '{m.checksum}');"
        )
        out.append("commit;" if m.transactional else "")
    checksum = routines_checksum(routines)
    if recorded_routines != checksum:
        out.append("\n-- ===== routines (functions, views, triggers) in one transaction =====")
        out.append("begin;")
        out.extend(f"-- {f.path.name}\n{f.text.rstrip()}" for f in routines)
        out.append(queries.ROUTINES_UPSERT_LITERAL.format(checksum=checksum).strip())
        out.append("commit;")
    if len(out) == 0:
        return "-- nothing to apply: the database is up to date\n"
    # Hold the migrators' lock for the whole psql session, so that an
    # application's migrate() waits for the DBA instead of racing.
    out.insert(0, "-- the migration lock: other migrators wait until this session ends\n"
               f"select pg_advisory_lock({MIGRATION_LOCK_KEY});")
    out.append(f"\nselect pg_advisory_unlock({MIGRATION_LOCK_KEY});")
    return "\n".join(line for line in out if line is not None) + "\n"
