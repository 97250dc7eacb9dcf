"""The `connection-summary` command line: one `Command` per subcommand, in `COMMANDS`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import shtab

from . import __version__, errors, localpg, migrations, render
from .client import MAX_LIMIT, Client
from .migrations import QUERIES
from .models import Diagnostics


@dataclass(frozen=True)
class Database:
    conninfo: str
    embedded: bool  # a throw-away private server started for this one command


@dataclass(frozen=True)
class Command:
    help: str
    arguments: Sequence[str]  # keys of _ARGUMENTS
    run: Callable[[argparse.Namespace, Database], int]
    needs_database: bool = True


def _print_json(value: object, jsonl: bool = False) -> None:
    for item in (value if isinstance(value, list) else [value]) if jsonl else [value]:
        print(json.dumps(item, indent=None if jsonl else 2, default=str))


# Argument types: a bad value is a usage error (exit 2), before any database work.
# lock_timeout is a PostgreSQL setting: a number of milliseconds, or a number and a unit.
_SETTING_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000,
               "d": 86_400_000}
_SETTING = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*")
# --lock-wait is a PostgreSQL interval: a number of seconds, or numbers with units.
_INTERVAL_PART = (r"\d+(?:\.\d+)?\s*(?:us|ms|s|m|h|d|(?:usec|msec|sec|min|hr|microsecond"
                  r"|millisecond|second|minute|hour|day)s?)")
_INTERVAL = re.compile(rf"\s*(?:\d+(?:\.\d+)?|{_INTERVAL_PART}(?:\s*{_INTERVAL_PART})*)\s*")


def _interval(text: str) -> str:
    if _INTERVAL.fullmatch(text.lower()):
        return text
    raise argparse.ArgumentTypeError(
        f"not a PostgreSQL interval: {text!r} (e.g. 30s, 5min, 1h 30min, 2 minutes)")


def _lock_timeout(text: str) -> str:
    match = _SETTING.fullmatch(text)
    if match and float(match[1]) * _SETTING_MS[match[2] or "ms"] <= 2**31 - 1:
        return text
    raise argparse.ArgumentTypeError(
        f"not a PostgreSQL lock_timeout: {text!r} (a number and a unit: us, ms, s, min, h "
        "or d, e.g. 30s; milliseconds without one; at most 24 days; 0 waits forever)")


def _count(text: str) -> int:
    value = int(text) if re.fullmatch(r"[+-]?\d+", text.strip()) else 0
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"not a whole number from 1 to {MAX_LIMIT}: {text!r}")
    return value


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 timestamp: {text!r} (e.g. 2026-06-01T12:00:00Z)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_JSONL = "JSON Lines: {} (instead of --json)"
_ARGUMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "owner": ("owner", {"metavar": "OWNER", "help": "owner_id whose connections to read"}),
    "route": ("route", {"metavar": "ROUTE",
                        "help": "connector_instance_id, or a connector_id with one connection"}),
    "limit": ("--limit", {"type": _count, "metavar": "N",
                          "help": f"at most N rows (1..{MAX_LIMIT}; default: all)"}),
    "after": ("--after", {"metavar": "CURSOR", "help": "continue after the row with this "
                          "cursor (printed under a full page; the `cursor` key in --json)"}),
    "now": ("--now", {"type": _timestamp, "metavar": "TIMESTAMP", "help": (
        "the read time: p_now of the SQL functions (ISO 8601, UTC unless it has an offset; "
        "default: the database's now()). Freshness, staleness, backoff, due times and ages "
        "are judged as of this time, for reproducible output. It is not a view of the past: "
        "runs and events recorded after it still count")}),
    "runs": ("--runs", {"type": _count, "default": 20, "metavar": "N", "help": (
        f"how many recent runs to list (1..{MAX_LIMIT}; default: %(default)s)")}),
    "jsonl": ("--jsonl", {"action": "store_true",
                          "help": _JSONL.format("the --json object on one line")}),
    "jsonl_rows": ("--jsonl", {"action": "store_true", "help": _JSONL.format(
        "one summary object per line, the rows of --json")}),
    "wide": ("--wide", {"action": "store_true", "help": (
        "show every column and never wrap (default: fit $COLUMNS, else the terminal; "
        "no limit when stdout is not a terminal)")}),
    "sql": ("--sql", {"action": "store_true", "help": (
        "print the pending migrations as a psql script that follows the same procedure "
        "(lock, waits, checks), for review and psql -f; apply nothing")}),
    "lock_wait": ("--lock-wait", {"default": "5min", "metavar": "INTERVAL", "type": _interval,
                                  "help": "how long to wait for another running migration "
                                          "(default: %(default)s)"}),
    "lock_timeout": ("--lock-timeout", {
        "default": "30s", "metavar": "INTERVAL", "type": _lock_timeout,
        "help": "lock_timeout of each migration statement; 0 waits forever "
                "(default: %(default)s)"}),
    "check": ("--check", {"action": "store_true", "help": (
        "exit non-zero (with the exit code of the mismatch) unless the database matches this "
        "code exactly and has no INVALID index")}),
    "shell": ("shell", {"choices": ("bash", "zsh"), "metavar": "SHELL", "help": "bash or zsh"}),
}


def run_migrate(args: argparse.Namespace, db: Database) -> int:
    if args.sql:
        print(migrations.pending_sql(db.conninfo, lock_wait=args.lock_wait,
                                     lock_timeout=args.lock_timeout), end="")
        return 0
    if db.embedded:
        print("connection-summary: note: migrating a throw-away embedded PostgreSQL (no --dsn "
              "or DATABASE_URL); it is deleted when this command exits", file=sys.stderr)
    report = migrations.migrate(db.conninfo, lock_wait=args.lock_wait,
                                lock_timeout=args.lock_timeout)
    if args.json:
        _print_json(asdict(report))
        return 0
    print(*(f"rebuilt invalid index {name} (left by an interrupted build)"
            for name in report.rebuilt_indexes),
          *(f"applied {name}" for name in report.applied),
          "routines (functions, views, triggers): "
          + ("applied" if report.routines_applied else "unchanged"), sep="\n")
    if not report.applied and not report.routines_applied and not report.rebuilt_indexes:
        print("database is up to date")
    return 0


def run_status(args: argparse.Namespace, db: Database) -> int:
    if db.embedded:
        print("connection-summary: note: showing a throw-away embedded PostgreSQL (no --dsn or "
              "DATABASE_URL): it is always empty", file=sys.stderr)
    status = migrations.migration_status(db.conninfo)
    if args.json:
        _print_json({"database_version": status.database_version,
                     "code_version": status.code_version, "routines": status.routines_state,
                     "up_to_date": status.up_to_date,
                     "migrations": [asdict(m) for m in status.migrations],
                     "invalid_indexes": [asdict(i) for i in status.invalid_indexes]})
    else:
        db_version = "none" if status.database_version is None else \
            f"{status.database_version:04d}"
        print(f"schema version: database {db_version}, code {status.code_version:04d}",
              f"routines: {status.routines_state}",
              f"up to date: {'yes' if status.up_to_date else 'no'}",
              *(f"INVALID index: {i.name} ({i.migration or 'no migration builds it'})"
                for i in status.invalid_indexes), "",
              *render.table(["version", "name", "state", "applied_at"],
                            [(f"{m.version:04d}", m.name, m.state, m.applied_at)
                             for m in status.migrations]), sep="\n")
    if not args.check:
        return 0
    for index in status.invalid_indexes:
        print(f"connection-summary: error: {index.advice}", file=sys.stderr)
    states = {m.state for m in status.migrations}
    if "unknown_to_code" in states:
        return errors.SchemaTooNew.exit_code
    if "modified" in states:
        return errors.MigrationChecksumMismatch.exit_code
    if any(i.migration is None for i in status.invalid_indexes):
        return errors.MigrationError.exit_code  # what `migrate` fails with
    return 0 if status.up_to_date else errors.SchemaTooOld.exit_code


def _use_color(args: argparse.Namespace) -> bool:
    if args.color != "auto":
        return bool(args.color == "always")
    return (not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
            and sys.stdout.isatty())


def _width(args: argparse.Namespace) -> int | None:
    if args.wide:
        return None
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        with contextlib.suppress(OSError, ValueError):
            return os.get_terminal_size(sys.stdout.fileno()).columns or None
    return None


def run_overview(args: argparse.Namespace, db: Database) -> int:
    with Client(db.conninfo) as client:
        rows = client.overview(args.owner, now=args.now, limit=args.limit, after=args.after,
                               coalesce=False)
    if args.json or args.jsonl:
        _print_json([row.to_json() for row in rows], args.jsonl)
    elif not rows:
        print(f"owner {args.owner!r} has no connections"
              + (" after that cursor" if args.after else ""))
    else:
        print(*render.overview_table(rows, color=_use_color(args), width=_width(args)), sep="\n")
        if args.limit is not None and len(rows) == args.limit:
            print(f"\nnext page: --after {rows[-1].cursor}")
    return 0


def run_show(args: argparse.Namespace, db: Database) -> int:
    runs = getattr(args, "runs", None)
    with Client(db.conninfo) as client:
        found = (client.for_route(args.owner, args.route, now=args.now) if runs is None else
                 client.diagnostics(args.owner, args.route, now=args.now, run_limit=runs))
    if found is None:
        raise errors.NotFound(
            f"owner {args.owner!r} has no connection {args.route!r} (a route is a connection "
            "id, or a connector id with exactly one connection; drafts are never shown): "
            f"`connection-summary overview {args.owner}` lists them")
    if args.json or args.jsonl:
        _print_json(found.to_json(), args.jsonl)
    elif isinstance(found, Diagnostics):
        print(*render.diagnostics_block(found, run_limit=runs, color=_use_color(args),
                                        width=_width(args)), sep="\n")
    else:
        print(*render.summary_block(found, color=_use_color(args), width=_width(args)), sep="\n")
    return 0


class DemoRefused(errors.ConnectionSummaryError):
    """`demo` was pointed at a database that already holds input rows; nothing was loaded."""
    exit_code = 10


DEMO_SQL = Path(__file__).with_name("demo.sql")
DEMO_OWNER, DEMO_OTHER_OWNER, DEMO_ROUTE = "alice", "bob", "chase-savings"


def _refuse_demo_if_it_has_input_rows(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    if all((conn.execute(QUERIES[name]).fetchone() or [False])[0]
           for name in ("schema_exists", "input_tables_have_rows")):
        raise DemoRefused(
            "the database already holds connection_summary input rows, and `demo` never "
            "mixes its sample data with real data: nothing was loaded. Point --dsn (or "
            "DATABASE_URL) at a new, empty database, or run `connection-summary demo` "
            "without either to use a throw-away embedded PostgreSQL")


def run_demo(args: argparse.Namespace, db: Database) -> int:
    # Progress goes to stdout for humans; with --json, stdout is only the JSON.
    progress = sys.stderr if args.json else sys.stdout
    color, width = _use_color(args), _width(args)

    def say(*lines: str) -> None:
        print(*(part for line in lines for part in render.wrap(line, width)), sep="\n",
              file=progress)

    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        _refuse_demo_if_it_has_input_rows(conn)
        version = conn.execute(QUERIES["server_version"]).fetchone()
    say("connection-summary demo: " + (
        f"a throw-away embedded PostgreSQL {version[0] if version else ''}, deleted when the "
        "demo ends" if db.embedded else
        "the database of --dsn / DATABASE_URL (the data stays there)"))
    report = migrations.migrate(db.conninfo)
    say(f"  migrated: {len(report.applied)} migration(s) applied, routines "
        + ("applied" if report.routines_applied else "unchanged"))
    # demo.sql in one transaction, only when no input table has a row; the lock
    # serializes concurrent loads, so the second one sees the first's rows.
    with psycopg.connect(db.conninfo) as conn:
        conn.execute(QUERIES["lock_connectors"])
        _refuse_demo_if_it_has_input_rows(conn)
        conn.execute(DEMO_SQL.read_text().encode())
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
    print(*render.overview_table(mine, color=color, width=width), sep="\n")
    say("", f"$ connection-summary show {DEMO_OWNER} {DEMO_ROUTE}",
        "  (a browser connection whose last run got no browser surface: a sibling run "
        "held the profile)", "")
    print(*render.summary_block(deep, color=color, width=width), sep="\n")
    say("", f"$ connection-summary overview {DEMO_OTHER_OWNER}",
        f"  ({DEMO_OTHER_OWNER} shares the database but sees only his own connection; "
        f"`show {DEMO_OTHER_OWNER} {DEMO_ROUTE}` finds nothing)", "")
    print(*render.overview_table(theirs, color=color, width=width), sep="\n")
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


def run_completion(args: argparse.Namespace, db: Database) -> int:
    print(shtab.complete(build_parser(), args.shell))
    return 0


COMMANDS: dict[str, Command] = {
    "migrate": Command("apply pending migrations and routines (or print them with --sql)",
                       ["sql", "lock_wait", "lock_timeout"], run_migrate),
    "status": Command("show which migrations the database has", ["check"], run_status),
    "overview": Command("every non-draft connection of OWNER, one row each",
                        ["owner", "limit", "after", "now", "jsonl_rows", "wide"], run_overview),
    "show": Command("one connection of OWNER in full (the deep read)",
                    ["owner", "route", "now", "jsonl", "wide"], run_show),
    "diagnostics": Command("`show`, plus the recent runs and the latest run's events",
                           ["owner", "route", "now", "runs", "jsonl", "wide"], run_show),
    "demo": Command("load sample data (two owners) into an embedded PostgreSQL, or an "
                    "empty --dsn database, and show it", ["wide"], run_demo),
    "completion": Command("print a shell completion script (bash or zsh)", ["shell"],
                          run_completion, needs_database=False),
}


def _epilog() -> str:
    codes = [(0, "success"), (1, "any other error"),
             (2, "usage error: bad command-line arguments"), (130, "interrupted"),
             (141, "stdout was closed early (e.g. piped into `head`)"),
             *((cls.exit_code, f"{cls.__name__}: {(cls.__doc__ or '').strip().splitlines()[0]}")
               for cls in (errors.InvalidArgument, errors.NotFound, errors.DatabaseUnavailable,
                           errors.MigrationError, errors.MigrationChecksumMismatch,
                           errors.SchemaTooNew, errors.SchemaTooOld,
                           errors.MigrationLockTimeout, DemoRefused,
                           errors.PermissionDenied))]
    return "\n".join([
        "database: --dsn, else $DATABASE_URL. overview, show and diagnostics need one;",
        "without either, demo, migrate and status use a throw-away embedded PostgreSQL",
        "started for that one command and deleted when it exits.",
        "",
        "output: tables fitted to $COLUMNS or the terminal (--wide: every column);",
        "--json prints the JSON the SQL functions give (overview_json, for_route_json,",
        "diagnostics), --jsonl one object per line. The verdict pill is coloured by its",
        "tone when stdout is a terminal and NO_COLOR is unset (see --color).",
        "",
        "shell completion: source <(connection-summary completion bash)   (or zsh)",
        "",
        "exit codes:",
        *(f"  {code:<3} {text}" for code, text in sorted(codes))])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connection-summary", epilog=_epilog(),
        description="Per-connection summaries projected by PostgreSQL functions.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"connection-summary {__version__}")
    # --dsn, --json and --color are accepted before or after the subcommand; the
    # subparsers' copies default to SUPPRESS so they never overwrite a value given before.
    common = argparse.ArgumentParser(add_help=False)
    for target, default in ((parser, None), (common, argparse.SUPPRESS)):
        target.add_argument("--dsn", default=default, metavar="CONNINFO", help=(
            "libpq conninfo or URL of the database (default: $DATABASE_URL; required by "
            "overview, show and diagnostics)"))
        target.add_argument("--json", action="store_true", default=default or False,
                            help="machine-readable output")
        target.add_argument("--color", choices=("auto", "always", "never"),
                            default=default or "auto", help=(
                                "colour the verdict pill: auto (a terminal without NO_COLOR), "
                                "always, never (default: auto)"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        child = sub.add_parser(name, help=command.help, description=command.help,
                               parents=[common], epilog=_epilog(),
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        for key in command.arguments:
            flag, options = _ARGUMENTS[key]
            child.add_argument(flag, **options)
    return parser


@contextlib.contextmanager
def open_database(dsn: str | None) -> Iterator[Database]:
    url = dsn or os.environ.get("DATABASE_URL")
    if url:
        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise errors.InvalidArgument(
                f"{'--dsn' if dsn else 'DATABASE_URL'} is not a libpq conninfo or "
                f"postgresql:// URL: {str(exc).strip()}") from None
    with localpg.database_url(url) as conninfo:
        yield Database(conninfo, embedded=not url)


def main(argv: Sequence[str] | None = None) -> int:
    # jsonb holds integers of up to 131,072 digits; Python's str() of an int
    # stops at 4,300 by default, which would make --json fail on them.
    sys.set_int_max_str_digits(0)
    parser = build_parser()
    args = parser.parse_args(argv)
    command = COMMANDS[args.command]
    # What argparse cannot check alone; a failure is a usage error too (exit 2).
    child = next(a for a in parser._actions
                 if isinstance(a, argparse._SubParsersAction)).choices[args.command]
    # OWNER's connections are the caller's data: a throw-away embedded server would be empty.
    if "owner" in command.arguments and not (args.dsn or os.environ.get("DATABASE_URL")):
        child.error(f"{args.command} reads your database: pass --dsn CONNINFO or set "
                    "DATABASE_URL. (Without either, `connection-summary demo` shows sample "
                    "data in a throw-away embedded PostgreSQL.)")
    if args.json and getattr(args, "jsonl", False):
        child.error("--json and --jsonl are two different outputs: pass one of them")
    try:
        if not command.needs_database:
            return command.run(args, Database("", embedded=False))
        with open_database(args.dsn) as db:
            return command.run(args, db)
    except (errors.ConnectionSummaryError, psycopg.Error) as exc:
        error = errors.map_database_error(exc) if isinstance(exc, psycopg.Error) else exc
        print(f"connection-summary: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
