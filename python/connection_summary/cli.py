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
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from . import __version__, errors, localpg, migrations, queries, render
from .client import MAX_LIMIT, Client


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


# --- reading: overview, show, diagnostics ----------------------------------------------------


def _timestamp(text: str) -> datetime:
    """--now: ISO 8601; a time without an offset is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 timestamp: {text!r} (e.g. 2026-06-01T12:00:00Z)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _now_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now", type=_timestamp, default=None, metavar="TIMESTAMP",
        help="read as of this time (ISO 8601, UTC unless it has an offset; default: the "
             "database's now()): p_now of the SQL functions, for reproducible output")


def _owner_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("owner", metavar="OWNER", help="owner_id whose connections to read")


def _owner_route_arguments(parser: argparse.ArgumentParser) -> None:
    _owner_argument(parser)
    parser.add_argument("route", metavar="ROUTE",
                        help="connector_instance_id, or a connector_id with one connection")
    _now_argument(parser)


def _overview_arguments(parser: argparse.ArgumentParser) -> None:
    _owner_argument(parser)
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help=f"at most N rows (1..{MAX_LIMIT}; default: all)")
    parser.add_argument("--after", default=None, metavar="CURSOR",
                        help="continue after the row with this cursor (printed under a "
                             "full page; the `cursor` key in --json)")
    _now_argument(parser)


def _diagnostics_arguments(parser: argparse.ArgumentParser) -> None:
    _owner_route_arguments(parser)
    parser.add_argument("--runs", type=int, default=20, metavar="N",
                        help=f"how many recent runs to list (1..{MAX_LIMIT}; "
                             "default: %(default)s)")


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def _use_color(args: argparse.Namespace) -> bool:
    """--color always/never; auto: stdout is a terminal, NO_COLOR unset, TERM not dumb."""
    choice = args.color
    if choice != "auto":
        return bool(choice == "always")
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


def _print_lines(lines: Sequence[str]) -> None:
    out = sys.stdout
    for line in lines:
        print(line, file=out)


def _prepare_embedded(db: Database) -> None:
    """A throw-away embedded server has no schema and no data: say so, then migrate it."""
    if db.embedded:
        _note("no --dsn or DATABASE_URL: reading a throw-away embedded PostgreSQL that this "
              "command created and deletes when it exits, so it holds no data. "
              "Run `connection-summary demo` to see sample data, or pass --dsn (or set "
              "DATABASE_URL) to read your database.")
        migrations.migrate(db.conninfo)


def _not_found(owner: str, route: str) -> errors.NotFound:
    return errors.NotFound(
        f"owner {owner!r} has no connection {route!r} (a route is a connection id, or a "
        "connector id with exactly one connection; drafts are never shown): "
        f"`connection-summary overview {owner}` lists them")


def run_overview(args: argparse.Namespace, db: Database) -> int:
    _prepare_embedded(db)
    with Client(db.conninfo) as client:
        rows = client.overview(args.owner, now=args.now, limit=args.limit, after=args.after,
                               coalesce=False)
    if args.json:
        _print_json([row.to_json() for row in rows])
        return 0
    if not rows:
        print(f"owner {args.owner!r} has no connections"
              + (" after that cursor" if args.after else ""), file=sys.stdout)
        return 0
    _print_lines(render.overview_table(rows, color=_use_color(args)))
    if args.limit is not None and len(rows) == args.limit:
        print(f"\nnext page: --after {rows[-1].cursor}", file=sys.stdout)
    return 0


def run_show(args: argparse.Namespace, db: Database) -> int:
    _prepare_embedded(db)
    with Client(db.conninfo) as client:
        summary = client.for_route(args.owner, args.route, now=args.now)
    if summary is None:
        raise _not_found(args.owner, args.route)
    if args.json:
        _print_json(summary.to_json())
    else:
        _print_lines(render.summary_block(summary, color=_use_color(args)))
    return 0


def run_diagnostics(args: argparse.Namespace, db: Database) -> int:
    _prepare_embedded(db)
    with Client(db.conninfo) as client:
        diagnostics = client.diagnostics(args.owner, args.route, now=args.now,
                                         run_limit=args.runs)
    if diagnostics is None:
        raise _not_found(args.owner, args.route)
    if args.json:
        _print_json(diagnostics.to_json())
    else:
        _print_lines(render.diagnostics_block(diagnostics, run_limit=args.runs,
                                              color=_use_color(args)))
    return 0


# --- demo ------------------------------------------------------------------------------------

class DemoRefused(errors.ConnectionSummaryError):
    """`demo` was pointed at a database that already holds input rows; nothing was loaded."""

    exit_code = 10


DEMO_SQL = Path(__file__).with_name("demo.sql")
DEMO_OWNER, DEMO_OTHER_OWNER, DEMO_ROUTE = "alice", "bob", "chase-savings"


def _has_input_rows(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = conn.execute(queries.SCHEMA_EXISTS).fetchone()
    if not (row and row[0]):
        return False
    row = conn.execute(queries.INPUT_TABLES_HAVE_ROWS).fetchone()
    return bool(row and row[0])


def _refuse_demo() -> DemoRefused:
    return DemoRefused(
        "the database already holds connection_summary input rows, and `demo` never mixes "
        "its sample data with real data: nothing was loaded. Point --dsn (or DATABASE_URL) "
        "at a new, empty database, or run `connection-summary demo` without either to use "
        "a throw-away embedded PostgreSQL")


def _load_demo(db: Database) -> None:
    """demo.sql, in one transaction, only when no input table has a row."""
    with psycopg.connect(db.conninfo) as conn:
        conn.execute(queries.LOCK_CONNECTORS)
        if _has_input_rows(conn):
            raise _refuse_demo()
        conn.execute(DEMO_SQL.read_text().encode())


def run_demo(args: argparse.Namespace, db: Database) -> int:
    # Progress goes to stdout for humans; with --json, stdout is only the JSON.
    progress = sys.stderr if args.json else sys.stdout
    color = _use_color(args)

    def say(*lines: str) -> None:
        for line in lines:
            print(line, file=progress)

    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        if not db.embedded and _has_input_rows(conn):
            raise _refuse_demo()
        version = conn.execute(queries.SERVER_VERSION).fetchone()
    where = (f"a throw-away embedded PostgreSQL {version[0] if version else ''}, deleted "
             "when the demo ends" if db.embedded
             else "the database of --dsn / DATABASE_URL (the data stays there)")
    say(f"connection-summary demo: {where}")
    report = migrations.migrate(db.conninfo)
    say(f"  migrated: {len(report.applied)} migration(s) applied, routines "
        + ("applied" if report.routines_applied else "unchanged"))
    _load_demo(db)
    say("  loaded the demo data set (python/connection_summary/demo.sql): owners "
        f"{DEMO_OWNER} and {DEMO_OTHER_OWNER}, timestamps relative to now")

    with Client(db.conninfo) as client:
        mine = client.overview(DEMO_OWNER, coalesce=False)
        deep = client.for_route(DEMO_OWNER, DEMO_ROUTE)
        theirs = client.overview(DEMO_OTHER_OWNER, coalesce=False)
        leak = client.for_route(DEMO_OTHER_OWNER, DEMO_ROUTE)
    if deep is None or leak is not None:
        raise errors.ConnectionSummaryError("the demo data did not read back as expected")

    if args.json:
        _print_json({"overview": {DEMO_OWNER: [r.to_json() for r in mine],
                                  DEMO_OTHER_OWNER: [r.to_json() for r in theirs]},
                     "show": {DEMO_OWNER: {DEMO_ROUTE: deep.to_json()}}})
        return 0
    say("", f"$ connection-summary overview {DEMO_OWNER}")
    _print_lines(render.overview_table(mine, color=color))
    say("", f"$ connection-summary show {DEMO_OWNER} {DEMO_ROUTE}",
        "  (a browser connection whose last run got no browser surface: a sibling run "
        "held the profile)", "")
    _print_lines(render.summary_block(deep, color=color))
    say("", f"$ connection-summary overview {DEMO_OTHER_OWNER}",
        f"  ({DEMO_OTHER_OWNER} shares the database but sees only his own connection; "
        f"`show {DEMO_OTHER_OWNER} {DEMO_ROUTE}` finds nothing)", "")
    _print_lines(render.overview_table(theirs, color=color))
    say("")
    if db.embedded:
        say("The embedded PostgreSQL is deleted as the demo exits. To keep exploring, load "
            "the same data into an empty database of yours and read it there:",
            "  connection-summary demo --dsn postgresql:///demo",
            "  connection-summary --dsn postgresql:///demo diagnostics alice slack-team")
    else:
        say("Explore it further with the same --dsn, e.g. `diagnostics alice slack-team`, "
            "`show alice outlook-work --json`, `overview alice --limit 3`.")
    return 0


# --- the command table -----------------------------------------------------------------------

COMMANDS: dict[str, Command] = {
    c.name: c for c in [
        Command("migrate", "apply pending migrations and routines (or print them with --sql)",
                _migrate_arguments, run_migrate),
        Command("status", "show which migrations the database has",
                _status_arguments, run_status),
        Command("overview", "every non-draft connection of OWNER, one row each",
                _overview_arguments, run_overview),
        Command("show", "one connection of OWNER in full (the deep read)",
                _owner_route_arguments, run_show),
        Command("diagnostics", "`show`, plus the recent runs and the latest run's events",
                _diagnostics_arguments, run_diagnostics),
        Command("demo", "load sample data (two owners) into an embedded PostgreSQL, or an "
                        "empty --dsn database, and show it",
                _no_arguments, run_demo),
    ]
}

_ERRORS = [
    errors.InvalidArgument, errors.NotFound,
    errors.DatabaseUnavailable, errors.MigrationError, errors.MigrationChecksumMismatch,
    errors.SchemaTooNew, errors.SchemaTooOld, errors.MigrationLockTimeout, DemoRefused,
]


def _epilog() -> str:
    codes = [(0, "success"),
             (1, "any other error"),
             (2, "usage error: bad command-line arguments"),
             (130, "interrupted"),
             (141, "stdout was closed early (e.g. piped into `head`)")]
    for cls in _ERRORS:
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        codes.append((cls.exit_code, f"{cls.__name__}: {doc}"))
    lines = [
        "database: --dsn, else $DATABASE_URL, else a throw-away embedded PostgreSQL",
        "started for this one command and deleted when it exits (overview, show and",
        "diagnostics find nothing there: run `demo`, or point --dsn at your database).",
        "",
        "output: human tables by default; --json prints the JSON the SQL functions give",
        "(overview_json, for_route_json, diagnostics). The verdict pill is coloured by",
        "its tone when stdout is a terminal and NO_COLOR is unset (see --color).",
        "",
        "exit codes:",
        *(f"  {code:<3} {text}" for code, text in sorted(codes)),
    ]
    return "\n".join(lines)


_COLOR_CHOICES = ("auto", "always", "never")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connection-summary",
        description="Per-connection summaries projected by PostgreSQL functions.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # --dsn and --json are accepted before or after the subcommand; the subparser copies
    # default to SUPPRESS so they never overwrite a value given before the subcommand.
    parser.add_argument("--version", action="version",
                        version=f"connection-summary {__version__}")
    parser.add_argument("--dsn", default=None, metavar="CONNINFO",
                        help="libpq conninfo or URL (default: $DATABASE_URL, else embedded)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--color", choices=_COLOR_CHOICES, default="auto",
                        help="colour the verdict pill: auto (a terminal without NO_COLOR), "
                             "always, never (default: %(default)s)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dsn", default=argparse.SUPPRESS, metavar="CONNINFO",
                        help=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output")
    common.add_argument("--color", choices=_COLOR_CHOICES, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)
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
        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            source = "--dsn" if dsn else "DATABASE_URL"
            reason = str(exc).strip()
            raise errors.InvalidArgument(
                f"{source} is not a libpq conninfo or postgresql:// URL: {reason}") from None
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
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
