"""The `connection-summary` command line (also `python -m connection_summary`).

Every subcommand is one `Command` in `COMMANDS`: a name, the function that adds
its arguments, and the handler that runs it. Adding a subcommand means writing
those two functions and one `COMMANDS` entry; `main()` does the rest (parsing,
choosing the database, mapping errors to exit codes), and the shell completion
scripts (`completion bash|zsh`) are generated from the same parser.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    # Reads the caller's data, so --dsn or DATABASE_URL is required: a throw-away
    # embedded server would be empty.
    needs_dsn: bool = False


def _note(message: str) -> None:
    print(f"connection-summary: note: {message}", file=sys.stderr)


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, default=str), file=sys.stdout)


def _print_json_lines(values: Iterable[object]) -> None:
    out = sys.stdout
    for value in values:
        print(json.dumps(value, default=str), file=out)


def _print_lines(lines: Sequence[str]) -> None:
    out = sys.stdout
    for line in lines:
        print(line, file=out)


def _print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    _print_lines(render.table(header, rows))


# --- argument types: a bad value is a usage error (exit 2), before any database work ------

# lock_timeout is a PostgreSQL setting: a number of milliseconds, or a number and a unit.
_SETTING_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000,
               "d": 86_400_000}
_SETTING = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*")
_SETTING_MAX_MS = 2**31 - 1
# --lock-wait is a PostgreSQL interval: a number of seconds, or numbers with units.
_INTERVAL_UNITS = frozenset(
    f"{stem}{end}" for stems, ends in [
        (["usec", "msec", "sec", "min", "hr"], ["", "s"]),
        (["microsecond", "millisecond", "second", "minute", "hour", "day"], ["", "s"]),
        (["us", "ms", "s", "m", "h", "d", "mins", "days"], [""]),
    ] for stem in stems for end in ends)
_INTERVAL_PART = re.compile(r"\s*\d+(?:\.\d+)?\s*([a-z]*)\s*")


def _interval(text: str) -> str:
    """--lock-wait: a PostgreSQL interval such as 30s, 5min, 1h 30min or 2 minutes."""
    lowered, units, at = text.lower(), [], 0
    while at < len(lowered) and (part := _INTERVAL_PART.match(lowered, at)):
        units.append(part[1])
        at = part.end()
    if (units and at == len(lowered) and all(u in _INTERVAL_UNITS for u in units if u)
            and (len(units) == 1 or all(units))):
        return text
    raise argparse.ArgumentTypeError(
        f"not a PostgreSQL interval: {text!r} (e.g. 30s, 5min, 1h 30min, 2 minutes)")


def _lock_timeout(text: str) -> str:
    """--lock-timeout: a PostgreSQL lock_timeout setting such as 30s, 500ms or 0."""
    match = _SETTING.fullmatch(text)
    if match and float(match[1]) * _SETTING_MS[match[2] or "ms"] <= _SETTING_MAX_MS:
        return text
    raise argparse.ArgumentTypeError(
        f"not a PostgreSQL lock_timeout: {text!r} (a number and a unit: us, ms, s, min, h "
        "or d, e.g. 30s; milliseconds without one; at most 24 days; 0 waits forever)")


def _count_from_1_to(top: int) -> Callable[[str], int]:
    """An integer option in 1..top (--limit, --runs)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 1 <= value <= top:
            raise argparse.ArgumentTypeError(f"not a whole number from 1 to {top}: {text!r}")
        return value
    return parse


def _timestamp(text: str) -> datetime:
    """--now: ISO 8601; a time without an offset is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 timestamp: {text!r} (e.g. 2026-06-01T12:00:00Z)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --- migrate ---------------------------------------------------------------------------------

def _migrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sql", action="store_true",
        help="print the pending migrations as a psql script that follows the same "
             "procedure (lock, waits, checks), for review and psql -f; apply nothing")
    parser.add_argument(
        "--lock-wait", default="5min", metavar="INTERVAL", type=_interval,
        help="how long to wait for another running migration (default: %(default)s)")
    parser.add_argument(
        "--lock-timeout", default="30s", metavar="INTERVAL", type=_lock_timeout,
        help="lock_timeout of each migration statement; 0 waits forever (default: %(default)s)")


def run_migrate(args: argparse.Namespace, db: Database) -> int:
    if args.sql:
        print(migrations.pending_sql(db.conninfo, lock_wait=args.lock_wait,
                                     lock_timeout=args.lock_timeout), end="", file=sys.stdout)
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
    if not report.applied and not report.routines_applied and not report.rebuilt_indexes:
        print("database is up to date", file=out)
    return 0


# --- status ----------------------------------------------------------------------------------

def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check", action="store_true",
        help="exit non-zero (with the exit code of the mismatch) unless the database "
             "matches this code exactly and has no INVALID index")


def _status_exit_code(status: migrations.SchemaStatus) -> int:
    states = {m.state for m in status.migrations}
    if "unknown_to_code" in states:
        return errors.SchemaTooNew.exit_code
    if "modified" in states:
        return errors.MigrationChecksumMismatch.exit_code
    if any(index.migration is None for index in status.invalid_indexes):
        return errors.MigrationError.exit_code  # what `migrate` fails with
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
            "invalid_indexes": [asdict(i) for i in status.invalid_indexes],
        })
    else:
        out = sys.stdout
        db_version = ("none" if status.database_version is None
                      else f"{status.database_version:04d}")
        print(f"schema version: database {db_version}, code {status.code_version:04d}",
              file=out)
        print(f"routines: {status.routines_state}", file=out)
        print(f"up to date: {'yes' if status.up_to_date else 'no'}", file=out)
        for index in status.invalid_indexes:
            print(f"INVALID index: {index.name} ({index.migration or 'no migration builds it'})",
                  file=out)
        print(file=out)
        _print_table(["version", "name", "state", "applied_at"],
                     [(f"{m.version:04d}", m.name, m.state, m.applied_at)
                      for m in status.migrations])
    if not args.check:
        return 0
    for index in status.invalid_indexes:
        print(f"connection-summary: error: {index.advice}", file=sys.stderr)
    return _status_exit_code(status)


# --- reading: overview, show, diagnostics ----------------------------------------------------


def _now_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now", type=_timestamp, default=None, metavar="TIMESTAMP",
        help="the read time: p_now of the SQL functions (ISO 8601, UTC unless it has an "
             "offset; default: the database's now()). Freshness, staleness, backoff, due "
             "times and ages are judged as of this time, for reproducible output. It is "
             "not a view of the past: runs and events recorded after it still count")


def _wide_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wide", action="store_true",
        help="show every column and never wrap (default: fit $COLUMNS, else the terminal; "
             "no limit when stdout is not a terminal)")


def _output_arguments(parser: argparse.ArgumentParser, jsonl: str) -> None:
    parser.add_argument("--jsonl", action="store_true",
                        help=f"JSON Lines: {jsonl} (instead of --json)")
    _wide_argument(parser)


def _owner_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("owner", metavar="OWNER", help="owner_id whose connections to read")


def _owner_route_arguments(parser: argparse.ArgumentParser) -> None:
    _owner_argument(parser)
    parser.add_argument("route", metavar="ROUTE",
                        help="connector_instance_id, or a connector_id with one connection")
    _now_argument(parser)


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    _owner_route_arguments(parser)
    _output_arguments(parser, "the --json object on one line")


def _overview_arguments(parser: argparse.ArgumentParser) -> None:
    _owner_argument(parser)
    parser.add_argument("--limit", type=_count_from_1_to(MAX_LIMIT), default=None,
                        metavar="N", help=f"at most N rows (1..{MAX_LIMIT}; default: all)")
    parser.add_argument("--after", default=None, metavar="CURSOR",
                        help="continue after the row with this cursor (printed under a "
                             "full page; the `cursor` key in --json)")
    _now_argument(parser)
    _output_arguments(parser, "one summary object per line, the rows of --json")


def _diagnostics_arguments(parser: argparse.ArgumentParser) -> None:
    _owner_route_arguments(parser)
    parser.add_argument("--runs", type=_count_from_1_to(MAX_LIMIT), default=20, metavar="N",
                        help=f"how many recent runs to list (1..{MAX_LIMIT}; "
                             "default: %(default)s)")
    _output_arguments(parser, "the --json object on one line")


def _use_color(args: argparse.Namespace) -> bool:
    """--color always/never; auto: stdout is a terminal, NO_COLOR unset, TERM not dumb."""
    choice = args.color
    if choice != "auto":
        return bool(choice == "always")
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


def _width(args: argparse.Namespace) -> int | None:
    """Columns to fit: none with --wide; $COLUMNS; the terminal's; none off a terminal."""
    if args.wide:
        return None
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        with contextlib.suppress(OSError, ValueError):
            return os.get_terminal_size(sys.stdout.fileno()).columns or None
    return None


def _not_found(owner: str, route: str) -> errors.NotFound:
    return errors.NotFound(
        f"owner {owner!r} has no connection {route!r} (a route is a connection id, or a "
        "connector id with exactly one connection; drafts are never shown): "
        f"`connection-summary overview {owner}` lists them")


def run_overview(args: argparse.Namespace, db: Database) -> int:
    with Client(db.conninfo) as client:
        rows = client.overview(args.owner, now=args.now, limit=args.limit, after=args.after,
                               coalesce=False)
    if args.jsonl:
        _print_json_lines(row.to_json() for row in rows)
        return 0
    if args.json:
        _print_json([row.to_json() for row in rows])
        return 0
    if not rows:
        print(f"owner {args.owner!r} has no connections"
              + (" after that cursor" if args.after else ""), file=sys.stdout)
        return 0
    _print_lines(render.overview_table(rows, color=_use_color(args), width=_width(args)))
    if args.limit is not None and len(rows) == args.limit:
        print(f"\nnext page: --after {rows[-1].cursor}", file=sys.stdout)
    return 0


def run_show(args: argparse.Namespace, db: Database) -> int:
    with Client(db.conninfo) as client:
        summary = client.for_route(args.owner, args.route, now=args.now)
    if summary is None:
        raise _not_found(args.owner, args.route)
    if args.jsonl:
        _print_json_lines([summary.to_json()])
    elif args.json:
        _print_json(summary.to_json())
    else:
        _print_lines(render.summary_block(summary, color=_use_color(args),
                                          width=_width(args)))
    return 0


def run_diagnostics(args: argparse.Namespace, db: Database) -> int:
    with Client(db.conninfo) as client:
        diagnostics = client.diagnostics(args.owner, args.route, now=args.now,
                                         run_limit=args.runs)
    if diagnostics is None:
        raise _not_found(args.owner, args.route)
    if args.jsonl:
        _print_json_lines([diagnostics.to_json()])
    elif args.json:
        _print_json(diagnostics.to_json())
    else:
        _print_lines(render.diagnostics_block(diagnostics, run_limit=args.runs,
                                              color=_use_color(args), width=_width(args)))
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
    width = _width(args)

    def say(*lines: str) -> None:
        for line in lines:
            for part in render.wrap(line, width):
                print(part, file=progress)

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
    _print_lines(render.overview_table(mine, color=color, width=width))
    say("", f"$ connection-summary show {DEMO_OWNER} {DEMO_ROUTE}",
        "  (a browser connection whose last run got no browser surface: a sibling run "
        "held the profile)", "")
    _print_lines(render.summary_block(deep, color=color, width=width))
    say("", f"$ connection-summary overview {DEMO_OTHER_OWNER}",
        f"  ({DEMO_OTHER_OWNER} shares the database but sees only his own connection; "
        f"`show {DEMO_OTHER_OWNER} {DEMO_ROUTE}` finds nothing)", "")
    _print_lines(render.overview_table(theirs, color=color, width=width))
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


# --- completion ------------------------------------------------------------------------------
# Static scripts generated from the argument parser itself, so they always match it.


@dataclass(frozen=True)
class _Option:
    flags: tuple[str, ...]
    help: str
    metavar: str | None  # None: a flag without a value
    choices: tuple[str, ...]


@dataclass(frozen=True)
class _Grammar:
    options: tuple[_Option, ...]
    positionals: tuple[tuple[str, tuple[str, ...]], ...]  # (metavar, choices)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            children: dict[str, argparse.ArgumentParser] = dict(action.choices)
            return children
    return {}


def _short_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    text = action.help or ""
    with contextlib.suppress(KeyError, TypeError, ValueError):
        text = text % {**vars(action), "prog": parser.prog}
    return re.split(r" \(|; |: |\. ", text, maxsplit=1)[0]


def _grammar(parser: argparse.ArgumentParser) -> _Grammar:
    options, positionals = [], []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        choices = tuple(str(c) for c in action.choices or ())
        metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        if action.option_strings:
            options.append(_Option(tuple(action.option_strings), _short_help(parser, action),
                                   None if action.nargs == 0 else metavar, choices))
        else:
            positionals.append((metavar, choices))
    return _Grammar(tuple(options), tuple(positionals))


def _words(grammar: _Grammar, *extra: str) -> str:
    return " ".join([*(f for o in grammar.options for f in o.flags),
                     *(c for _, choices in grammar.positionals for c in choices), *extra])


def bash_completion(parser: argparse.ArgumentParser) -> str:
    """A bash completion script for `parser`'s program."""
    prog, children = parser.prog, _subcommands(parser)
    grammars = {name: _grammar(child) for name, child in children.items()}
    top = _grammar(parser)
    options = [o for g in [top, *grammars.values()] for o in g.options]
    valued = "|".join(sorted({f for o in options if o.metavar for f in o.flags}))
    chosen = {f: " ".join(o.choices) for o in reversed(options) if o.choices for f in o.flags}
    function = "_" + re.sub(r"\W", "_", prog)
    return "\n".join([
        f"# bash completion for {prog}, generated from its argument parser by",
        f"# `{prog} completion bash`. Load it with",
        f"#   source <({prog} completion bash)",
        f"# or save it as /etc/bash_completion.d/{prog}.",
        f"{function}() {{",
        "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}",
        '    local command="" words="" i',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        "        case ${COMP_WORDS[i]} in",
        f"            {valued}) i=$((i + 1)) ;;",
        f"            {'|'.join(children)}) command=${{COMP_WORDS[i]}}; break ;;",
        "        esac",
        "    done",
        "    case $prev in",
        *(f'        {flag}) COMPREPLY=($(compgen -W "{words}" -- "$cur")); return ;;'
          for flag, words in sorted(chosen.items())),
        f"        {valued}) COMPREPLY=(); return ;;",
        "    esac",
        "    case $command in",
        f'        "") words="{_words(top, *children)}" ;;',
        *(f'        {name}) words="{_words(g)}" ;;' for name, g in grammars.items()),
        "    esac",
        '    COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        "}",
        f"complete -F {function} {prog}",
        "",
    ])


def _zsh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _zsh_specs(grammar: _Grammar) -> list[str]:
    specs = []
    for o in grammar.options:
        about = re.sub(r"([\\\[\]])", r"\\\1", o.help)
        value = ("" if o.metavar is None
                 else f":{o.metavar}:" + (f"({' '.join(o.choices)})" if o.choices else " "))
        specs += [_zsh_quote(f"{flag}[{about}]{value}") for flag in o.flags]
    for name, choices in grammar.positionals:
        # _guard: no "OWNER" message when an option is typed, so a unique option completes.
        action = f"({' '.join(choices)})" if choices else f'_guard "^-*" {name}'
        specs.append(_zsh_quote(f":{name}:{action}"))
    return specs


def zsh_completion(parser: argparse.ArgumentParser) -> str:
    """A zsh completion script for `parser`'s program."""
    prog, children = parser.prog, _subcommands(parser)
    function = "_" + re.sub(r"\W", "_", prog)
    nl = " \\\n"
    lines = [
        f"#compdef {prog}",
        f"# zsh completion for {prog}, generated from its argument parser by",
        f"# `{prog} completion zsh`. Load it (after compinit) with",
        f"#   source <({prog} completion zsh)",
        f"# or save it as _{prog} in a directory of $fpath.",
        f"{function}() {{",
        "    local curcontext=$curcontext state state_descr line ret=1",
        "    typeset -A opt_args",
        "    _arguments -C" + nl + nl.join(
            [f"        {spec}" for spec in _zsh_specs(_grammar(parser))]
            + ["        '1:command:->command'", "        '*::argument:->argument'"])
        + " && ret=0",
        "    case $state in",
        "        command)",
        "            local -a commands",
        "            commands=(",
        *(f"                {_zsh_quote(name + ':' + (child.description or ''))}"
          for name, child in children.items()),
        "            )",
        "            _describe -t commands command commands && ret=0",
        "            ;;",
        "        argument)",
        f"            curcontext=${{curcontext%:*:*}}:{prog}-$words[1]:",
        "            case $words[1] in",
    ]
    for name, child in children.items():
        specs = _zsh_specs(_grammar(child))
        lines += [f"                {name})",
                  "                    _arguments" + nl + nl.join(
                      f"                        {spec}" for spec in specs) + " && ret=0",
                  "                    ;;"]
    lines += [
        "            esac",
        "            ;;",
        "    esac",
        "    return ret",
        "}",
        "",
        "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then",
        f'    {function} "$@"',
        "else",
        f"    compdef {function} {prog}",
        "fi",
        "",
    ]
    return "\n".join(lines)


_COMPLETIONS: dict[str, Callable[[argparse.ArgumentParser], str]] = {
    "bash": bash_completion, "zsh": zsh_completion}


def _completion_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=tuple(_COMPLETIONS), metavar="SHELL",
                        help="bash or zsh")


def run_completion(args: argparse.Namespace, db: Database) -> int:
    del db
    print(_COMPLETIONS[args.shell](build_parser()), end="", file=sys.stdout)
    return 0


# --- the command table -----------------------------------------------------------------------

COMMANDS: dict[str, Command] = {
    c.name: c for c in [
        Command("migrate", "apply pending migrations and routines (or print them with --sql)",
                _migrate_arguments, run_migrate),
        Command("status", "show which migrations the database has",
                _status_arguments, run_status),
        Command("overview", "every non-draft connection of OWNER, one row each",
                _overview_arguments, run_overview, needs_dsn=True),
        Command("show", "one connection of OWNER in full (the deep read)",
                _show_arguments, run_show, needs_dsn=True),
        Command("diagnostics", "`show`, plus the recent runs and the latest run's events",
                _diagnostics_arguments, run_diagnostics, needs_dsn=True),
        Command("demo", "load sample data (two owners) into an embedded PostgreSQL, or an "
                        "empty --dsn database, and show it",
                _wide_argument, run_demo),
        Command("completion", "print a shell completion script (bash or zsh)",
                _completion_arguments, run_completion, needs_database=False),
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
        *(f"  {code:<3} {text}" for code, text in sorted(codes)),
    ]
    return "\n".join(lines)


_COLOR_CHOICES = ("auto", "always", "never")
_DSN_HELP = ("libpq conninfo or URL of the database (default: $DATABASE_URL; required by "
             "overview, show and diagnostics)")


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
    parser.add_argument("--dsn", default=None, metavar="CONNINFO", help=_DSN_HELP)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--color", choices=_COLOR_CHOICES, default="auto",
                        help="colour the verdict pill: auto (a terminal without NO_COLOR), "
                             "always, never (default: %(default)s)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dsn", default=argparse.SUPPRESS, metavar="CONNINFO", help=_DSN_HELP)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output")
    common.add_argument("--color", choices=_COLOR_CHOICES, default=argparse.SUPPRESS,
                        help="colour the verdict pill: auto (a terminal without NO_COLOR), "
                             "always, never (default: auto)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS.values():
        child = sub.add_parser(command.name, help=command.help, description=command.help,
                               parents=[common], epilog=_epilog(),
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(child)
    return parser


def _check_arguments(parser: argparse.ArgumentParser, command: Command,
                     args: argparse.Namespace) -> None:
    """What argparse cannot check alone; a failure is a usage error (exit 2)."""
    child = _subcommands(parser)[command.name]
    if command.needs_dsn and not (args.dsn or os.environ.get("DATABASE_URL")):
        child.error(f"{command.name} reads your database: pass --dsn CONNINFO or set "
                    "DATABASE_URL. (Without either, `connection-summary demo` shows sample "
                    "data in a throw-away embedded PostgreSQL.)")
    if args.json and getattr(args, "jsonl", False):
        child.error("--json and --jsonl are two different outputs: pass one of them")


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
    # jsonb holds integers of up to 131,072 digits; Python's str() of an int
    # stops at 4,300 by default, which would make --json fail on them.
    sys.set_int_max_str_digits(0)
    parser = build_parser()
    args = parser.parse_args(argv)
    command = COMMANDS[args.command]
    _check_arguments(parser, command, args)
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
