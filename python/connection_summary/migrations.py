"""Schema installation: numbered migrations, shared routines, a bootstrap (docs/migrations.md).

`migrations/NNNN_name.sql` (state: tables, indexes, types) apply once each, recorded with a
checksum; `sql/1NN_*.sql` and up (routines) reapply as one unit whenever their combined
checksum changes; `sql/0NN` is the stateful schema as it stands, for the bootstrap.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psycopg
from psycopg import sql

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


def _named_sections(file_name: str) -> dict[str, str]:
    parts = re.split(r"^--\s*name:\s*(\w+)\s*$", Path(__file__).with_name(file_name).read_text(),
                     flags=re.MULTILINE)
    return {name: body.strip() + "\n" for name, body in zip(parts[1::2], parts[2::2], strict=True)}


#: Every statement the wrapper sends, and the `migrate --sql` script's templates, by name.
QUERIES: Final = {**_named_sections("queries.sql"), **_named_sections("migrate_script.sql")}
SCHEMA = "connection_summary"
# pg_advisory_lock key for "a migration is running": stable, package-specific.
MIGRATION_LOCK_KEY = 0x636F6E6E73756D  # "connsum"
# The DO block polling for it, run by migrate() and written into the psql script.
_MIGRATION_LOCK: Final = QUERIES["migration_lock"].format(key=MIGRATION_LOCK_KEY)
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_ROUTINE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_NO_TRANSACTION = re.compile(r"^--\s*migrate:\s*no-transaction\s*$", re.MULTILINE)
_CONCURRENT_INDEX = re.compile(
    r"create\s+(?:unique\s+)?index\s+concurrently\s+if\s+not\s+exists\s+(\w+)", re.IGNORECASE)
ROUTINES_FROM = 100
# sql/9NN_*.sql: the privileges over every object, applied after the routines.
PRIVILEGES_FROM = 900
_log = logging.getLogger("connection_summary")
Conn = psycopg.Connection[tuple[object, ...]]
Ledger = dict[int, tuple[str, str, str]]  # version -> (name, checksum, applied_at)


def _sql_root() -> Path:
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

    @property
    def concurrent_indexes(self) -> list[str]:
        """The indexes it builds CONCURRENTLY IF NOT EXISTS (only outside a transaction)."""
        return [] if self.transactional else _CONCURRENT_INDEX.findall(self.text)


def _load(directory: Path, pattern: re.Pattern[str]) -> list[SqlFile]:
    files = []
    for path in sorted(directory.glob("*.sql")):
        match = pattern.match(path.name)
        if match is None:
            raise MigrationError(f"unexpected file name {path.name} in {directory}")
        files.append(SqlFile(int(match.group(1)), match.group(2), path, path.read_text()))
    if len({f.version for f in files}) != len(files):
        raise MigrationError(f"duplicate version numbers in {directory}")
    return files


def migration_files(root: Path | None = None) -> list[SqlFile]:
    return _load((root or _sql_root()) / "migrations", _MIGRATION_NAME)


def sql_files(root: Path | None = None, *, routines: bool) -> list[SqlFile]:
    """The routines (sql/1NN and up), or the stateful schema as it stands (sql/0NN)."""
    return [f for f in _load((root or _sql_root()) / "sql", _ROUTINE_NAME)
            if (f.version >= ROUTINES_FROM) == routines]


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


@dataclass(frozen=True)
class _Plan:
    """What a migration does, in order; `migrate()` runs it, `pending_sql()` prints it."""
    files: list[SqlFile]
    recorded_routines: str | None
    routines_checksum: str  # of the routine files, computed once per plan
    applied: list[str]  # the pending migrations' file names
    steps: list[_Step]

    @property
    def routines_changed(self) -> bool:
        return self.recorded_routines != self.routines_checksum


def _connect(conninfo: str) -> Conn:
    try:
        return psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        raise DatabaseUnavailable(f"cannot connect: {exc}") from exc


def _ledger(conn: Conn) -> tuple[Ledger, str | None]:
    exists = conn.execute(QUERIES["ledger_exists"]).fetchone()
    if not exists or not exists[0]:
        return {}, None
    routines = conn.execute(QUERIES["routines_row"]).fetchone()
    return ({int(str(v)): (str(n), str(c), str(a))
             for v, n, c, a in conn.execute(QUERIES["ledger_rows"]).fetchall()},
            str(routines[0]) if routines else None)


def _states(ledger: Ledger, files: list[SqlFile]) -> list[MigrationState]:
    known = {m.version for m in files}
    return [*(MigrationState(m.version, m.name, "pending", None) if m.version not in ledger
              else MigrationState(m.version, m.name, "applied" if ledger[m.version][1] ==
                                  m.checksum else "modified", ledger[m.version][2])
              for m in files),
            *(MigrationState(version, name, "unknown_to_code", at)
              for version, (name, _, at) in sorted(ledger.items()) if version not in known)]


def _check_ledger(ledger: Ledger, files: list[SqlFile]) -> list[MigrationState]:
    """The migrations' states, unless the database has one unknown or edited."""
    states, known = _states(ledger, files), {f.version: f for f in files}
    newer = [m.version for m in states if m.state == "unknown_to_code"]
    if newer:
        raise SchemaTooNew(
            f"the database has migration(s) {newer} that this code does not know "
            f"(code knows up to {max(known, default=0):04d}); upgrade connection-summary")
    for m in (m for m in states if m.state == "modified"):
        recorded, checksum = ledger[m.version][1], known[m.version].checksum
        raise MigrationChecksumMismatch(
            f"migration {m.version:04d}_{m.name} was edited after it was applied "
            f"(recorded sha256 {recorded[:12]}, file {checksum[:12]}); "
            "restore the file and put the change in a new migration")
    return states


def _find_invalid_indexes(conn: Conn, files: list[SqlFile]) -> list[InvalidIndex]:
    builders = {name: m.path.name for m in files for name in m.concurrent_indexes}
    rows = conn.execute(QUERIES["invalid_indexes"], {"schema": SCHEMA, "names": None})
    return [InvalidIndex(str(name), builders.get(str(name))) for (name,) in rows.fetchall()]


def _plan(conn: Conn, root: Path | None) -> _Plan:
    """Read and check the ledger. An applied migration runs again when an index it builds
    is INVALID; an INVALID index no migration builds is the DBA's to drop or keep."""
    files = migration_files(root)
    ledger, recorded_routines = _ledger(conn)
    _check_ledger(ledger, files)
    invalid = _find_invalid_indexes(conn, files)
    foreign = [i for i in invalid if i.migration is None]
    if foreign:
        raise MigrationError("; ".join(i.advice for i in foreign))
    rebuild, routines = {i.migration for i in invalid}, sql_files(root, routines=True)
    checksum = routines_checksum(routines)
    steps = [_migration_step(m, applied=m.version in ledger) for m in files
             if m.version not in ledger or m.path.name in rebuild]
    if recorded_routines != checksum:
        steps.append(_routines_step(routines, checksum))
    return _Plan(files, recorded_routines, checksum,
                 [m.path.name for m in files if m.version not in ledger], steps)


@dataclass(frozen=True)
class _Step:
    """One step of a migration: `migrate()` runs it, `pending_sql()` prints it for psql."""
    title: str
    doing: str  # for "migration failed while ..."
    when: str  # SQL: whether the step is still to do (the script checks it under the lock)
    skipped: str
    # A statement ending in \\gexec (as in psql) runs each statement its rows give.
    statements: list[str]
    transaction: bool
    # SQL listing the INVALID leftovers of the CONCURRENTLY builds of the migration file
    # `source`, dropped first: IF NOT EXISTS would silently keep them.
    invalid: str | None = None
    source: str = ""


def _migration_step(m: SqlFile, *, applied: bool) -> _Step:
    """A pending migration with its ledger row; an applied one again, unrecorded, when an
    index it builds is INVALID."""
    invalid = (_script_query("invalid_indexes", schema=SCHEMA, names=m.concurrent_indexes)
               if m.concurrent_indexes else None)
    if applied:
        return _Step(f"migration {m.path.name} again (OUTSIDE a transaction): an index it "
                     "builds is INVALID", f"rebuilding the INVALID index(es) of {m.path.name}",
                     f"exists ({invalid})", f"{m.path.name}: its indexes are valid (rebuilt "
                     "meanwhile)", [m.text.rstrip()], False, invalid, m.path.name)
    ledger_row = _script_query("ledger_insert", version=m.version, name=m.name,
                               checksum=m.checksum) + ";"
    return _Step(
        f"migration {m.path.name} " + ("(in its own transaction)" if m.transactional
                                       else "(OUTSIDE a transaction)"),
        f"applying {m.path.name}", f"not exists (select from connection_summary."
        f"schema_migrations where version = {m.version})", f"{m.path.name}: already applied",
        [m.text.rstrip(), ledger_row], m.transactional, invalid, m.path.name)


def _routines_step(files: list[SqlFile], checksum: str) -> _Step:
    """Every routine in one transaction; then, before the privileges (their GRANTs and
    REVOKEs rewrite the catalog rows of every routine, which would all look recreated),
    the routines the files no longer define are dropped: `create or replace` keeps them."""
    return _Step(
        "routines (functions, views, triggers) in one transaction",
        "applying the routines (sql/1NN_*.sql and up)",
        f"(select r.checksum from connection_summary.schema_routines as r) "
        f"is distinct from '{checksum}'", "the routines: already current",
        [*(f"-- {f.path.name}\n{f.text.rstrip()}" for f in files
           if f.version < PRIVILEGES_FROM),
         "-- Drop the routines of the schema that the files above no longer define (a\n"
         "-- renamed function, an old signature), before the privileges, as migrate does.\n"
         f"{_script_query('stale_routines', schema=SCHEMA)} \\gexec",
         *(f"-- {f.path.name}\n{f.text.rstrip()}" for f in files
           if f.version >= PRIVILEGES_FROM),
         _script_query("routines_upsert", checksum=checksum) + ";"], transaction=True)


def _run(conn: Conn, step: _Step) -> list[str]:
    """Run a step as psql runs its script (the plan, made under the lock, says it is due);
    return the INVALID indexes it dropped and built again."""
    rebuilt = [str(r[0]) for r in conn.execute(step.invalid).fetchall()] if step.invalid else []
    for name in rebuilt:
        conn.execute(sql.SQL("drop index concurrently if exists {}").format(
            sql.Identifier(SCHEMA, name)))
    with conn.transaction() if step.transaction else contextlib.nullcontext():
        for statement in step.statements:
            if statement.endswith("\\gexec"):
                for (generated,) in conn.execute(statement.removesuffix("\\gexec").encode()):
                    conn.execute(str(generated).encode())
            elif step.transaction:
                conn.execute(statement.encode())
            else:  # outside a transaction block, psycopg needs one statement at a time
                if "$$" in statement:
                    raise MigrationError(
                        "no-transaction migrations must not contain $$-quoted bodies")
                body = "\n".join(line for line in statement.splitlines()
                                 if not line.lstrip().startswith("--"))
                for part in filter(None, (p.strip() for p in body.split(";"))):
                    conn.execute(part.encode())
    return rebuilt


def _acquire_migration_lock(conn: Conn, wait: str) -> None:
    """Run the psql script's own lock block (migrate_script.sql says why it polls), with
    this message rather than its psql user's."""
    conn.execute(QUERIES["set_lock_wait"], {"wait": wait})
    try:
        conn.execute(_MIGRATION_LOCK.encode())
    except psycopg.errors.LockNotAvailable as exc:
        raise MigrationLockTimeout(
            f"another process has held the migration lock for longer than {wait}; "
            "is a migration still running?") from exc


def migrate(conninfo: str, *, lock_wait: str = "5min", lock_timeout: str = "30s",
            root: Path | None = None) -> MigrateReport:
    """Apply pending migrations, then the routines if they changed, under the migration
    lock (waited for at most `lock_wait`); DDL waits at most `lock_timeout` for a table
    lock, so a migration never queues for long behind a long transaction."""
    rebuilt: list[str] = []
    step = "taking the migration lock"
    with _connect(conninfo) as conn:
        try:
            _acquire_migration_lock(conn, lock_wait)
            try:
                step = "preparing the ledger"
                conn.execute(QUERIES["set_lock_timeout"], {"timeout": lock_timeout})
                conn.execute(QUERIES["ensure_ledger"])
                plan = _plan(conn, root)
                for todo in plan.steps:
                    step = todo.doing
                    rebuilt += _run(conn, todo)
            finally:
                if not conn.closed and conn.info.transaction_status == 0:
                    conn.execute(QUERIES["advisory_unlock"], {"key": MIGRATION_LOCK_KEY})
        except psycopg.Error as exc:
            mapped = map_database_error(exc)
            if isinstance(mapped, MigrationLockTimeout):
                raise mapped from exc
            raise MigrationError(
                f"migration failed while {step}: {exc.diag.message_primary or exc}") from exc
    return MigrateReport(plan.applied, plan.routines_changed, rebuilt)


def bootstrap(conninfo: str, *, root: Path | None = None) -> None:
    """Install the whole schema on an empty database from sql/, in one transaction."""
    routines = sql_files(root, routines=True)
    with _connect(conninfo) as conn:
        try:
            with conn.transaction():
                conn.execute(QUERIES["advisory_xact_lock"], {"key": MIGRATION_LOCK_KEY})
                if _ledger(conn)[0]:
                    raise MigrationError("bootstrap needs an empty database; use migrate()")
                conn.execute(QUERIES["ensure_ledger"])
                for f in sql_files(root, routines=False):
                    conn.execute(f.text.encode())
                for m in migration_files(root):
                    conn.execute(QUERIES["ledger_insert"],
                                 {"version": m.version, "name": m.name, "checksum": m.checksum})
                for f in routines:
                    conn.execute(f.text.encode())
                conn.execute(QUERIES["routines_upsert"],
                             {"checksum": routines_checksum(routines)})
        except psycopg.Error as exc:
            raise MigrationError(f"bootstrap failed: {exc.diag.message_primary or exc}") from exc


def migration_status(conninfo: str, *, root: Path | None = None) -> SchemaStatus:
    files = migration_files(root)
    with _connect(conninfo) as conn:
        ledger, recorded_routines = _ledger(conn)
        invalid = _find_invalid_indexes(conn, files)
    return SchemaStatus(
        migrations=_states(ledger, files),
        routines_state=("current" if recorded_routines
                        == routines_checksum(sql_files(root, routines=True)) else "pending"),
        database_version=max(ledger) if ledger else None,
        code_version=max((m.version for m in files), default=0),
        invalid_indexes=invalid)


def check_schema(conn: Conn, *, root: Path | None = None, strict_routines: bool = True) -> None:
    """Raise SchemaTooOld/SchemaTooNew unless the database matches this code.

    Differing routines only warn without `strict_routines` (the Client): in a rolling
    upgrade the previous release keeps serving after the new one migrated.
    """
    ledger, recorded_routines = _ledger(conn)
    missing = [f"{m.version:04d}_{m.name}.sql"
               for m in _check_ledger(ledger, migration_files(root)) if m.state == "pending"]
    if missing:
        raise SchemaTooOld(f"pending migrations {missing}; run `connection-summary migrate`")
    if recorded_routines != routines_checksum(sql_files(root, routines=True)):
        message = ("the database's SQL routines differ from this code's; "
                   "run `connection-summary migrate` with the newer release")
        if strict_routines:
            raise SchemaTooOld(message)
        _log.warning(message)


# --- the psql script of `connection-summary migrate --sql`: the same plan, printed ----------

# What may be written into the script's psql \set lines without quoting.
_SETTING = re.compile(r"^[\w .:+-]+$")


def _script_query(name: str, /, **params: object) -> str:
    """A query of queries.sql with its parameters written in, without its ';' (for
    psql's \\gset or \\gexec): the script runs the very statements migrate() sends."""
    query = QUERIES[name]
    for key, value in params.items():
        query = query.replace(f"%({key})s", sql.Literal(value).as_string())
    lines = [line for line in query.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).replace("%%", "%").strip().removesuffix(";")


def _script(step: _Step) -> list[str]:
    """A step for psql: run only `when` (checked once the lock is held), else say why not."""
    drop_invalid = [
        f"select exists ({step.invalid}) as cs_invalid \\gset", "\\if :cs_invalid",
        f"\\echo 'rebuilding the INVALID index(es) of {step.source}, left by "
        "an interrupted build'",
        f"select format('drop index concurrently if exists %I.%I', '{SCHEMA}', relname)\n"
        f"from ({step.invalid}) as invalid \\gexec", "\\endif"] if step.invalid else []
    return [f"\n-- ===== {step.title} =====", f"select {step.when} as cs_run \\gset",
            "\\if :cs_run", *(["begin;"] if step.transaction else drop_invalid),
            *step.statements, *(["commit;"] if step.transaction else []),
            "\\else", f"\\echo 'skipped {step.skipped}'", "\\endif"]


def pending_sql(conninfo: str, *, lock_wait: str = "5min", lock_timeout: str = "30s",
                root: Path | None = None) -> str:
    """A psql script (`psql -X -v ON_ERROR_STOP=1 -f FILE`) doing what migrate() would,
    the same way; each step is guarded by the ledger, so one applied meanwhile is skipped."""
    for name, value in (("lock_wait", lock_wait), ("lock_timeout", lock_timeout)):
        if not _SETTING.match(value):
            raise InvalidArgument(f"{name} {value!r} is not an interval such as 5min or 30s")
    with _connect(conninfo) as conn:
        # Both are parsed by PostgreSQL now rather than by psql later.
        conn.execute(QUERIES["interval_seconds"], {"interval": lock_wait})
        conn.execute(QUERIES["set_lock_timeout"], {"timeout": lock_timeout})
        plan = _plan(conn, root)
    out = [line for step in plan.steps for line in _script(step)]
    if not out:
        return "-- nothing to apply: the database is up to date\n"
    files = plan.files
    head = QUERIES["script_head"].format(
        lock_wait=lock_wait, lock_timeout=lock_timeout, migration_lock=_MIGRATION_LOCK,
        ensure_ledger=QUERIES["ensure_ledger"],
        versions=", ".join(str(m.version) for m in files),
        last=f"{max((m.version for m in files), default=0):04d}",
        checksums=",\n        ".join([f"({m.version}, '{m.checksum}')" for m in files]
                                      or ["(null::int, null::text)"]),
        routines_check=("\n    " + QUERIES["script_routines_check"].rstrip().format(
            recorded=sql.Literal(plan.recorded_routines or "").as_string(),
            checksum=plan.routines_checksum) if plan.routines_changed else ""))
    tail = ["\n-- ===== done: release the migration lock =====",
            f"select pg_advisory_unlock({MIGRATION_LOCK_KEY}) as migration_lock_released;"]
    return head + "\n".join(line for line in [*out, *tail] if line) + "\n"
