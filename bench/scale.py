"""Scale-out figures: dropping a period of events, the write cost of partitioning, standby reads.

    python -m bench.scale            # full: writes bench/results/scale.json and the
                                     # "Scale-out figures" section of docs/benchmarks.md
    python -m bench.scale --small    # smoke size (well under a minute); into a temp dir
    python -m bench.scale --out DIR  # scale.json into DIR (docs untouched unless --write-docs)
    python -m bench.scale --render bench/results/scale.json   # rewrite the docs section only

Not a test (tests/test_bench_scale_smoke.py runs --small and checks the JSON).
One private server (or DATABASE_URL's, in throw-away databases), measuring
whatever the SQL under sql/ is when it runs, three figures, each a ratio or a
time from this one run:

1. retention: `drop_spine_events_before()` of a closed period partition
   holding 1,000,000 events and of one holding 100,000 (and of two empty
   ones, the floor: the DDL alone). spine_events is partitioned by period of
   arrival (range of event_seq); the periods are opened as an operator's
   monthly schedule opens them, dated at past month starts
   (`open_spine_event_period(p_opened_at => ...)`), and each receives that
   month's events by COPY through spine_events with its triggers on (the real
   path: the read model is maintained as they arrive), one transaction per
   10,000 events, with one ANALYZE after the first 50,000 (a live database
   has statistics; a fresh one plans the maintenance for empty tables):
   ~15,000 events/s, 75 s for the 1,100,000 events on this 2-core machine.
   `--load-without-triggers` disables them (`disable trigger user`) and calls
   `rebuild_run_evidence()` once instead (about 45 s). Before the drops, the
   loaded partitions are vacuumed, a CHECKPOINT is taken and the OS's dirty
   pages are synced, as for periods closed months ago; each drop is then
   `drop_spine_events_before(<the period's closing time>)`, its call and its
   commit timed apart.
2. write cost of partitioning: COPY (10,000-event transactions) and single-row
   autocommit INSERTs of the same events into spine_events (partitioned: they
   land in the open period's partition) and into an unpartitioned copy of
   it in the same database (`create table bench_flat.spine_events (like
   connection_summary.spine_events including all)` with the package's three
   spine_events triggers, the same functions, attached: the same maintenance
   on commit into the same run_evidence / run_heads / connection_states).
   The two tables take turns (the first of each pair alternates), several
   repetitions, and the figure is the ratio of the median times.
3. reads on a hot standby: a streaming replica of the private server
   (`pg_basebackup -R -X stream`, run as the user owning the primary's data
   directory, as tests/test_standby.py does), a data set by bench/generate.py
   loaded on the primary once the replica streams, replay waited for; then
   overview of a typical owner (rotating over a sample) and for_route of one
   of their connections, primary and standby calls alternating, p50 / p90 of
   client wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
import psycopg.rows
from psycopg import sql

from bench import generate as gen
from bench import ingest, report
from bench.suite import (
    Reader,
    alternate,
    cpu_model,
    memory_gib,
    pick_routes,
    ratio,
    sql_version,
)
from connection_summary import migrate
from connection_summary.localpg import start_local_server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "Scale-out figures"
Conn = psycopg.Connection[tuple[Any, ...]]
Row = tuple[Any, ...]
PARTITIONED = sql.SQL("connection_summary.spine_events")
UNPARTITIONED = sql.SQL("bench_flat.spine_events")
TABLES = {"partitioned": PARTITIONED, "unpartitioned": UNPARTITIONED}
RETENTION_FUNCTIONS = ("drop_spine_events_before", "open_spine_event_period",
                       "spine_event_partitions")
TRIGGERS = ("spine_events_refold_runs", "spine_events_append_only",
            "spine_events_truncate_read_model")
WAIT = 120.0  # seconds: the bound of every wait on the standby

# Every key of the JSON, as dotted paths (lists: checked on their first item).
REQUIRED_KEYS = (
    "meta.date", "meta.small", "meta.command", "meta.runtime_seconds", "meta.phases_seconds",
    "meta.load_average", "meta.sql.commit", "meta.sql.sha256", "meta.sql.modified",
    "meta.machine.nproc", "meta.machine.memory_gib", "meta.machine.cpu", "meta.machine.kernel",
    "meta.postgres.version", "meta.postgres.server", "meta.postgres.settings",
    "drop.partitioned_by", "drop.periods_made_by", "drop.signatures", "drop.load.triggers",
    "drop.load.events", "drop.load.seconds", "drop.load.events_per_s",
    "drop.load.rebuild_seconds",
    "drop.periods.period", "drop.periods.partition", "drop.periods.opened_at",
    "drop.periods.closed_at", "drop.periods.events", "drop.periods.bytes",
    "drop.periods.drop_ms", "drop.periods.call_ms", "drop.periods.commit_ms",
    "drop.periods.vacuums_running", "drop.periods.dropped", "drop.unlink_probe",
    "drop.large_events", "drop.small_events", "drop.large_ms", "drop.small_ms",
    "drop.empty_ms", "drop.large_over_small",
    *(f"write.{mode}.{part}" for mode in ("copy", "single")
      for part in ("events_per_rep", "partitioned.seconds", "partitioned.median_seconds",
                   "partitioned.events_per_s", "unpartitioned.seconds",
                   "unpartitioned.median_seconds", "unpartitioned.events_per_s",
                   "partitioned_over_unpartitioned", "pair_ratios", "median_pair_ratio")),
    "write.reps", "write.copy_batch", "write.unpartitioned_runs_folded",
    "standby.data.owners", "standby.data.connections", "standby.data.events",
    "standby.data.runs", "standby.data.load_seconds", "standby.basebackup_seconds",
    "standby.replay_wait_seconds", "standby.results_equal", "standby.sample_owners",
    *(f"standby.reads.{read}.{part}" for read in ("overview_typical", "for_route")
      for part in ("rows", "primary.p50_ms", "primary.p90_ms", "primary.n",
                   "standby.p50_ms", "standby.p90_ms", "standby.n", "standby_over_primary")),
    "targets.name", "targets.value", "targets.unit", "targets.target", "targets.met",
)


# --- configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    large_month: int          # events in the large month partition
    small_month: int          # events in the small one
    load_batch: int           # events per COPY transaction when loading them
    write_reps: int           # repetitions of the partitioned / unpartitioned pairs
    copy_events: int          # events per COPY repetition, per table
    copy_batch: int           # events per COPY transaction
    single_events: int        # single-row INSERTs per repetition, per table
    standby_scale: gen.Scale
    sample_owners: int        # typical owners the reads rotate over
    read_repeat: int          # calls per read and server


FULL = Config(large_month=1_000_000, small_month=100_000, load_batch=10_000, write_reps=11,
              copy_events=20_000, copy_batch=10_000, single_events=300,
              standby_scale=gen.SMALL, sample_owners=20, read_repeat=200)

SMALL = Config(large_month=20_000, small_month=2_000, load_batch=5_000, write_reps=3,
               copy_events=4_000, copy_batch=2_000, single_events=200,
               standby_scale=gen.Scale(owners=20, large_owners=(), events=10_000),
               sample_owners=5, read_repeat=20)


# --- the server -----------------------------------------------------------------------------


@contextlib.contextmanager
def bench_server() -> Iterator[tuple[str, str]]:
    """DATABASE_URL's server or a private one (stopped afterwards); yields (conninfo of a
    maintenance database, description of the server)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url, "DATABASE_URL's server"
        return
    local = start_local_server()
    try:
        yield local.conninfo("postgres"), (
            "private server (connection_summary.localpg: fsync=off, synchronous_commit=off, "
            "full_page_writes=off, shared_buffers=256MB)")
    finally:
        local.stop()


@contextlib.contextmanager
def scratch_database(base: str, name: str) -> Iterator[str]:
    """A throw-away database on the server of `base`; yields its conninfo (UTC sessions)."""
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(
            sql.Identifier(name)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(base, dbname=name, options="-c TimeZone=UTC")
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(
                sql.Identifier(name)))


def one(conn: Conn, query: str | sql.Composable, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    if row is None:
        raise RuntimeError(f"no row from {query!r}")
    return row[0]


# --- events ---------------------------------------------------------------------------------


def month_add(month: dt.datetime, months: int) -> dt.datetime:
    index = month.year * 12 + month.month - 1 + months
    return month.replace(year=index // 12, month=index % 12 + 1)


def events(count: int, seed: int, run_prefix: str, start: dt.datetime,
           factor: float = 1.0) -> Iterator[Row]:
    """`count` events of bench/ingest.py's stream (2,000 connections under 10 owners, runs
    of 5-20 events interleaved in time), moved to begin at `start` (their gaps times
    `factor`), their run ids prefixed."""
    stream = ingest.event_stream(seed)
    for _ in range(count):
        row = next(stream)
        at = start + (row[6] - ingest.T0) * factor
        yield (*row[:5], run_prefix + row[5], at, *row[7:])


def copy_events(conn: Conn, table: sql.Composable, rows: Sequence[Row]) -> None:
    """COPY rows into `table`, one transaction."""
    statement = sql.SQL("copy {} ({}) from stdin").format(
        table, sql.SQL(", ").join(map(sql.Identifier, ingest.COLUMNS)))
    with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def insert_singly(conn: Conn, table: sql.Composable, rows: Sequence[Row]) -> None:
    """One autocommit INSERT per row (prepared)."""
    statement = sql.SQL("insert into {} ({}) values ({}, {}, {}, {}, {}, {}, {}, {}, {}::jsonb)"
                        ).format(table, sql.SQL(", ").join(map(sql.Identifier, ingest.COLUMNS)),
                                 *[sql.Placeholder()] * len(ingest.COLUMNS))
    with conn.cursor() as cur:
        for row in rows:
            cur.execute(statement, row, prepare=True)


def month_events(count: int, block: int, seed: int, prefix: str,
                 start: dt.datetime) -> Iterator[Row]:
    """`count` events of one month: blocks of `block` events of the stream (made once), one
    after the other in time, each block's runs its own (run ids prefixed by the block)."""
    first = list(events(min(count, block), seed, "", start))
    shift = first[-1][6] - start + dt.timedelta(minutes=30)
    for k in range(0, count, len(first)):
        offset = shift * (k // len(first))
        for row in first[:count - k]:
            yield (*row[:5], f"{prefix}{k // len(first)}:{row[5]}", row[6] + offset, *row[7:])


def load_month(conn: Conn, count: int, batch: int, seed: int, prefix: str,
               start: dt.datetime, log: Callable[[str], None],
               analyze_after: int | None = None) -> None:
    """COPY `count` events of one month through spine_events, `batch` per transaction;
    the next batch is made (Python) while the server ingests this one. ANALYZE once
    after `analyze_after` batches, if given."""
    stream = month_events(count, 100_000, seed, prefix, start)

    def take() -> list[Row]:
        return [row for _, row in zip(range(batch), stream, strict=False)]

    done = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(take)
        for index in itertools.count(1):
            rows = pending.result()
            if not rows:
                break
            pending = pool.submit(take)
            copy_events(conn, PARTITIONED, rows)
            done += len(rows)
            if index == analyze_after:
                conn.execute("analyze")
            if done % 100_000 == 0 or done == count:
                log(f"drop: {done:,} / {count:,} events, "
                    f"{done / (time.perf_counter() - started):,.0f}/s")


def mount_of(path: Path) -> dict[str, str]:
    """The filesystem holding `path`: its mount point, type and options (/proc/mounts)."""
    best = {"mount_point": "", "type": "unknown", "options": ""}
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            _, point, kind, options, *_ = line.split()
            inside = str(path).startswith(point.rstrip("/") + "/") or str(path) == point
            if inside and len(point) > len(best["mount_point"]):
                best = {"mount_point": point, "type": kind, "options": options}
    return best


def unlink_probe(sizes: dict[str, int]) -> dict[str, Any]:
    """How long this machine's temp filesystem (where the private server's data directory
    is) takes to remove a file written and synced to disk, of each given size: what a
    dropped partition's files cost at commit, outside PostgreSQL."""
    root = Path(tempfile.mkdtemp(prefix="cs-bench-unlink-"))
    out: dict[str, Any] = {"filesystem": mount_of(root), "files": []}
    chunk = os.urandom(1 << 20)
    try:
        for label, size in sizes.items():
            path = root / label
            with path.open("wb") as f:
                for _ in range(max(1, size >> 20)):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            started = time.perf_counter()
            path.unlink()
            out["files"].append({"label": label, "bytes": max(1, size >> 20) << 20,
                                 "unlink_ms": (time.perf_counter() - started) * 1000})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


# --- 1. retention ---------------------------------------------------------------------------


def signatures(conn: Conn) -> dict[str, str]:
    """The arguments of the package's retention functions, as installed."""
    return {str(name): str(args) for name, args in conn.execute(
        "select p.proname, pg_get_function_arguments(p.oid) from pg_proc as p "
        "join pg_namespace as n on n.oid = p.pronamespace "
        "where n.nspname = 'connection_summary' and p.proname = any(%s) order by 1",
        (list(RETENTION_FUNCTIONS),)).fetchall()}


def partitions(conn: Conn) -> list[dict[str, Any]]:
    """connection_summary.spine_event_partitions(), as dicts."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("select * from connection_summary.spine_event_partitions()").fetchall()


def open_partition(conn: Conn) -> str:
    """The partition of the open period (the one receiving events)."""
    names = [p["partition_name"] for p in partitions(conn) if p["closed_at"] is None]
    if len(names) != 1:
        raise RuntimeError(f"not one open period: {partitions(conn)}")
    return str(names[0])


def measure_drops(conn: Conn, cfg: Config, load_with_triggers: bool,
                  log: Callable[[str], None]) -> dict[str, Any]:
    """Periods of arrival dated at past month starts, as an operator's monthly schedule
    makes them (open_spine_event_period(p_opened_at => <the month's start>)), each
    receiving that month's events: period 0 (since the start) empty, the floor; then the
    small month, the large month, an empty month; then a period opened at the current
    month's start, left open (the writes below land in it). Then each closed period is
    dropped, oldest first, by drop_spine_events_before(<its closing time>)."""
    found = signatures(conn)
    if sorted(found) != sorted(RETENTION_FUNCTIONS):
        raise RuntimeError(f"this bench needs connection_summary.{RETENTION_FUNCTIONS}; "
                           f"the schema has {sorted(found)}")
    current = one(conn, "select date_trunc('month', now(), 'UTC')")
    plan = [(month_add(current, -5), cfg.small_month), (month_add(current, -4), cfg.large_month),
            (month_add(current, -3), 0)]
    total = sum(n for _, n in plan)
    log(f"drop: {total:,} events into {len(plan)} periods dated at past month starts, by "
        f"COPY through spine_events, {cfg.load_batch:,} per transaction, triggers "
        f"{'on' if load_with_triggers else 'off'}")
    if not load_with_triggers:
        gen.set_spine_triggers(conn, False)
    load_seconds = 0.0
    try:
        for i, (month, count) in enumerate(plan):
            name = one(conn, "select connection_summary.open_spine_event_period("
                             "p_opened_at => %s)", (month,))
            if count:
                started = time.perf_counter()
                # Through the triggers, statistics once the read model has some rows
                # (as a live database has them): without, the maintenance's plans are
                # those of empty tables.
                load_month(conn, count, cfg.load_batch, seed=11 + i, prefix=f"m{i}:",
                           start=month + dt.timedelta(hours=1), log=log,
                           analyze_after=5 if load_with_triggers and i == 0 else None)
                load_seconds += time.perf_counter() - started
            log(f"drop: {name} opened at {month:%Y-%m-%d}, {count:,} events")
    finally:
        if not load_with_triggers:
            gen.set_spine_triggers(conn, True)
    rebuild_seconds = 0.0
    if not load_with_triggers:
        started = time.perf_counter()
        conn.execute("select connection_summary.rebuild_run_evidence()")
        rebuild_seconds = time.perf_counter() - started
    log(f"drop: loaded in {load_seconds:.0f} s ({total / load_seconds:,.0f} events/s)"
        + (f" + rebuild_run_evidence() {rebuild_seconds:.0f} s" if rebuild_seconds else ""))
    # The open period, for the writes: the current month's, as the schedule opens it.
    conn.execute("select connection_summary.open_spine_event_period(p_opened_at => %s)",
                 (current,))

    expected = {0: 0, **{i + 1: n for i, (_, n) in enumerate(plan)}}
    periods: list[dict[str, Any]] = []
    for p in partitions(conn):
        if p["closed_at"] is None:
            continue
        name = str(p["partition_name"])
        stored = one(conn, sql.SQL("select count(*) from connection_summary.{}").format(
            sql.Identifier(name)))
        if stored != expected.get(p["period"]):
            raise RuntimeError(f"{name} holds {stored:,} events, not {expected.get(p['period'])}")
        periods.append({"period": p["period"], "partition": name,
                        "opened_at": None if p["opened_at"] is None
                        else p["opened_at"].isoformat(),
                        "closed_at": p["closed_at"].isoformat(),
                        "events": stored,
                        "bytes": one(conn, "select pg_total_relation_size(%s::regclass)",
                                     (f"connection_summary.{name}",))})
    if len(periods) != len(expected):
        raise RuntimeError(f"expected {len(expected)} closed periods: {partitions(conn)}")
    # Months-old periods have long been vacuumed, and their files written out: so are
    # these (autovacuum would otherwise be busy with the fresh ones, and a DROP waiting
    # for it waits deadlock_timeout, 1 s, before the worker is cancelled).
    for entry in periods:
        if entry["events"]:
            conn.execute(sql.SQL("vacuum (analyze) connection_summary.{}").format(
                sql.Identifier(entry["partition"])))
    conn.execute("checkpoint")
    os.sync()
    for entry in periods:
        entry["vacuums_running"] = [str(r[0]) for r in conn.execute(
            "select relid::regclass::text from pg_stat_progress_vacuum "
            "where datname = current_database()").fetchall()]
        # One transaction, timed in two parts: the call (locks, catalog, DROP TABLE)
        # and the commit (where PostgreSQL truncates and unlinks the dropped files).
        started = time.perf_counter()
        with conn.transaction():
            dropped = [str(r[0]) for r in conn.execute(
                "select * from connection_summary.drop_spine_events_before(p_before => %s)",
                (dt.datetime.fromisoformat(entry["closed_at"]),)).fetchall()]
            called = time.perf_counter()
        ended = time.perf_counter()
        entry["drop_ms"] = (ended - started) * 1000
        entry["call_ms"] = (called - started) * 1000
        entry["commit_ms"] = (ended - called) * 1000
        entry["dropped"] = dropped
        if dropped != [entry["partition"]]:
            raise RuntimeError(f"drop_spine_events_before({entry['closed_at']}) dropped "
                               f"{dropped}, not {entry['partition']}")
        log(f"drop: {entry['partition']} ({entry['events']:,} events, "
            f"{entry['bytes'] / 2**20:,.1f} MiB) in {entry['drop_ms']:.1f} ms (call "
            f"{entry['call_ms']:.1f} ms, commit {entry['commit_ms']:.1f} ms)"
            + (f"; vacuums running: {entry['vacuums_running']}"
               if entry["vacuums_running"] else ""))
    large = next(p for p in periods if p["events"] == cfg.large_month)
    small = next(p for p in periods if p["events"] == cfg.small_month)
    probe = unlink_probe({"large": large["bytes"], "small": small["bytes"]})
    log("drop: the filesystem ({type}, {options}) removed a synced file of ".format(
        **probe["filesystem"]) + ", ".join(
        f"{f['bytes'] / 2**20:,.0f} MiB in {f['unlink_ms']:.1f} ms" for f in probe["files"]))
    empty = [p["drop_ms"] for p in periods if p["events"] == 0]
    return {
        "partitioned_by": str(one(conn, "select pg_get_partkeydef("
                                        "'connection_summary.spine_events'::regclass)")),
        "periods_made_by": "open_spine_event_period(p_opened_at => <a month's start>)",
        "signatures": found,
        "load": {"triggers": load_with_triggers, "events": total, "batch": cfg.load_batch,
                 "seconds": load_seconds, "events_per_s": total / load_seconds,
                 "rebuild_seconds": rebuild_seconds},
        "periods": periods, "large_events": cfg.large_month, "small_events": cfg.small_month,
        "unlink_probe": probe,
        "large_ms": large["drop_ms"], "small_ms": small["drop_ms"],
        "empty_ms": statistics.fmean(empty),
        "large_over_small": ratio(large["drop_ms"], small["drop_ms"]),
    }


# --- 2. write cost of partitioning ----------------------------------------------------------


def make_unpartitioned(conn: Conn) -> None:
    """bench_flat.spine_events: spine_events as a plain table, with the package's triggers
    on spine_events (their definitions, read from the catalog) attached."""
    conn.execute("drop schema if exists bench_flat cascade")
    conn.execute("create schema bench_flat")
    conn.execute("create table bench_flat.spine_events "
                 "(like connection_summary.spine_events including all)")
    definitions = {str(name): str(ddl) for name, ddl in conn.execute(
        "select tgname, pg_get_triggerdef(oid) from pg_trigger "
        "where tgrelid = 'connection_summary.spine_events'::regclass and not tgisinternal"
    ).fetchall()}
    if sorted(definitions) != sorted(TRIGGERS):
        raise RuntimeError(f"spine_events has triggers {sorted(definitions)}, "
                           f"this bench knows {sorted(TRIGGERS)}")
    for ddl in definitions.values():
        flat = ddl.replace(" ON connection_summary.spine_events ", " ON bench_flat.spine_events ")
        if flat == ddl:
            raise RuntimeError(f"cannot retarget {ddl}")
        conn.execute(flat.encode())


def measure_writes(conn: Conn, cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    make_unpartitioned(conn)
    target = open_partition(conn)
    now = one(conn, "select now()")
    month = one(conn, "select date_trunc('month', now(), 'UTC')")
    per_rep = cfg.copy_events + cfg.single_events
    total = cfg.write_reps * per_rep
    # The same events for both tables (run ids prefixed by table), in the current month:
    # from its first instant to a minute ago, their gaps shrunk if need be.
    base = list(events(total, 21, "", month))
    span = (base[-1][6] - month).total_seconds()
    window = max(60.0, (now - month).total_seconds() - 60)
    factor = min(1.0, window / span) if span else 1.0
    if factor < 1.0:
        base = [(*r[:6], month + (r[6] - month) * factor, *r[7:]) for r in base]
    rows = {name: [(*r[:5], f"{name[0]}:{r[5]}", *r[6:]) for r in base] for name in TABLES}
    conn.execute("vacuum analyze")
    conn.execute("checkpoint")
    seconds: dict[str, dict[str, list[float]]] = {
        mode: {name: [] for name in TABLES} for mode in ("copy", "single")}
    log(f"writes: {cfg.write_reps} x (COPY of {cfg.copy_events:,} events in "
        f"{cfg.copy_batch:,}-event transactions + {cfg.single_events:,} single-row INSERTs) "
        "per table, the tables taking turns")
    for rep in range(cfg.write_reps):
        order = list(TABLES) if rep % 2 == 0 else list(reversed(TABLES))
        start = rep * per_rep
        for name in order:
            part = rows[name][start:start + cfg.copy_events]
            began = time.perf_counter()
            for i in range(0, len(part), cfg.copy_batch):
                copy_events(conn, TABLES[name], part[i:i + cfg.copy_batch])
            seconds["copy"][name].append(time.perf_counter() - began)
        for name in order:
            part = rows[name][start + cfg.copy_events:start + per_rep]
            began = time.perf_counter()
            insert_singly(conn, TABLES[name], part)
            seconds["single"][name].append(time.perf_counter() - began)
        log(f"writes: rep {rep + 1}: COPY " + ", ".join(
            f"{name} {cfg.copy_events / seconds['copy'][name][-1]:,.0f}/s" for name in TABLES)
            + "; single " + ", ".join(
            f"{name} {cfg.single_events / seconds['single'][name][-1]:,.0f}/s"
            for name in TABLES))
    # Where the partitioned events went, and that the unpartitioned ones were folded too.
    landed = one(conn, sql.SQL("select count(*) from connection_summary.{}").format(
        sql.Identifier(target)))
    flat_runs = one(conn, "select count(*) from connection_summary.run_evidence "
                          "where run_id like 'u:%'")
    if landed != total or not flat_runs:
        raise RuntimeError(f"{target} holds {landed:,} events (expected "
                           f"{total:,}); {flat_runs} runs of bench_flat folded")
    out: dict[str, Any] = {"reps": cfg.write_reps, "copy_batch": cfg.copy_batch,
                           "time_factor": factor, "partition": target,
                           "unpartitioned_runs_folded": flat_runs}
    for mode, count in (("copy", cfg.copy_events), ("single", cfg.single_events)):
        entry: dict[str, Any] = {"events_per_rep": count}
        for name in TABLES:
            median = statistics.median(seconds[mode][name])
            entry[name] = {"seconds": seconds[mode][name], "median_seconds": median,
                           "events_per_s": count / median}
        pairs = [ratio(p, u) for p, u in zip(seconds[mode]["partitioned"],
                                             seconds[mode]["unpartitioned"], strict=True)]
        entry["partitioned_over_unpartitioned"] = ratio(
            entry["partitioned"]["median_seconds"], entry["unpartitioned"]["median_seconds"])
        entry["pair_ratios"] = pairs
        entry["median_pair_ratio"] = statistics.median(pairs)
        out[mode] = entry
    return out


# --- 3. reads on a hot standby --------------------------------------------------------------
# The primary's own binaries (its BINDIR), run as the user owning its data directory
# (localpg's unprivileged user when we are root). tests/test_standby.py starts its
# standby with hot_standby() too.

AT_LEAST_PRIMARY = ("max_connections", "max_worker_processes", "max_wal_senders",
                    "max_prepared_transactions", "max_locks_per_transaction")


def run_as_user(cmd: list[str], run_as: str | None, timeout: float) -> str:
    full = ["runuser", "-u", run_as, "--", *cmd] if run_as else cmd
    proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RuntimeError(f"{Path(cmd[0]).name} did not finish within {timeout} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): "
                           f"{err.strip() or out.strip()}")
    return out


@dataclass(frozen=True)
class Standby:
    bin_dir: Path
    run_as: str | None
    data_dir: Path
    socket_dir: Path
    port: int
    log: Path

    def conninfo(self, primary_conninfo: str) -> str:
        return psycopg.conninfo.make_conninfo(primary_conninfo, host=str(self.socket_dir),
                                              port=str(self.port))


def wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT) -> float:
    """Poll `check` until it is true; return the seconds waited, fail after `timeout`."""
    start = time.monotonic()
    while True:
        with contextlib.suppress(psycopg.OperationalError):
            if check():
                return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _value(conninfo: str, query: str, params: Any = None) -> Any:
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        return one(conn, query, params)


@contextlib.contextmanager
def hot_standby(primary: str) -> Iterator[tuple[Standby, float]]:
    """A streaming hot standby of the server of `primary` (a superuser's conninfo), with
    the primary's settings where a standby needs them; yields it and the seconds the base
    backup took, stops and deletes it afterwards."""
    with psycopg.connect(primary, autocommit=True) as conn:
        bin_dir = Path(str(one(conn, "select setting from pg_config where name = 'BINDIR'")))
        data_dir = Path(str(one(conn, "select current_setting('data_directory')")))
        settings = {str(k): str(v) for k, v in conn.execute(
            "select name, current_setting(name) from pg_settings where name = any(%s)",
            [[*AT_LEAST_PRIMARY, "shared_preload_libraries", "wal_level", "shared_buffers"]]
        ).fetchall()}
    if settings["wal_level"] not in ("replica", "logical"):
        raise RuntimeError(f"wal_level={settings['wal_level']}: no streaming replica possible")
    for tool in ("pg_basebackup", "pg_ctl", "postgres"):
        if not (bin_dir / tool).is_file():
            raise RuntimeError(f"{tool} not found in the server's BINDIR {bin_dir}: the "
                               "standby needs the server's own binaries on this machine")
    run_as = None
    if os.geteuid() == 0:
        run_as = pwd.getpwuid(data_dir.stat().st_uid).pw_name
        if run_as == "root":
            raise RuntimeError("the server's data directory belongs to root")
    root = Path(tempfile.mkdtemp(prefix="connection-summary-bench-standby-"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    standby = Standby(bin_dir, run_as, root / "data", root / "socket", port, root / "server.log")
    try:
        root.chmod(0o755)
        standby.socket_dir.mkdir()
        if run_as:
            for path in (root, standby.socket_dir):
                shutil.chown(path, user=run_as)
        started = time.perf_counter()
        run_as_user([str(bin_dir / "pg_basebackup"), "-d", primary, "-D", str(standby.data_dir),
                     "-R", "-X", "stream", "-c", "fast", "--no-sync", "-w"], run_as, WAIT)
        basebackup = time.perf_counter() - started
        # The primary's shared_buffers too: the reads compared run on equal caches.
        options = {**{k: settings[k] for k in AT_LEAST_PRIMARY},
                   "shared_preload_libraries": settings["shared_preload_libraries"],
                   "shared_buffers": settings["shared_buffers"], "listen_addresses": "",
                   "hot_standby": "on", "fsync": "off"}
        flags = " ".join(f"-c {k}={v!r}" if v == "" else f"-c {k}={v}"
                         for k, v in options.items())
        try:
            run_as_user([str(bin_dir / "pg_ctl"), "-D", str(standby.data_dir), "-l",
                         str(standby.log), "-o",
                         f"-k {standby.socket_dir} -p {standby.port} {flags}", "-w", "-t",
                         str(int(WAIT)), "start"], run_as, WAIT + 10)
        except RuntimeError as exc:
            log = standby.log.read_text() if standby.log.exists() else "(no log)"
            raise RuntimeError(f"{exc}\nstandby log:\n{log[-3000:]}") from None
        wait_for("the standby to stream from the primary", lambda: bool(_value(
            standby.conninfo(primary),
            "select pg_is_in_recovery() and exists (select from pg_stat_wal_receiver "
            "where status = 'streaming')")))
        yield standby, basebackup
    finally:
        pid_file = standby.data_dir / "postmaster.pid"
        if pid_file.exists():
            try:
                run_as_user([str(bin_dir / "pg_ctl"), "-D", str(standby.data_dir), "-m",
                             "immediate", "-w", "-t", "30", "stop"], run_as, 40)
            except (RuntimeError, OSError):
                # pg_ctl could not stop it: kill the postmaster we started, by its pid.
                with contextlib.suppress(OSError, ValueError, IndexError):
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def flushed_lsn(primary_db: str) -> str:
    """A WAL position past every record the primary has written so far.

    The servers here commit asynchronously (synchronous_commit = off): a commit may
    still be in the WAL buffers, neither written nor sent. A transaction that writes
    WAL and commits with synchronous_commit = on flushes it up to its commit record,
    so every record before it too; pg_current_wal_lsn() is then past all of them.
    (It must write a record of its own: a transaction whose only record is its
    commit, `select txid_current()` say, commits asynchronously whatever the
    setting.) A transactional logical message is such a record, and changes nothing.
    """
    with psycopg.connect(primary_db, autocommit=True) as conn:
        conn.execute("set synchronous_commit = on")
        conn.execute("select pg_logical_emit_message(true, 'connection_summary', 'flush')")
        return str(one(conn, "select pg_current_wal_lsn()::text"))


def replayed_past(standby_db: str, lsn: str) -> bool:
    return bool(_value(standby_db, "select pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]))


def catch_up(primary_db: str, standby_db: str) -> float:
    """Wait until the standby has replayed every WAL record the primary has written;
    return the seconds waited."""
    target = flushed_lsn(primary_db)
    return wait_for(f"the standby to replay the primary's WAL up to {target}",
                    lambda: replayed_past(standby_db, target))


def measure_standby(base: str, cfg: Config, small: bool,
                    log: Callable[[str], None]) -> dict[str, Any]:
    scale = cfg.standby_scale
    with hot_standby(base) as (standby, basebackup), \
            scratch_database(base, f"cs_bench_scale_reads_{os.getpid()}") as primary_db:
        standby_db = standby.conninfo(primary_db)
        log(f"standby: streaming (base backup {basebackup:.1f} s); loading "
            f"{scale.events:,} events, {scale.connections:,} connections on the primary")
        migrate(primary_db)
        stats = gen.generate(primary_db, scale, progress=not small)
        waited = catch_up(primary_db, standby_db)
        log(f"standby: {stats.events:,} events loaded in {stats.seconds:.0f} s; replay "
            f"caught up {waited:.2f} s later")
        with psycopg.connect(primary_db, autocommit=True) as p_conn, \
                psycopg.connect(standby_db, autocommit=True) as s_conn:
            if one(p_conn, "select pg_is_in_recovery()") or not one(
                    s_conn, "select pg_is_in_recovery()"):
                raise RuntimeError("the primary / standby roles are not as expected")
            step = max(1, scale.owners // cfg.sample_owners)
            owners = [gen.typical_owner(i) for i in range(0, scale.owners, step)]
            owners = owners[:cfg.sample_owners]
            routes = pick_routes(p_conn, owners)
            on = {"primary": Reader(p_conn), "standby": Reader(s_conn)}
            equal = all(on["primary"].overview(o) == on["standby"].overview(o) for o in owners)
            equal = equal and all(on["primary"].for_route(*r) == on["standby"].for_route(*r)
                                  for r in routes)
            if not equal:
                raise RuntimeError("the standby's reads differ from the primary's")
            shared_buffers = {"primary": str(one(p_conn, "show shared_buffers")),
                              "standby": str(one(s_conn, "show shared_buffers"))}
            n = len(owners)
            log(f"standby: overview ({n} typical owners) and for_route ({n} connections), "
                f"{cfg.read_repeat} calls each per server, alternating")
            reads: dict[str, Any] = {}
            overview = alternate(
                {server: lambda i, r=r: r.overview(owners[i % n])  # type: ignore[misc]
                 for server, r in on.items()}, cfg.read_repeat, warmup=n)
            reads["overview_typical"] = {
                "rows": len(on["primary"].overview(owners[0])), **overview,
                "standby_over_primary": ratio(overview["standby"]["p50_ms"],
                                              overview["primary"]["p50_ms"])}
            route = alternate(
                {server: lambda i, r=r: r.for_route(*routes[i % n])  # type: ignore[misc]
                 for server, r in on.items()}, cfg.read_repeat, warmup=n)
            reads["for_route"] = {
                "rows": 1, **route,
                "standby_over_primary": ratio(route["standby"]["p50_ms"],
                                              route["primary"]["p50_ms"])}
            for name, entry in reads.items():
                log(f"standby: {name} p50 primary {entry['primary']['p50_ms']:.2f} ms, "
                    f"standby {entry['standby']['p50_ms']:.2f} ms "
                    f"({entry['standby_over_primary']:.2f}x)")
    return {
        "data": {"owners": stats.owners, "connections": stats.connections,
                 "events": stats.events, "runs": stats.runs, "seed": scale.seed,
                 "load_seconds": stats.seconds, "triggers_during_load": stats.triggers,
                 "scale": asdict(scale)},
        "basebackup_seconds": basebackup, "replay_wait_seconds": waited,
        "results_equal": equal, "sample_owners": len(owners), "reads": reads,
        "shared_buffers": shared_buffers,
        "standby_settings": "the primary's shared_buffers and connection limits; fsync=off; "
                            "hot_standby=on",
    }


# --- targets, docs --------------------------------------------------------------------------


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    drop, write, reads = res["drop"], res["write"], res["standby"]["reads"]
    rows: list[tuple[str, float, str, float]] = [
        (f"drop_spine_events_before(): a period partition of {drop['large_events']:,} events",
         drop["large_ms"] / 1000, "s", 1.0),
        (f"drop time, {drop['large_events']:,}-event period / {drop['small_events']:,}-event "
         "period", drop["large_over_small"], "x", 2.0),
        (f"COPY ({write['copy_batch']:,}-event transactions), partitioned / unpartitioned "
         "spine_events", write["copy"]["partitioned_over_unpartitioned"], "x", 1.2),
        ("single-row autocommit INSERT, partitioned / unpartitioned spine_events",
         write["single"]["partitioned_over_unpartitioned"], "x", 1.2),
        ("overview p50, typical owner: hot standby / primary",
         reads["overview_typical"]["standby_over_primary"], "x", 1.2),
        ("for_route p50: hot standby / primary", reads["for_route"]["standby_over_primary"],
         "x", 1.2),
    ]
    return [{"name": name, "value": value, "unit": unit, "target": target,
             "met": value <= target if unit == "x" else value < target}
            for name, value, unit, target in rows]


def missing_keys(res: dict[str, Any]) -> list[str]:
    return report.missing_keys(res, REQUIRED_KEYS)


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms" if value >= 10 \
        else f"{value:.2f} ms"


def docs_section(res: dict[str, Any], results_ref: str) -> str:
    meta, drop, write, standby = res["meta"], res["drop"], res["write"], res["standby"]
    machine, pg = meta["machine"], meta["postgres"]
    loads = ", ".join(f"{phase} {values[0]:.1f}" for phase, values in meta["load_average"].items())
    sql_meta = meta["sql"]
    modified = sql_meta.get("modified") or []
    commit = (sql_meta.get("commit") or "unknown")[:12]
    sql_line = (f"commit {commit} (sql/ + migrations/ sha256 {sql_meta['sha256'][:12]}"
                + (f"; measured with {len(modified)} file(s) not yet committed: "
                   + ", ".join(f"`{m}`" for m in modified) if modified else "") + ")")
    settings = ", ".join(f"{k}={v}" for k, v in pg["settings"].items())
    load = drop["load"]
    load_how = (f"by COPY through `spine_events`, {load['batch']:,} events per transaction, "
                "with its triggers on (the real path: the read model maintained as the "
                "events arrive), and one ANALYZE after the first "
                f"{5 * load['batch']:,} events (a live database has statistics; a fresh one "
                "plans the maintenance's statements for empty tables)" if load["triggers"] else
                f"by COPY through `spine_events`, {load['batch']:,} events per transaction, "
                "with its triggers disabled (`disable trigger user`), then "
                f"`rebuild_run_evidence()` ({load['rebuild_seconds']:.0f} s more)")
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in meta["phases_seconds"].items())
    copy_rate = write["copy"]["partitioned"]["events_per_s"]
    lines = [
        f"## {SECTION}",
        "",
        "Three figures of the scale-out work, from one run: dropping a period of old events "
        "(retention), what partitioning `spine_events` costs its writers, and the reads on "
        "a hot standby. Each is a time or a ratio of two times measured in that run.",
        "",
        f"Command: `{meta['command']}` (also run by `make bench`); "
        "`python -m bench.scale --small` is the smoke size, into a temp dir "
        "(tests/test_bench_scale_smoke.py runs it).",
        "",
        f"- Date: {meta['date']}; runtime {meta['runtime_seconds'] / 60:.1f} min ({phases})",
        f"- SQL measured: {sql_line}",
        f"- Machine: {machine['nproc']} cores ({machine['cpu']}), {machine['memory_gib']:.0f} "
        f"GiB, {machine['kernel']}",
        f"- Load average (1 min) at the start and after each phase: {loads}. The run's own "
        "server and client make about 1-1.5; above that, other work shared the two cores.",
        f"- PostgreSQL: {pg['version']}, {pg['server']}; {settings}",
        "",
        "| figure | measured | target | met |",
        "|---|---:|---:|---|",
    ]
    for t in res["targets"]:
        value = f"{t['value'] * 1000:,.1f} ms" if t["unit"] == "s" else f"{t['value']:.2f}x"
        target = f"< {t['target']:g} s" if t["unit"] == "s" else f"<= {t['target']:g}x"
        lines.append(f"| {t['name']} | {value} | {target} | {'yes' if t['met'] else '**no**'} |")
    lines += [
        "",
        "The < 1 s drop and the 1.2x write targets are the retention work's. The other two "
        "are this bench's own: a drop whose cost grew with the events would take about 10x "
        "as long for 10x the events, so <= 2x reads as independent of size on a shared "
        "2-core machine; and a standby should serve a read about as fast as the primary.",
        "",
        "### Retention: dropping a period",
        "",
        f"spine_events is partitioned by {drop['partitioned_by']} (periods of arrival). "
        "The bench opens periods as a monthly schedule would, dated at past month starts "
        f"(`{drop['periods_made_by']}`), and each period receives its month's events, "
        "bench/ingest.py's stream (2,000 connections under 10 owners, runs of 5-20 events "
        f"interleaved in time), dated in that month: {load['events']:,} events loaded in "
        f"{load['seconds']:.0f} s ({load['events_per_s']:,.0f} events/s) {load_how}."
        + ("" if load["triggers"] else
           " Not through the triggers (`--load-without-triggers`): in this run the same "
           f"stream's COPY through them ran at {copy_rate:,.0f} events/s (the write figures "
           f"below), {load['events'] / copy_rate / 60:.1f} minutes for these events; the "
           "partitions hold the same rows either way.")
        + " A last period, opened at the current month's start, stays open. Each closed "
        "period is then dropped, oldest first, by "
        "`drop_spine_events_before(p_before => <its closing time>)`, timed by the client "
        "in one transaction: the call (locks, catalog rows, DROP TABLE, the period and "
        "retention rows), then the COMMIT, where PostgreSQL truncates and unlinks the "
        "dropped files. Before the drops the loaded partitions were vacuumed, a CHECKPOINT "
        "was taken and the OS's dirty pages synced (`sync`), as for periods closed months "
        "ago: on disk and vacuumed long since. "
        + vacuums_note(drop["periods"]),
        "",
        "| period | partition | received from / until | events | size (table + indexes) "
        "| drop | call | commit |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for p in drop["periods"]:
        opened = "the start" if p["opened_at"] is None else p["opened_at"][:10]
        lines.append(f"| {p['period']} | `{p['partition']}` | {opened} / "
                     f"{p['closed_at'][:10]} | {p['events']:,} | "
                     f"{p['bytes'] / 2**20:,.1f} MiB | **{_ms(p['drop_ms'])}** | "
                     f"{_ms(p['call_ms'])} | {_ms(p['commit_ms'])} |")
    probe = drop["unlink_probe"]
    fs = probe["filesystem"]
    call_ratio = ratio(next(p["call_ms"] for p in drop["periods"]
                            if p["events"] == drop["large_events"]),
                       next(p["call_ms"] for p in drop["periods"]
                            if p["events"] == drop["small_events"]))
    lines += [
        "",
        f"{drop['large_events']:,} events: **{_ms(drop['large_ms'])}**; "
        f"{drop['small_events']:,}: {_ms(drop['small_ms'])}; an empty period (mean of two): "
        f"{_ms(drop['empty_ms'])}. 10x the events took **{drop['large_over_small']:.2f}x** "
        f"the time in all, {call_ratio:.2f}x in the call. What grows with the size is the "
        "COMMIT, where PostgreSQL truncates and unlinks the partition's files (table, TOAST, "
        "two indexes). For comparison, the same run wrote and synced one plain file of each "
        "partition's total size in the same filesystem "
        f"({fs['type']} on `{fs['mount_point']}`, mounted `{fs['options']}`) and "
        "removed it in " + " and ".join(
            f"{f['unlink_ms']:.0f} ms ({f['bytes'] / 2**20:,.0f} MiB)" for f in probe["files"])
        + ". No rows are scanned or deleted: the function drops the table whole.",
        "",
        "### Write cost of the partitioned spine_events",
        "",
        "Method: one database, two tables, the same events. `connection_summary.spine_events`"
        f" as migrated (partitioned; the events land in the open period's partition, "
        f"`{write['partition']}`), and `bench_flat.spine_events`, the same table "
        "unpartitioned: `create table ... (like connection_summary.spine_events including "
        "all)` (columns, identity, defaults, checks, primary key, the source/run index) with "
        "spine_events' three triggers (`spine_events_refold_runs`, `spine_events_append_only`,"
        " `spine_events_truncate_read_model`) created from their catalog definitions. Both "
        "tables' inserts therefore fold their runs into the same `run_evidence`, `run_heads` "
        "and `connection_states` at commit (the trigger reads its transition table as "
        "`record`s either way). The events are bench/ingest.py's stream dated in the current "
        "month, the same for both tables but for a run-id prefix, so that each table's runs "
        f"are its own. Each of {write['reps']} repetitions: a COPY of "
        f"{write['copy']['events_per_rep']:,} events in {write['copy_batch']:,}-event "
        "transactions into one table, then into the other; then "
        f"{write['single']['events_per_rep']:,} single-row autocommit INSERTs (prepared) "
        "into one, then into the other. Which table goes first alternates, and both tables "
        "grow alike. The figure is the ratio of the median times; the per-repetition "
        "ratios (partitioned / unpartitioned, the two runs of a repetition being "
        "adjacent in time) are beside it, their median and quartiles: the spread the "
        "shared machine gives one pair.",
        "",
        "| writes | partitioned, events/s (median) | unpartitioned, events/s (median) | "
        "partitioned / unpartitioned | pair ratios: median (quartiles) |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, label in (("copy", f"COPY, {write['copy_batch']:,}-event transactions"),
                        ("single", "single-row INSERT, autocommit")):
        e = write[mode]
        low, high = quartiles(e["pair_ratios"])
        lines.append(f"| {label} | {e['partitioned']['events_per_s']:,.0f} | "
                     f"{e['unpartitioned']['events_per_s']:,.0f} | "
                     f"**{e['partitioned_over_unpartitioned']:.2f}x** | "
                     f"{e['median_pair_ratio']:.2f}x ({low:.2f}-{high:.2f}) |")
    data, reads = standby["data"], standby["reads"]
    lines += [
        "",
        "### Reads on a hot standby",
        "",
        "A streaming replica of the private server, made as tests/test_standby.py makes one "
        "(`pg_basebackup -R -X stream`, the primary's binaries, run as the user owning its "
        "data directory), with the primary's shared_buffers; the base backup took "
        f"{standby['basebackup_seconds']:.1f} s. Once it streamed, bench/generate.py loaded "
        f"{data['owners']:,} owners, {data['connections']:,} connections and "
        f"{data['events']:,} events in {data['runs']:,} runs on the primary "
        f"({data['load_seconds']:.0f} s); the standby had replayed it all "
        f"{standby['replay_wait_seconds']:.2f} s after the load returned. Reads at p_now "
        f"{gen.NOW:%Y-%m-%d}, rotating over {standby['sample_owners']} typical owners (20 "
        "connections each) and one connection of each; primary and standby calls "
        "alternate, each server on its own connection; client wall time (psycopg, rows "
        "fetched and decoded). Both servers returned the same rows for every sampled owner "
        "and connection.",
        "",
        "| read | calls per server | primary p50 / p90 | standby p50 / p90 | standby / primary |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (("overview_typical", "overview, typical owner"),
                        ("for_route", "for_route, one connection")):
        e = reads[name]
        rows = f"{e['rows']} row" + ("s" if e["rows"] != 1 else "")
        lines.append(f"| {label} ({rows}) | {e['primary']['n']} | "
                     f"{_ms(e['primary']['p50_ms'])} / {_ms(e['primary']['p90_ms'])} | "
                     f"{_ms(e['standby']['p50_ms'])} / {_ms(e['standby']['p90_ms'])} | "
                     f"**{e['standby_over_primary']:.2f}x** |")
    lines += [
        "",
        f"Every number, per repetition where there are several, is in "
        f"`{results_ref}/scale.json`.",
        "",
        "Caveats: the servers run without durability (fsync, synchronous_commit and "
        "full_page_writes off), which flatters commits in both write columns alike; each "
        "drop is a single call, so a scheduling hiccup of the shared machine shows in it "
        "whole; the standby and the primary share the same two cores (the standby replays "
        "nothing while the reads run).",
    ]
    return "\n".join(wrap(line) for line in lines) + "\n"


def vacuums_note(periods: Sequence[dict[str, Any]]) -> str:
    """Which vacuums (autovacuum's, on other tables) were running as each period dropped."""
    running = sorted({f"`{rel}`" for p in periods for rel in p["vacuums_running"]})
    dropped = {f"`connection_summary.{p['partition']}`" for p in periods}
    if not running:
        return "No vacuum was running during any drop."
    return ("During the drops autovacuum was working on " + ", ".join(running)
            + (" (a partition being dropped among them)." if dropped & set(running)
               else " (other tables: the drop does not wait for it)."))


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def wrap(line: str, width: int = 90) -> str:
    """A paragraph or list item of the docs section, wrapped; tables and headings as is."""
    if not line or line.startswith(("|", "#")):
        return line
    indent = "  " if line.startswith("- ") else ""
    return textwrap.fill(line, width=width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False)


def write_docs(section: str, path: Path = DOCS) -> None:
    report.write_section(SECTION, section, path)


# --- the run --------------------------------------------------------------------------------


def run(cfg: Config, small: bool, load_with_triggers: bool, command: str,
        log: Callable[[str], None]) -> dict[str, Any]:
    started_all = time.perf_counter()
    phases: dict[str, float] = {}
    loads: dict[str, list[float]] = {"start": list(os.getloadavg())}
    res: dict[str, Any] = {}

    def phase(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = now - since
        loads[name] = list(os.getloadavg())
        return now

    measured_sql = sql_version()
    with bench_server() as (base, where):
        t = time.perf_counter()
        with scratch_database(base, f"cs_bench_scale_{os.getpid()}") as dsn:
            migrate(dsn)
            with psycopg.connect(dsn, autocommit=True) as conn:
                version = one(conn, "select version()")
                settings = {str(k): str(v) for k, v in conn.execute(
                    "select name, current_setting(name) from pg_settings "
                    "where name = any(%s) order by name",
                    (["shared_buffers", "work_mem", "jit", "max_wal_size", "wal_level"],)
                ).fetchall()}
                ingest.prepare(conn)  # the stream's connectors and connections
                t = phase("setup", t)
                res["drop"] = measure_drops(conn, cfg, load_with_triggers, log)
                t = phase("drop", t)
                res["write"] = measure_writes(conn, cfg, log)
                t = phase("write", t)
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute("checkpoint")
        res["standby"] = measure_standby(base, cfg, small, log)
        t = phase("standby", t)
    res["meta"] = {
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d}",
        "small": small,
        "command": command,
        "runtime_seconds": time.perf_counter() - started_all,
        "phases_seconds": phases,
        "load_average": loads,
        "sql": measured_sql,
        "machine": {"nproc": os.cpu_count(), "memory_gib": memory_gib(), "cpu": cpu_model(),
                    "kernel": f"{platform.system()} {platform.release()}"},
        "postgres": {"version": str(version).split(" on ")[0], "server": where,
                     "settings": settings},
        "config": {k: v for k, v in asdict(cfg).items() if k != "standby_scale"},
    }
    res["targets"] = targets(res)
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="smoke size (well under a minute)")
    parser.add_argument("--out", type=Path,
                        help="directory for scale.json (default bench/results; with --small "
                             "a temp dir)")
    parser.add_argument("--load-without-triggers", action="store_true",
                        help="load the retention periods' events with the spine_events "
                             "triggers disabled, then rebuild_run_evidence() (faster), "
                             "instead of through the triggers")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--write-docs", action="store_true",
                      help="write the docs section even for --small / --out")
    docs.add_argument("--no-docs", action="store_true", help="never write docs/benchmarks.md")
    parser.add_argument("--render", type=Path, metavar="SCALE_JSON",
                        help="measure nothing: rewrite the docs section from a scale.json "
                             "written before")
    args = parser.parse_args(argv)
    if args.render is not None:
        res = json.loads(args.render.read_text())
        write_docs(docs_section(res, os.path.relpath(args.render.resolve().parent, ROOT)))
        print(f"wrote {DOCS}")
        return 0
    cfg = SMALL if args.small else FULL
    if args.out is not None:
        out_dir: Path = args.out
    elif args.small:
        out_dir = Path(tempfile.mkdtemp(prefix="cs-bench-scale-small-"))
    else:
        out_dir = RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python -m bench.scale" + (" --small" if args.small else "") + (
        " --load-without-triggers" if args.load_without_triggers else "")
    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f} s] {message}", flush=True)

    res = run(cfg, args.small, not args.load_without_triggers, command, log)
    (out_dir / "scale.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    missing = missing_keys(res)
    if missing:
        print(f"scale.json lacks {missing}", file=sys.stderr)
        return 1
    print()
    for t in res["targets"]:
        value = f"{t['value'] * 1000:8.1f} ms" if t["unit"] == "s" else f"{t['value']:8.2f}x  "
        bound = f"< {t['target']:g} s" if t["unit"] == "s" else f"<= {t['target']:g}x"
        print(f"{'met    ' if t['met'] else 'NOT MET'} {value} {bound:8} {t['name']}")
    write = args.write_docs or (not args.no_docs and not args.small and args.out is None)
    if write:
        write_docs(docs_section(res, os.path.relpath(out_dir, ROOT)))
        print(f"wrote {DOCS}")
    print(f"wrote {out_dir / 'scale.json'} ({res['meta']['runtime_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
