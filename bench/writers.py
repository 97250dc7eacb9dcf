"""Concurrent writers benchmark: two writers of spine_events, same or opposite connector order.

    python -m bench.writers                 # 60 s per scenario, writes docs/benchmarks.md
    python -m bench.writers --seconds 10    # a quick run (docs untouched)

Not a test (tests/test_writer_deadlocks.py is the test of the same workload).
It starts a private PostgreSQL (or uses DATABASE_URL's server, in throw-away
databases of its own) and runs two writers (threads, one connection each,
READ COMMITTED) for --seconds per scenario. Each writer commits transactions of
two INSERT statements, one per connector of one owner, with --pause-ms between
them (so the two writers' transactions overlap): two events each (run.started,
run.completed) of a new run, or, every third transaction, two events (a browser
surface lease and run.failed) added to the runs the other writer committed last.

Scenarios, each in its own database cloned from one migrated template:

* same order: both writers write connector x, then y;
* opposite order: writer A writes x then y, writer B y then x;
* opposite order without the package's triggers (`alter table spine_events
  disable trigger user`): the reference of what the writes cost by themselves;
* opposite order with the fold per statement (`set constraints
  connection_summary.run_maintenance_on_commit immediate` in each transaction):
  the locks held from the first statement on, as before the fold moved to
  COMMIT, which deadlocks.

Each scenario's --seconds are measured in --rounds slices (default 6), the
scenarios taking turns, after an uncounted --warmup: the machine's slower
stretches (other work on it) fall on every scenario alike. Afterwards the
stored read model of each database with triggers must equal the live fold
(run_evidence vs run_evidence_live, run_heads vs run_heads_live).

A run with --seconds 60 or more writes its numbers into docs/benchmarks.md
(section "Writers"); --write-docs forces that for shorter runs, --no-docs
prevents it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors, sql

from bench import report
from bench.ingest import cpu_model
from connection_summary import migrate
from connection_summary.localpg import database_url

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
DEFAULT_SECONDS = 60.0
DEFAULT_PAUSE_MS = 5.0
DEFAULT_ROUNDS = 6
DEFAULT_WARMUP = 5.0
OWNER = "owner-writers"
CONNECTOR = {"x": "connector-x", "y": "connector-y"}
CONNECTION = {"x": "conn-x", "y": "conn-y"}
IMMEDIATE = "set constraints connection_summary.run_maintenance_on_commit immediate"
INSERT = (
    "insert into connection_summary.spine_events (owner_id, event_type, status, source_kind, "
    "source_id, run_id, occurred_at, connector_instance_id, data) values "
    "(%s, %s, %s, 'connector', %s, %s, %s, %s, %s::jsonb), "
    "(%s, %s, %s, 'connector', %s, %s, %s, %s, %s::jsonb)"
)
Conn = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    orders: tuple[tuple[str, str], tuple[str, str]]  # writer A's, writer B's
    triggers: bool = True
    immediate: bool = False

    @property
    def maintenance(self) -> str:
        if not self.triggers:
            return "none (triggers disabled)"
        return "per statement (IMMEDIATE)" if self.immediate else "at commit"


SCENARIOS = (
    Scenario("same", "same order", (("x", "y"), ("x", "y"))),
    Scenario("opposite", "opposite order", (("x", "y"), ("y", "x"))),
    Scenario("no_triggers", "opposite order, no triggers (reference)",
             (("x", "y"), ("y", "x")), triggers=False),
    Scenario("immediate", "opposite order, fold per statement (pre-change locking)",
             (("x", "y"), ("y", "x")), immediate=True),
)

# --- the workload ----------------------------------------------------------------------------


@dataclass
class Shared:
    """What the two writers share: a start line, a stop flag, each one's latest committed runs."""

    barrier: threading.Barrier = field(default_factory=lambda: threading.Barrier(2, timeout=60))
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    latest: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Tally:
    writer: str
    commits: int = 0
    shared_run_commits: int = 0
    deadlocks: int = 0
    seconds: float = 0.0


def events(key: str, run_id: str, existing: bool) -> tuple[Any, ...]:
    """The parameters of one INSERT: two events of one run of connector `key`."""
    now = dt.datetime.now(dt.UTC)
    if existing:
        lease = {"browser_surface": {"browser_surface_profile_key": f"profile-{key}",
                                     "browser_surface_lease_id": f"lease-{run_id}"}}
        rows = [("run.browser_surface_leased", "leased", lease),
                ("run.failed", "failed", {"reason": "timeout"})]
    else:
        rows = [("run.started", "started", {}), ("run.completed", "succeeded", {})]
    params: list[Any] = []
    for step, (event_type, status, data) in enumerate(rows):
        params += [OWNER, event_type, status, CONNECTOR[key], run_id,
                   now + dt.timedelta(milliseconds=step), CONNECTION[key], json.dumps(data)]
    return tuple(params)


def writer(conninfo: str, name: str, other: str, order: tuple[str, str], shared: Shared,
           seconds: float, pause: float, immediate: bool, tag: str = "",
           stop_on_deadlock: bool = False) -> Tally:
    tally = Tally(name)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        shared.barrier.wait()
        started = time.monotonic()
        deadline = started + seconds
        number = 0
        while time.monotonic() < deadline and not shared.stop.is_set():
            number += 1
            with shared.lock:
                theirs = dict(shared.latest.get(other, {}))
            existing = number % 3 == 0 and len(theirs) == len(order)
            runs = theirs if existing else {key: f"{name}{tag}-{number}-{key}" for key in order}
            try:
                with conn.transaction():
                    if immediate:
                        conn.execute(IMMEDIATE)
                    for index, key in enumerate(order):
                        if index:
                            time.sleep(pause)
                        conn.execute(INSERT, events(key, runs[key], existing), prepare=True)
            except errors.DeadlockDetected:
                tally.deadlocks += 1
                if stop_on_deadlock:
                    shared.stop.set()
                continue
            tally.commits += 1
            if existing:
                tally.shared_run_commits += 1
            else:
                with shared.lock:
                    shared.latest[name] = runs
        tally.seconds = time.monotonic() - started
    return tally


def run_writers(conninfo: str, scenario: Scenario, seconds: float, pause: float,
                tag: str = "", stop_on_deadlock: bool = False) -> list[Tally]:
    shared = Shared()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(writer, conninfo, name, other, order, shared, seconds, pause,
                        scenario.immediate, tag, stop_on_deadlock)
            for name, other, order in (("a", "b", scenario.orders[0]),
                                       ("b", "a", scenario.orders[1]))
        ]
        return [future.result() for future in futures]


# --- database --------------------------------------------------------------------------------


def setup(conn: Conn) -> None:
    for key in ("x", "y"):
        conn.execute("insert into connection_summary.connectors (connector_id) values (%s)",
                     (CONNECTOR[key],))
        conn.execute(
            "insert into connection_summary.connections "
            "(connector_instance_id, owner_id, connector_id, status) "
            "values (%s, %s, %s, 'active')", (CONNECTION[key], OWNER, CONNECTOR[key]))


def read_model_diff(conn: Conn) -> int:
    """Rows of run_evidence / run_heads that differ from their live fold, both ways."""
    total = 0
    for stored, live in (("run_evidence", "run_evidence_live"), ("run_heads", "run_heads_live")):
        columns = [row[0] for row in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'connection_summary' and table_name = %s "
            "order by ordinal_position", (live,))]
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        select = sql.SQL("select {} from connection_summary.{}")
        one, two = (select.format(cols, sql.Identifier(t)) for t in (stored, live))
        row = conn.execute(sql.SQL(
            "select (select count(*) from ({} except all {}) as s) "
            "+ (select count(*) from ({} except all {}) as l)").format(one, two, two, one)
        ).fetchone()
        total += row[0] if row else 0
    return total


def create_database(admin: Conn, name: str, template: str | None = None) -> None:
    if template:
        admin.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(name), sql.Identifier(template)))
    else:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def drop_database(admin: Conn, name: str) -> None:
    admin.execute(sql.SQL("drop database if exists {} with (force)").format(
        sql.Identifier(name)))


@contextlib.contextmanager
def scenario_database(base: str, admin: Conn, template: str, name: str) -> Iterator[str]:
    create_database(admin, name, template)
    try:
        yield psycopg.conninfo.make_conninfo(base, dbname=name)
    finally:
        drop_database(admin, name)


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    tallies: list[Tally]  # writer A's, writer B's, summed over the rounds

    def add(self, tallies: list[Tally]) -> None:
        for total, part in zip(self.tallies, tallies, strict=True):
            total.commits += part.commits
            total.shared_run_commits += part.shared_run_commits
            total.deadlocks += part.deadlocks
            total.seconds += part.seconds

    @property
    def seconds(self) -> float:
        return max(t.seconds for t in self.tallies)

    @property
    def commits(self) -> int:
        return sum(t.commits for t in self.tallies)

    @property
    def deadlocks(self) -> int:
        return sum(t.deadlocks for t in self.tallies)

    @property
    def rate(self) -> float:
        return self.commits / self.seconds if self.seconds else float("inf")


def run(seconds: float, pause: float, rounds: int,
        warmup: float) -> tuple[list[Result], dict[str, Any]]:
    """Each scenario in its own database, measured in `rounds` slices taken in turn
    (same, opposite, ..., same, opposite, ...), so that a slower stretch of the
    machine (other work on it) falls on every scenario alike."""
    info: dict[str, Any] = {"load_before": os.getloadavg()}
    results = [Result(scenario, [Tally("a"), Tally("b")]) for scenario in SCENARIOS]
    with database_url() as base, contextlib.ExitStack() as stack:
        info["server"] = ("DATABASE_URL's server" if os.environ.get("DATABASE_URL") else
                          "private server (connection_summary.localpg: fsync=off, "
                          "synchronous_commit=off, shared_buffers=256MB)")
        prefix = f"cs_bench_writers_{os.getpid()}"
        template = f"{prefix}_template"
        admin = stack.enter_context(psycopg.connect(base, autocommit=True))
        version = admin.execute("select version()").fetchone()
        info["postgres"] = version[0] if version else "unknown"
        create_database(admin, template)
        stack.callback(drop_database, admin, template)
        template_conninfo = psycopg.conninfo.make_conninfo(base, dbname=template)
        migrate(template_conninfo)
        with psycopg.connect(template_conninfo, autocommit=True) as conn:
            setup(conn)
        if warmup > 0:
            print(f"  warm-up: {warmup:g} s (not counted) ...", flush=True)
            with scenario_database(base, admin, template, f"{prefix}_warmup") as conninfo:
                run_writers(conninfo, SCENARIOS[0], warmup, pause)
        databases = {}
        for scenario in SCENARIOS:
            conninfo = stack.enter_context(
                scenario_database(base, admin, template, f"{prefix}_{scenario.key}"))
            if not scenario.triggers:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute("alter table connection_summary.spine_events "
                                 "disable trigger user")
            databases[scenario.key] = conninfo
        for round_ in range(rounds):
            for result in results:
                scenario = result.scenario
                tallies = run_writers(databases[scenario.key], scenario, seconds / rounds,
                                      pause, tag=f"r{round_}")
                result.add(tallies)
                print(f"  round {round_ + 1}/{rounds} {scenario.label}: "
                      f"{sum(t.commits for t in tallies):,} commits, "
                      f"{sum(t.deadlocks for t in tallies):,} deadlocks", flush=True)
        for result in results:
            if result.scenario.triggers:
                with psycopg.connect(databases[result.scenario.key], autocommit=True) as conn:
                    diff = read_model_diff(conn)
                if diff:
                    raise RuntimeError(f"{result.scenario.label}: the stored read model "
                                       f"differs from the live fold ({diff} rows)")
    info["load_after"] = os.getloadavg()
    return results, info


# --- reporting -------------------------------------------------------------------------------


def by_key(results: list[Result]) -> dict[str, Result]:
    return {r.scenario.key: r for r in results}


def table(results: list[Result]) -> str:
    lines = ["| writers | run maintenance | seconds | commits (A + B) | commits/s | deadlocks |",
             "|---|---|---:|---:|---:|---:|"]
    for r in results:
        split = " + ".join(f"{t.commits:,}" for t in r.tallies)
        lines.append(f"| {r.scenario.label} | {r.scenario.maintenance} | {r.seconds:.0f} | "
                     f"{r.commits:,} ({split}) | {r.rate:,.1f} | {r.deadlocks:,} |")
    return "\n".join(lines)


def ratios(results: list[Result]) -> dict[str, float]:
    r = by_key(results)
    return {"opposite / same": r["opposite"].rate / r["same"].rate,
            "opposite / no triggers": r["opposite"].rate / r["no_triggers"].rate}


def docs_section(results: list[Result], info: dict[str, Any], command: str,
                 pause_ms: float, rounds: int) -> str:
    r = by_key(results)
    ratio = ratios(results)
    version = str(info["postgres"]).split(" on ")[0]
    load = (info["load_before"][0], info["load_after"][0])
    return f"""## Writers

Two concurrent writers of `spine_events` whose transactions touch two connectors
of one owner in the same or in opposite orders. The run maintenance takes all its
locks at COMMIT in one global order: do opposite orders still deadlock, or slow the
writers down?

Command: `{command}` (also run by `make bench`)

- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d}
- Machine: {os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.release()}
- PostgreSQL: {version}, {info["server"]}
- Workload: two threads, one connection each, READ COMMITTED; each transaction is
  two INSERT statements of two events, one statement per connector, {pause_ms:g} ms
  apart (client-side sleep, so the transactions overlap). New runs (run.started,
  run.completed) each transaction; every third transaction instead adds a browser
  surface lease and run.failed to the two runs the other writer committed last.
  Writer A writes connector x then y; writer B the same (same order) or y then x
  (opposite order). A deadlock (40P01) rolls the transaction back and the writer
  goes on. Each scenario in its own database cloned from one migrated template,
  its time measured in {rounds} slices, the scenarios taking turns (so a slower
  stretch of the machine falls on all of them alike), after an uncounted warm-up.
  After the run, the stored read model of each database with triggers equalled
  the live fold.
- Load average (1 min) before / after the run: {load[0]:.1f} / {load[1]:.1f}
  (other work shared the machine).

{table(results)}

- opposite / same order, commits/s: **{ratio["opposite / same"]:.2f}x**
  ({r["opposite"].deadlocks:,} deadlocks with opposite orders)
- opposite order, with the package's triggers / without: **{ratio["opposite / no triggers"]:.2f}x**
- the last row is the locking before the fold moved to COMMIT (each statement
  folded and locked its connector until the end of the transaction): every
  deadlock costs the victim `deadlock_timeout` (1 s) of waiting.

Caveats: the private server runs without durability (fsync and synchronous_commit
off); the {pause_ms:g} ms pause inside each transaction bounds the commit rate of
every scenario alike.
"""


def write_docs(section: str, path: Path = DOCS) -> None:
    report.write_section("Writers", section, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.writers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help="duration of each scenario (default 60)")
    parser.add_argument("--pause-ms", type=float, default=DEFAULT_PAUSE_MS,
                        help="pause between the two statements of a transaction (default 5)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help="slices each scenario's time is measured in, the scenarios "
                             "taking turns (default 6)")
    parser.add_argument("--warmup", type=float, default=DEFAULT_WARMUP,
                        help="seconds of workload before measuring, not counted (default 5)")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--write-docs", action="store_true",
                      help="write docs/benchmarks.md even for a shorter run")
    docs.add_argument("--no-docs", action="store_true", help="never write docs/benchmarks.md")
    args = parser.parse_args(argv)

    results, info = run(args.seconds, args.pause_ms / 1000, args.rounds, args.warmup)
    print()
    print(table(results))
    for name, ratio in ratios(results).items():
        print(f"commits/s, {name}: {ratio:.2f}x")
    if not args.no_docs and (args.seconds >= DEFAULT_SECONDS or args.write_docs):
        command = "python -m bench.writers" + "".join(
            f" {flag} {value:g}" for flag, value, default in (
                ("--seconds", args.seconds, DEFAULT_SECONDS),
                ("--pause-ms", args.pause_ms, DEFAULT_PAUSE_MS),
                ("--rounds", args.rounds, DEFAULT_ROUNDS),
                ("--warmup", args.warmup, DEFAULT_WARMUP),
            ) if value != default)
        write_docs(docs_section(results, info, command, args.pause_ms, args.rounds))
        print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
