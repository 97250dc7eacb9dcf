"""The `connection-summary` command line (also `python -m connection_summary`).

Every subcommand is one `Command` in `COMMANDS`: a name, the function that adds
its arguments, and the handler that runs it. Adding a subcommand means writing
those two functions and one `COMMANDS` entry; `main()` does the rest (parsing,
choosing the database, mapping errors to exit codes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import psycopg

from . import errors, localpg, migrations


@dataclass(frozen=True)
class Database:
    """The database a command runs against."""

    conninfo: str
    embedded: bool  # a throw-away private server started for this one command


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Database], int]
    needs_database: bool = True


class NotImplementedYet(errors.ConnectionSummaryError):
    """A subcommand that is declared but not written yet."""

    exit_code = 1


def _note(message: str) -> None:
    print(f"connection-summary: note: {message}", file=sys.stderr)


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, default=str), file=sys.stdout)


def _print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    out = sys.stdout
    for row in [list(header), *cells]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


# --- migrate ---------------------------------------------------------------------------------

def _migrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sql", action="store_true",
        help="print the SQL of the pending migrations (for review or psql) and apply nothing")
    parser.add_argument(
        "--lock-wait", default="5min", metavar="INTERVAL",
        help="how long to wait for another running migration (default: %(default)s)")
    parser.add_argument(
        "--lock-timeout", default="30s", metavar="INTERVAL",
        help="lock_timeout of each migration statement; 0 waits forever (default: %(default)s)")


def run_migrate(args: argparse.Namespace, db: Database) -> int:
    if args.sql:
        print(migrations.pending_sql(db.conninfo), end="", file=sys.stdout)
        return 0
    if db.embedded:
        _note("migrating a throw-away embedded PostgreSQL (no --dsn or DATABASE_URL); "
              "it is deleted when this command exits")
    report = migrations.migrate(db.conninfo, lock_wait=args.lock_wait,
                                lock_timeout=args.lock_timeout)
    if args.json:
        _print_json(asdict(report))
        return 0
    out = sys.stdout
    for name in report.rebuilt_indexes:
        print(f"rebuilt invalid index {name} (left by an interrupted build)", file=out)
    for name in report.applied:
        print(f"applied {name}", file=out)
    print("routines (functions, views, triggers): "
          + ("applied" if report.routines_applied else "unchanged"), file=out)
    if not report.applied and not report.routines_applied:
        print("database is up to date", file=out)
    return 0


# --- status ----------------------------------------------------------------------------------

def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check", action="store_true",
        help="exit non-zero (with the exit code of the mismatch) unless the database "
             "matches this code exactly")


def _status_exit_code(status: migrations.SchemaStatus) -> int:
    states = {m.state for m in status.migrations}
    if "unknown_to_code" in states:
        return errors.SchemaTooNew.exit_code
    if "modified" in states:
        return errors.MigrationChecksumMismatch.exit_code
    if not status.up_to_date:
        return errors.SchemaTooOld.exit_code
    return 0


def run_status(args: argparse.Namespace, db: Database) -> int:
    if db.embedded:
        _note("showing a throw-away embedded PostgreSQL (no --dsn or DATABASE_URL): "
              "it is always empty")
    status = migrations.migration_status(db.conninfo)
    if args.json:
        _print_json({
            "database_version": status.database_version,
            "code_version": status.code_version,
            "routines": status.routines_state,
            "up_to_date": status.up_to_date,
            "migrations": [asdict(m) for m in status.migrations],
        })
    else:
        out = sys.stdout
        db_version = ("none" if status.database_version is None
                      else f"{status.database_version:04d}")
        print(f"schema version: database {db_version}, code {status.code_version:04d}",
              file=out)
        print(f"routines: {status.routines_state}", file=out)
        print(f"up to date: {'yes' if status.up_to_date else 'no'}", file=out)
        print(file=out)
        _print_table(["version", "name", "state", "applied_at"],
                     [(f"{m.version:04d}", m.name, m.state, m.applied_at)
                      for m in status.migrations])
    return _status_exit_code(status) if args.check else 0


# --- placeholders: to be replaced by their real handlers -------------------------------------
# PLACEHOLDER(overview, show, diagnostics, demo): each keeps its argument shape here; replace
# `_not_implemented` in its COMMANDS entry with the real handler and set needs_database=True.

def _owner_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("owner", metavar="OWNER", help="owner_id whose connections to read")


def _owner_route_arguments(parser: argparse.ArgumentParser) -> None:
    _owner_argument(parser)
    parser.add_argument("route", metavar="ROUTE",
                        help="connector_instance_id, or a connector_id with one connection")


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def _not_implemented(args: argparse.Namespace, db: Database) -> int:
    del db
    raise NotImplementedYet(f"`{args.command}` is not implemented yet")


# --- the command table -----------------------------------------------------------------------

COMMANDS: dict[str, Command] = {
    c.name: c for c in [
        Command("migrate", "apply pending migrations and routines (or print them with --sql)",
                _migrate_arguments, run_migrate),
        Command("status", "show which migrations the database has",
                _status_arguments, run_status),
        # PLACEHOLDER: overview OWNER
        Command("overview", "every connection of OWNER (not implemented yet)",
                _owner_argument, _not_implemented, needs_database=False),
        # PLACEHOLDER: show OWNER ROUTE
        Command("show", "one connection of OWNER, deep read (not implemented yet)",
                _owner_route_arguments, _not_implemented, needs_database=False),
        # PLACEHOLDER: diagnostics OWNER ROUTE
        Command("diagnostics", "diagnostics of one connection (not implemented yet)",
                _owner_route_arguments, _not_implemented, needs_database=False),
        # PLACEHOLDER: demo
        Command("demo", "start a private PostgreSQL with sample data (not implemented yet)",
                _no_arguments, _not_implemented, needs_database=False),
    ]
}

_ERRORS = [
    errors.InvalidArgument, errors.NotFound,
    errors.DatabaseUnavailable, errors.MigrationError, errors.MigrationChecksumMismatch,
    errors.SchemaTooNew, errors.SchemaTooOld, errors.MigrationLockTimeout,
]


def _epilog() -> str:
    codes = [(0, "success"),
             (1, "any other error (also: a command that is not implemented yet)"),
             (2, "usage error: bad command-line arguments"),
             (130, "interrupted")]
    for cls in _ERRORS:
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        codes.append((cls.exit_code, f"{cls.__name__}: {doc}"))
    lines = [
        "database: --dsn, else $DATABASE_URL, else a throw-away embedded PostgreSQL",
        "started for this one command and deleted when it exits.",
        "",
        "exit codes:",
        *(f"  {code:<3} {text}" for code, text in sorted(codes)),
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connection-summary",
        description="Per-connection summaries projected by PostgreSQL functions.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # --dsn and --json are accepted before or after the subcommand; the subparser copies
    # default to SUPPRESS so they never overwrite a value given before the subcommand.
    parser.add_argument("--dsn", default=None, metavar="CONNINFO",
                        help="libpq conninfo or URL (default: $DATABASE_URL, else embedded)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dsn", default=argparse.SUPPRESS, metavar="CONNINFO",
                        help=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS.values():
        child = sub.add_parser(command.name, help=command.help, description=command.help,
                               parents=[common], epilog=_epilog(),
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(child)
    return parser


@contextlib.contextmanager
def open_database(dsn: str | None) -> Iterator[Database]:
    """--dsn, else DATABASE_URL, else a private embedded server stopped on exit."""
    url = dsn or os.environ.get("DATABASE_URL")
    if url:
        yield Database(url, embedded=False)
        return
    server = localpg.start_local_server()
    try:
        yield Database(server.conninfo(), embedded=True)
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = COMMANDS[args.command]
    try:
        if not command.needs_database:
            return command.run(args, Database("", embedded=False))
        with open_database(args.dsn) as db:
            return command.run(args, db)
    except errors.ConnectionSummaryError as exc:
        print(f"connection-summary: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except psycopg.Error as exc:
        mapped = errors.map_database_error(exc)
        print(f"connection-summary: error: {mapped}", file=sys.stderr)
        return mapped.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
