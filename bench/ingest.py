"""Ingest micro-benchmark: spine_events per second with and without the refold trigger.

    python -m bench.ingest                 # 1,000,000 bulk + 20,000 single-row events
    python -m bench.ingest --events 100000 --single 2000   # a quick run (docs untouched)

Not a test. It starts a private PostgreSQL (or uses DATABASE_URL's server, in a
throw-away database of its own), migrates it, and measures:

* bulk: COPY in batches of --batch (10,000) events, one transaction per batch;
* single: one autocommit INSERT per event, appended to the bulk-loaded table;

each with the `spine_events_refold_runs` trigger enabled and disabled. The
events have a realistic shape: 2,000 connections of 40 connectors under 10
owners, runs of 5-20 events whose events interleave in time with the other
runs in flight (so one 10,000-event batch touches about a thousand runs),
half of the runs stamped with a browser profile key, 40 % with a connection id.

A full run writes its numbers into docs/benchmarks.md (section "Ingest");
--write-docs forces that for smaller runs, --no-docs prevents it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import heapq
import json
import os
import platform
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench import report
from connection_summary import migrate
from connection_summary.localpg import start_local_server

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
DEFAULT_EVENTS = 1_000_000
DEFAULT_SINGLE = 20_000
COLUMNS = ("owner_id", "event_type", "status", "source_kind", "source_id", "run_id",
           "occurred_at", "connector_instance_id", "data")
TRIGGER = "spine_events_refold_runs"
Row = tuple[Any, ...]
Conn = psycopg.Connection[tuple[Any, ...]]

# --- the event stream ------------------------------------------------------------------------

OWNERS = 10
CONNECTORS = 40
CONNECTIONS = 2_000  # 50 per connector, spread over the owners
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Connection:
    owner_id: str
    connector_id: str
    instance_id: str


def connections() -> list[Connection]:
    out = []
    for index in range(CONNECTIONS):
        connector = index % CONNECTORS
        out.append(Connection(f"owner-{index % OWNERS}", f"connector-{connector:02d}",
                              f"conn-{index:04d}"))
    return out


def event_stream(seed: int, run_offset: int = 0) -> Iterator[Row]:
    """An endless, time-ordered stream of connector run events.

    A new run starts every 2 s on a random connection and lasts 5-20 events,
    30 s apart, so ~100-200 runs are in flight at any time and their events
    interleave, as they would coming from many runtimes.
    """
    rng = random.Random(seed)
    conns = connections()
    pending: list[tuple[float, int, Row]] = []  # (time, tiebreak, row)
    run = run_offset
    clock = 0.0
    tiebreak = 0
    while True:
        # Start runs up to `clock`, then emit everything due before it.
        conn = conns[rng.randrange(len(conns))]
        length = rng.randint(5, 20)
        stamp = rng.random()
        key = f"{conn.connector_id}:{conn.instance_id}"
        run_id = f"run-{run:08d}"
        run += 1
        outcome = rng.random()
        for step in range(length):
            at = clock + step * 30 + rng.random()
            data: dict[str, Any] = {}
            instance = None
            if step == 0:
                event_type, status = "run.started", "started"
            elif step == 1 and stamp < 0.5:
                event_type, status = "run.browser_surface_leased", "leased"
                data = {"browser_surface": {"browser_surface_profile_key": key,
                                            "browser_surface_lease_id": f"lease-{run}"}}
            elif step == length - 1:
                if outcome < 0.85:
                    event_type, status = "run.completed", "succeeded"
                else:
                    event_type, status = "run.failed", "failed"
                    data["reason"] = rng.choice(["timeout", "auth_expired", "rate_limited"])
                data["known_gaps"] = [] if rng.random() < 0.9 else [
                    {"stream": "messages", "reason": "too_old", "severity": "informational"}]
                data["collection_facts"] = {"streams": [
                    {"stream": "messages", "collected": rng.randint(0, 500), "considered": 500}]}
            else:
                event_type, status = "run.progress_reported", "running"
                data = {"records": rng.randint(0, 100)}
            if 0.5 <= stamp < 0.9:
                instance = conn.instance_id
            row = (conn.owner_id, event_type, status, "connector", conn.connector_id, run_id,
                   T0 + dt.timedelta(seconds=at), instance, json.dumps(data))
            heapq.heappush(pending, (at, tiebreak, row))
            tiebreak += 1
        clock += 2
        while pending and pending[0][0] <= clock:
            yield heapq.heappop(pending)[2]


def take(stream: Iterator[Row], count: int) -> list[Row]:
    return [next(stream) for _ in range(count)]


# --- database --------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database() -> Iterator[tuple[str, str]]:
    """A throw-away database; yields (conninfo, description of the server)."""
    url = os.environ.get("DATABASE_URL")
    local = None
    if url:
        base = url
        where = "DATABASE_URL's server"
    else:
        local = start_local_server()
        base = local.conninfo("postgres")
        where = ("private server (connection_summary.localpg: fsync=off, "
                 "synchronous_commit=off, shared_buffers=256MB)")
    name = f"connection_summary_bench_{os.getpid()}"
    try:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        try:
            yield psycopg.conninfo.make_conninfo(base, dbname=name), where
        finally:
            with psycopg.connect(base, autocommit=True) as admin:
                admin.execute(sql.SQL("drop database if exists {} with (force)").format(
                    sql.Identifier(name)))
    finally:
        if local is not None:
            local.stop()


def prepare(conn: Conn) -> None:
    conn.execute("insert into connection_summary.connectors (connector_id) "
                 "select 'connector-' || lpad(k::text, 2, '0') from generate_series(0, %s) k",
                 (CONNECTORS - 1,))
    with conn.cursor() as cur, cur.copy(
            "copy connection_summary.connections "
            "(connector_instance_id, owner_id, connector_id, status) from stdin") as copy:
        for c in connections():
            copy.write_row((c.instance_id, c.owner_id, c.connector_id, "active"))


def set_trigger(conn: Conn, enabled: bool) -> None:
    verb = "enable" if enabled else "disable"
    conn.execute(f"alter table connection_summary.spine_events {verb} trigger {TRIGGER}".encode())


def copy_batch(conn: Conn, rows: list[Row]) -> None:
    with conn.transaction(), conn.cursor() as cur, cur.copy(
            f"copy connection_summary.spine_events ({', '.join(COLUMNS)}) from stdin".encode()
    ) as copy:
        for row in rows:
            copy.write_row(row)


_INSERT = (f"insert into connection_summary.spine_events ({', '.join(COLUMNS)}) "
           "values (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)").encode()


def insert_singly(conn: Conn, rows: list[Row]) -> None:
    with conn.cursor() as cur:
        for row in rows:
            cur.execute(_INSERT, row, prepare=True)


@dataclass(frozen=True)
class Result:
    mode: str
    trigger: bool
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


def run(events: int, single: int, batch: int, seed: int) -> tuple[list[Result], dict[str, Any]]:
    info: dict[str, Any] = {}
    results: list[Result] = []
    with bench_database() as (conninfo, where):
        info["server"] = where
        migrate(conninfo)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            version = conn.execute("select version()").fetchone()
            info["postgres"] = version[0] if version else "unknown"
            prepare(conn)
            print(f"generating {events:,} + {2 * single:,} events ...", flush=True)
            stream = event_stream(seed)
            bulk_rows = take(stream, events)
            single_rows = {True: take(stream, single), False: take(stream, single)}
            batches = [bulk_rows[i:i + batch] for i in range(0, len(bulk_rows), batch)]

            # Bulk, trigger off then on, each into an empty table.
            for trigger in (False, True):
                conn.execute("truncate connection_summary.spine_events")
                set_trigger(conn, trigger)
                conn.execute("checkpoint")
                started = time.perf_counter()
                for rows in batches:
                    copy_batch(conn, rows)
                elapsed = time.perf_counter() - started
                results.append(Result(f"bulk COPY, {batch:,}-event batches", trigger, events,
                                      elapsed))
                print(f"  bulk    trigger={'on ' if trigger else 'off'} {events:>9,} events "
                      f"{elapsed:8.1f} s {events / elapsed:>10,.0f} ev/s", flush=True)

            # The trigger-on load left a full read model: check it, then time a rebuild.
            runs = conn.execute(
                "select (select count(*) from connection_summary.run_evidence), "
                "(select count(distinct (owner_id, source_kind, source_id, run_id)) "
                "from connection_summary.spine_events)").fetchone()
            if runs is None or runs[0] != runs[1]:
                raise RuntimeError(f"read model incomplete (stored, actual runs): {runs}")
            info["runs"] = runs[0]
            started = time.perf_counter()
            conn.execute("select connection_summary.rebuild_run_evidence()")
            info["rebuild_seconds"] = time.perf_counter() - started
            conn.execute("analyze")

            # Single-row autocommit INSERTs appended to the full table, off then on.
            for trigger in (False, True):
                set_trigger(conn, trigger)
                started = time.perf_counter()
                insert_singly(conn, single_rows[trigger])
                elapsed = time.perf_counter() - started
                results.append(Result("single-row INSERT, autocommit", trigger, single, elapsed))
                print(f"  single  trigger={'on ' if trigger else 'off'} {single:>9,} events "
                      f"{elapsed:8.1f} s {single / elapsed:>10,.0f} ev/s", flush=True)
            set_trigger(conn, True)
    return results, info


# --- reporting -------------------------------------------------------------------------------


def overheads(results: list[Result]) -> dict[str, float]:
    """Per mode: time with the trigger / time without (for the same number of events)."""
    out = {}
    for mode in dict.fromkeys(r.mode for r in results):
        on = next(r for r in results if r.mode == mode and r.trigger)
        off = next(r for r in results if r.mode == mode and not r.trigger)
        out[mode] = (on.seconds / on.events) / (off.seconds / off.events)
    return out


def table(results: list[Result]) -> str:
    ratios = overheads(results)
    lines = ["| mode | trigger | events | seconds | events/s | trigger overhead |",
             "|---|---|---:|---:|---:|---:|"]
    for r in results:
        overhead = f"{ratios[r.mode]:.2f}x" if r.trigger else ""
        lines.append(f"| {r.mode} | {'on' if r.trigger else 'off'} | {r.events:,} | "
                     f"{r.seconds:.1f} | {r.rate:,.0f} | {overhead} |")
    return "\n".join(lines)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def docs_section(results: list[Result], info: dict[str, Any], command: str) -> str:
    ratios = overheads(results)
    bulk_mode = next(mode for mode in ratios if mode.startswith("bulk"))
    single_mode = next(mode for mode in ratios if mode.startswith("single"))
    version = str(info["postgres"]).split(" on ")[0]
    return f"""## Ingest

What the `{TRIGGER}` trigger (statement-level refold of the touched runs into
`run_evidence` / `run_heads`) costs writers of `spine_events`.

Command: `{command}` (also run by `make bench`)

- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d}
- Machine: {os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.release()}
- PostgreSQL: {version}, {info["server"]}
- Data: {CONNECTIONS:,} connections of {CONNECTORS} connectors under {OWNERS} owners; runs of
  5-20 events interleaved in time (a run starts every 2 s, events 30 s apart);
  50 % of runs carry a browser profile key, 40 % a connection id; {info["runs"]:,} runs in the
  bulk load.
- Bulk: COPY, one transaction per batch, into an empty table. Single: one autocommit
  INSERT per event (prepared), appended after the bulk load.

{table(results)}

Trigger overhead (time per event with the trigger / without): **{ratios[bulk_mode]:.2f}x**
for bulk COPY, **{ratios[single_mode]:.2f}x** for single-row inserts.

`rebuild_run_evidence()` over the bulk-loaded events ({info["runs"]:,} runs):
{info["rebuild_seconds"]:.1f} s.

Caveats: the private server runs without durability (fsync and synchronous_commit
off), which flatters single-row commits in both columns alike; the trigger's cost
per statement grows with the number of distinct runs one statement touches
(a batch here touches about a thousand).
"""


def write_docs(section: str, path: Path = DOCS) -> None:
    report.write_section("Ingest", section, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS,
                        help="bulk events per trigger setting (default 1,000,000)")
    parser.add_argument("--single", type=int, default=DEFAULT_SINGLE,
                        help="single-row inserts per trigger setting (default 20,000)")
    parser.add_argument("--batch", type=int, default=10_000, help="events per COPY batch")
    parser.add_argument("--seed", type=int, default=1)
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--write-docs", action="store_true",
                      help="write docs/benchmarks.md even for a smaller run")
    docs.add_argument("--no-docs", action="store_true", help="never write docs/benchmarks.md")
    args = parser.parse_args(argv)

    results, info = run(args.events, args.single, args.batch, args.seed)
    print()
    print(table(results))
    for mode, ratio in overheads(results).items():
        print(f"trigger overhead, {mode}: {ratio:.2f}x")
    print(f"rebuild_run_evidence(): {info['rebuild_seconds']:.1f} s for {info['runs']:,} runs")
    full = args.events >= DEFAULT_EVENTS and args.single >= DEFAULT_SINGLE
    if not args.no_docs and (full or args.write_docs):
        command = "python -m bench.ingest" + "".join(
            f" {flag} {value}" for flag, value, default in (
                ("--events", args.events, DEFAULT_EVENTS),
                ("--single", args.single, DEFAULT_SINGLE),
                ("--batch", args.batch, 10_000),
                ("--seed", args.seed, 1),
            ) if value != default)
        write_docs(docs_section(results, info, command))
        print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
