"""The benchmark suite: every read and write figure of the package, side by side, in one run.

    python -m bench.suite            # full: ~5M events, 41,000 connections; writes
                                     # bench/results/, docs/benchmarks.png, docs/benchmarks.md
    python -m bench.suite --small    # smoke size (well under a minute); into a temp dir
    python -m bench.suite --out DIR  # results, EXPLAINs and the plot into DIR
    python -m bench.suite --render bench/results/suite.json   # redraw plot and docs only

Not a test (tests/test_bench_smoke.py runs --small and checks the JSON's keys).
One private server (or DATABASE_URL's, in a throw-away database), one
database, loaded by bench/generate.py; then, measuring whatever the SQL under
sql/ is when it runs:

* reads: overview of a typical owner (20 connections, rotating over a sample
  of owners) and of the large owner (1,000 connections), for_route and
  diagnostics of one connection (rotating) -- each against its same-width
  floor (the same result rows stored in a table, read back by an indexed
  `select * ... where owner_id/connection_id = ...`; diagnostics: the stored
  jsonb) and against the fan-out baseline (bench/overview.py's per-connection
  queries). Read and floor calls alternate; p50 and p90 of client wall time
  (psycopg, rows fetched and decoded);
* curves: overview p50 over owners of 10 / 100 / 1,000 / 5,000 connections, and
  over 100 / 1,000 / 10,000 events per connection (same connections, the older
  history growing);
* single-row autocommit INSERT cost at event ~10 / ~100 / ~1,000 / ~10,000 of a
  run, with the package's triggers and without (`disable trigger user`);
* bulk COPY events/s with and without the triggers;
* planning vs execution per call (pg_stat_statements, track = all,
  track_planning = on: every nested statement's planning counted);
* EXPLAIN (ANALYZE, BUFFERS) of the overview and for_route calls, and of their
  inner statements (auto_explain, log_nested_statements, as NOTICEs).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
import psycopg.rows
from psycopg import sql

from bench import generate as gen
from bench import report
from bench.overview import FAN_OUT_QUERIES
from connection_summary import migrate
from connection_summary.localpg import start_local_server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks.png"
SECTION = "Suite"
Conn = psycopg.Connection[tuple[Any, ...]]
NOW = gen.NOW

# Every key of the JSON, as dotted paths (lists: checked on their first item).
REQUIRED_KEYS = (
    "meta.date", "meta.small", "meta.command", "meta.runtime_seconds", "meta.phases_seconds",
    "meta.sql.commit", "meta.sql.sha256", "meta.sql.modified",
    "meta.machine.nproc", "meta.machine.memory_gib", "meta.machine.cpu", "meta.machine.kernel",
    "meta.machine.load_average_start", "meta.machine.load_average_end",
    "meta.postgres.version", "meta.postgres.server", "meta.postgres.settings",
    "meta.data.owners", "meta.data.connections", "meta.data.events", "meta.data.runs",
    "meta.data.seed", "meta.data.generate_seconds", "meta.data.load_seconds",
    "meta.data.rebuild_seconds", "meta.data.vacuum_seconds", "meta.data.triggers_during_load",
    *(f"reads.{read}.{part}" for read in ("overview_typical", "overview_large", "for_route",
                                          "diagnostics")
      for part in ("rows", "connections", "read.p50_ms", "read.p90_ms", "read.n",
                   "floor.p50_ms", "floor.p90_ms", "floor.n", "baseline.p50_ms",
                   "baseline.p90_ms", "baseline.n", "read_over_floor", "baseline_over_read")),
    "curves.overview_by_connections.connections", "curves.overview_by_connections.p50_ms",
    "curves.overview_by_connections.p90_ms", "curves.overview_by_connections.floor_p50_ms",
    "curves.overview_by_connections.read_over_floor",
    "curves.overview_by_events.events_per_connection", "curves.overview_by_events.p50_ms",
    "curves.overview_by_events.p90_ms", "curves.overview_by_events.load_events_per_s",
    "curves.overview_by_events_connections", "curves.overview_events_growth",
    "curves.overview_flat_ratio",
    "insert.window", "insert.by_position.position", "insert.by_position.with_triggers_ms",
    "insert.by_position.without_triggers_ms", "insert.by_position.overhead",
    "insert.by_position.with_triggers_p90_ms", "insert.by_position.without_triggers_p90_ms",
    "insert.last_over_first", "insert.first_position", "insert.last_position",
    "copy.events", "copy.batch", "copy.with_triggers_events_per_s",
    "copy.without_triggers_events_per_s", "copy.with_triggers_seconds",
    "copy.without_triggers_seconds", "copy.overhead",
    *(f"planning.{read}.{part}" for read in ("overview_typical", "overview_large", "for_route")
      for part in ("available", "calls", "client_p50_ms", "server_ms_per_call",
                   "plan_ms_per_call", "exec_ms_per_call", "plan_share", "statements",
                   "floor_server_ms_per_call", "server_read_over_floor")),
    "explain.overview_typical", "explain.overview_large", "explain.for_route",
    "explain.overview_growth",
    "explain.auto_explain_available",
    "targets.name", "targets.value", "targets.target", "targets.met",
)


# --- configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    scale: gen.Scale
    sample_owners: int        # typical owners the typical reads rotate over
    repeat_typical: int       # read and floor calls each, typical overview
    repeat_large: int
    repeat_route: int
    repeat_diagnostics: int
    repeat_baseline: int      # fan-out calls, typical owner / one connection
    repeat_baseline_large: int
    curve_connections: tuple[int, ...]
    curve_repeat: int
    growth_connections: int
    growth_levels: tuple[int, ...]  # events per connection
    insert_positions: tuple[int, ...]
    insert_window: int
    copy_events: int
    copy_batch: int
    planning_calls: int


FULL = Config(
    scale=gen.FULL, sample_owners=50, repeat_typical=200, repeat_large=30, repeat_route=200,
    repeat_diagnostics=100, repeat_baseline=30, repeat_baseline_large=3,
    curve_connections=(10, 100, 1_000, 5_000), curve_repeat=20,
    growth_connections=100, growth_levels=(100, 1_000, 10_000),
    insert_positions=(10, 100, 1_000, 10_000), insert_window=200,
    copy_events=200_000, copy_batch=10_000, planning_calls=30)

SMALL = Config(
    scale=gen.SMALL, sample_owners=10, repeat_typical=20, repeat_large=5, repeat_route=20,
    repeat_diagnostics=10, repeat_baseline=4, repeat_baseline_large=2,
    curve_connections=(10, 20, 100), curve_repeat=4,
    growth_connections=10, growth_levels=(10, 100, 1_000),
    insert_positions=(10, 100, 1_000, 10_000), insert_window=20,
    copy_events=40_000, copy_batch=10_000, planning_calls=5)


# --- the database ---------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[tuple[str, str]]:
    """A throw-away database on DATABASE_URL's server or on a private one (stopped
    afterwards); yields (conninfo, description of the server)."""
    url = os.environ.get("DATABASE_URL")
    local = None
    if url:
        base, where = url, "DATABASE_URL's server"
    else:
        local = start_local_server()
        base = local.conninfo("postgres")
        where = ("private server (connection_summary.localpg: fsync=off, "
                 "synchronous_commit=off, full_page_writes=off, shared_buffers=256MB)")
    name = f"{prefix}_{os.getpid()}"
    try:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(
                sql.Identifier(name)))
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


# --- timing ---------------------------------------------------------------------------------


def timed_ms(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def summary(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = statistics.quantiles(ordered, n=10, method="inclusive")[8] if len(ordered) > 1 \
        else ordered[0]
    return {"p50_ms": statistics.median(ordered), "p90_ms": p90,
            "mean_ms": statistics.fmean(ordered), "n": len(ordered)}


def alternate(fns: dict[str, Callable[[int], object]], repeat: int,
              warmup: int = 2) -> dict[str, dict[str, float]]:
    """Call each fn(i) for i in range(repeat), alternating between them; p50/p90 each."""
    for i in range(warmup):
        for fn in fns.values():
            fn(i)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(repeat):
        for name, fn in fns.items():
            samples[name].append(timed_ms(lambda fn=fn, i=i: fn(i)))  # type: ignore[misc]
    return {name: summary(values) for name, values in samples.items()}


def ratio(a: float, b: float) -> float:
    return a / b if b else math.inf


# --- reads ----------------------------------------------------------------------------------

OVERVIEW = ("select * from connection_summary.overview(p_owner_id => %(o)s, p_now => %(now)s)")
FOR_ROUTE = ("select * from connection_summary.for_route("
             "p_owner_id => %(o)s, p_route_id => %(r)s, p_now => %(now)s)")
DIAGNOSTICS = ("select connection_summary.diagnostics("
               "p_owner_id => %(o)s, p_route_id => %(r)s, p_now => %(now)s)")


class Reader:
    """The three ways of getting the same rows: the read API, its floor, the fan-out."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def overview(self, owner: str) -> list[Any]:
        return self.conn.execute(OVERVIEW, {"o": owner, "now": NOW}).fetchall()

    def overview_floor(self, owner: str) -> list[Any]:
        return self.conn.execute("select * from bench_floor.overview where owner_id = %s",
                                 (owner,)).fetchall()

    def overview_baseline(self, owner: str) -> list[Any]:
        """bench/overview.py's fan-out: the owner's connections, then per connection its
        stream sizes, its size row, its schedule and its connector's runs folded live."""
        ids = self.conn.execute(
            "select connector_instance_id, connector_id from connection_summary.connections "
            "where owner_id = %s and status <> 'draft'", (owner,)).fetchall()
        rows: list[Any] = []
        for connection_id, connector_id in ids:
            for query in FAN_OUT_QUERIES:
                rows.append(self.conn.execute(
                    query, {"o": owner, "c": connection_id, "k": connector_id}).fetchall())
        return rows

    def for_route(self, owner: str, route: str) -> list[Any]:
        return self.conn.execute(FOR_ROUTE, {"o": owner, "r": route, "now": NOW}).fetchall()

    def for_route_floor(self, route: str) -> list[Any]:
        return self.conn.execute("select * from bench_floor.route where connection_id = %s",
                                 (route,)).fetchall()

    def for_route_baseline(self, owner: str, route: str) -> list[Any]:
        """The connection's row, then the same four per-connection queries as the
        overview's fan-out; returns their rows, the last query's as dicts."""
        row = self.conn.execute(
            "select c.connector_id, k.manifest from connection_summary.connections as c "
            "join connection_summary.connectors as k using (connector_id) "
            "where c.owner_id = %s and c.connector_instance_id = %s", (owner, route)).fetchone()
        assert row is not None
        out: list[Any] = [row]
        params = {"o": owner, "c": route, "k": row[0]}
        for query in FAN_OUT_QUERIES[:-1]:
            out.append(self.conn.execute(query, params).fetchall())
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            out.append(cur.execute(FAN_OUT_QUERIES[-1], params).fetchall())
        return out

    def diagnostics(self, owner: str, route: str) -> object:
        return self.conn.execute(DIAGNOSTICS, {"o": owner, "r": route, "now": NOW}).fetchone()

    def diagnostics_floor(self, route: str) -> object:
        return self.conn.execute("select doc from bench_floor.diagnostics "
                                 "where connection_id = %s", (route,)).fetchone()

    def diagnostics_baseline(self, owner: str, route: str) -> object:
        """for_route's fan-out, then the client attributes the connector's runs to the
        connection (its profile key, else its id or no claim) and fetches the newest
        one's events."""
        rows = self.for_route_baseline(owner, route)
        connector_id, manifest = rows[0]
        base_key = (manifest or {}).get("browser_surface", {}).get("profile_key", connector_id)
        key = f"{base_key}:{route}"
        mine = [run for run in rows[-1]
                if run.get("surface_profile_key") == key
                or (run.get("surface_profile_key") is None
                    and run.get("explicit_connection_id") in (route, None))]
        events: list[Any] = []
        if mine:
            latest = max(mine, key=lambda run: (run["last_at"], run["run_id"]))
            events = self.conn.execute(
                "select * from connection_summary.spine_events where owner_id = %s "
                "and source_kind = 'connector' and source_id = %s and run_id = %s "
                "order by least(occurred_at, recorded_at), event_seq",
                (owner, connector_id, latest["run_id"])).fetchall()
        return rows, events


def build_floors(conn: Conn, overview_owners: Sequence[str],
                 routes: Sequence[tuple[str, str]]) -> None:
    """bench_floor.overview / route / diagnostics: the read API's rows, stored and indexed."""
    conn.execute("drop schema if exists bench_floor cascade")
    conn.execute("create schema bench_floor")
    now = sql.Literal(NOW)
    conn.execute(sql.SQL(
        "create table bench_floor.overview as select * from connection_summary.overview("
        "p_owner_id => 'nobody', p_now => {}) with no data").format(now))
    conn.execute(sql.SQL(
        "create table bench_floor.route as select * from connection_summary.for_route("
        "p_owner_id => 'nobody', p_route_id => 'nothing', p_now => {}) with no data").format(now))
    conn.execute("create table bench_floor.diagnostics "
                 "(connection_id text primary key, owner_id text not null, doc jsonb)")
    add_overview_floors(conn, overview_owners)
    for owner, route in routes:
        conn.execute("insert into bench_floor.route select * from connection_summary.for_route("
                     "p_owner_id => %(o)s, p_route_id => %(r)s, p_now => %(now)s)",
                     {"o": owner, "r": route, "now": NOW})
        conn.execute("insert into bench_floor.diagnostics select %(r)s, %(o)s, "
                     "connection_summary.diagnostics(p_owner_id => %(o)s, p_route_id => %(r)s, "
                     "p_now => %(now)s)", {"o": owner, "r": route, "now": NOW})
    conn.execute("create index on bench_floor.overview (owner_id)")
    conn.execute("create index on bench_floor.route (connection_id)")
    conn.execute("analyze bench_floor.overview, bench_floor.route, bench_floor.diagnostics")


def add_overview_floors(conn: Conn, owners: Sequence[str]) -> None:
    for owner in owners:
        conn.execute("insert into bench_floor.overview select * from connection_summary.overview("
                     "p_owner_id => %(o)s, p_now => %(now)s)", {"o": owner, "now": NOW})


def read_entry(stats: dict[str, dict[str, float]], baseline: dict[str, float], rows: int,
               connections: int) -> dict[str, Any]:
    return {
        "rows": rows, "connections": connections,
        "read": stats["read"], "floor": stats["floor"], "baseline": baseline,
        "read_over_floor": ratio(stats["read"]["p50_ms"], stats["floor"]["p50_ms"]),
        "baseline_over_read": ratio(baseline["p50_ms"], stats["read"]["p50_ms"]),
    }


def measure_reads(conn: Conn, cfg: Config, owners: Sequence[str], large: str,
                  routes: Sequence[tuple[str, str]], log: Callable[[str], None]
                  ) -> dict[str, Any]:
    r = Reader(conn)
    out: dict[str, Any] = {}

    def owner(i: int) -> str:
        return owners[i % len(owners)]

    def route(i: int) -> tuple[str, str]:
        return routes[i % len(routes)]

    def connections_of(o: str) -> int:
        row = conn.execute("select count(*) from connection_summary.connections "
                           "where owner_id = %s and status <> 'draft'", (o,)).fetchone()
        return int(row[0]) if row else 0

    log("reads: overview, typical owner")
    stats = alternate({"read": lambda i: r.overview(owner(i)),
                       "floor": lambda i: r.overview_floor(owner(i))}, cfg.repeat_typical)
    base = alternate({"baseline": lambda i: r.overview_baseline(owner(i))},
                     cfg.repeat_baseline, warmup=1)["baseline"]
    rows = len(r.overview(owners[0]))
    out["overview_typical"] = read_entry(stats, base, rows, connections_of(owners[0]))

    log("reads: overview, large owner")
    stats = alternate({"read": lambda i: r.overview(large),
                       "floor": lambda i: r.overview_floor(large)}, cfg.repeat_large)
    base = alternate({"baseline": lambda i: r.overview_baseline(large)},
                     cfg.repeat_baseline_large, warmup=0)["baseline"]
    rows = len(r.overview(large))
    out["overview_large"] = read_entry(stats, base, rows, connections_of(large))

    log("reads: for_route")
    stats = alternate({"read": lambda i: r.for_route(*route(i)),
                       "floor": lambda i: r.for_route_floor(route(i)[1])}, cfg.repeat_route)
    base = alternate({"baseline": lambda i: r.for_route_baseline(*route(i))},
                     cfg.repeat_baseline, warmup=1)["baseline"]
    out["for_route"] = read_entry(stats, base, len(r.for_route(*routes[0])), 1)

    log("reads: diagnostics")
    stats = alternate({"read": lambda i: r.diagnostics(*route(i)),
                       "floor": lambda i: r.diagnostics_floor(route(i)[1])},
                      cfg.repeat_diagnostics)
    base = alternate({"baseline": lambda i: r.diagnostics_baseline(*route(i))},
                     cfg.repeat_baseline, warmup=1)["baseline"]
    out["diagnostics"] = read_entry(stats, base, 1, 1)
    return out


# --- curves ---------------------------------------------------------------------------------


def curve_by_connections(conn: Conn, cfg: Config, owners_by_size: dict[int, str],
                         log: Callable[[str], None]) -> list[dict[str, Any]]:
    r = Reader(conn)
    points = []
    for n in cfg.curve_connections:
        owner = owners_by_size[n]
        log(f"curve: overview of {n:,} connections")
        repeat = max(3, min(cfg.curve_repeat, int(cfg.curve_repeat * 1000 / max(n, 1000))))
        stats = alternate({"read": lambda i, o=owner: r.overview(o),  # type: ignore[misc]
                           "floor": lambda i, o=owner: r.overview_floor(o)},  # type: ignore[misc]
                          repeat)
        points.append({"connections": n, "owner_id": owner,
                       "p50_ms": stats["read"]["p50_ms"], "p90_ms": stats["read"]["p90_ms"],
                       "n": stats["read"]["n"], "floor_p50_ms": stats["floor"]["p50_ms"],
                       "read_over_floor": ratio(stats["read"]["p50_ms"],
                                                stats["floor"]["p50_ms"])})
    return points


def vacuum_analyze(conn: Conn) -> None:
    conn.execute("vacuum analyze")


def curve_by_events(conn: Conn, cfg: Config, seed: int, streams: dict[str, list[str]],
                    keys: dict[str, str], log: Callable[[str], None]) -> list[dict[str, Any]]:
    """One owner of growth_connections connections whose history grows: each level adds
    older runs, so the newest runs (and the overview's rows) stay the same."""
    r = Reader(conn)
    owner = gen.OwnerGen("owner-growth", cfg.growth_connections, seed, streams, keys)
    points = []
    loaded = 0
    total = 0
    for level in cfg.growth_levels:
        add = level - loaded
        started = time.perf_counter()
        if loaded == 0:
            counts = gen.load_owners(conn, [owner], add, transaction_events=10_000, jitter=0.0)
        else:
            counts = gen.grow_owners(conn, [owner], add, jitter=0.0)
        seconds = time.perf_counter() - started
        loaded = level
        total += counts.events
        vacuum_analyze(conn)
        log(f"curve: overview at {level:,} events per connection "
            f"(+{counts.events:,} events, {counts.events / seconds:,.0f}/s with triggers)")
        stats = alternate({"read": lambda i: r.overview(owner.owner_id)}, cfg.curve_repeat)
        points.append({"events_per_connection": level, "events": total,
                       "p50_ms": stats["read"]["p50_ms"], "p90_ms": stats["read"]["p90_ms"],
                       "n": stats["read"]["n"],
                       "load_events_per_s": counts.events / seconds if seconds else 0.0})
    return points


# --- writes ---------------------------------------------------------------------------------

INSERT = (b"insert into connection_summary.spine_events (owner_id, event_type, status, "
          b"source_kind, source_id, run_id, occurred_at, connector_instance_id, data) "
          b"values (%s, %s, %s, 'connector', %s, %s, %s, %s, %s::jsonb)")


def insert_costs(conn: Conn, cfg: Config, connector: str, connection: str,
                 log: Callable[[str], None]) -> dict[str, Any]:
    """ms per autocommit single-row INSERT around event p of a run, for each position p:
    runs are prefilled to just before the window by one COPY (one transaction, so one
    fold at commit), then the window's events are inserted one by one and timed. A window
    of `insert_window` inserts: ceil(window / w) runs of w = min(window, p) inserts each,
    centred on p. For each position, without the triggers first (owner-insert-off, whose
    events are deleted again before the triggers come back), then with them."""
    window = cfg.insert_window
    results: dict[str, dict[int, list[float]]] = {"off": {}, "on": {}}
    base_ms = gen.NOW_MS - 30 * gen.DAY_MS

    def measure(mode: str, p: int) -> list[float]:
        owner = "owner-insert" if mode == "on" else "owner-insert-off"
        w = min(window, p)
        prefill = p - w // 2 - (w % 2)
        runs = math.ceil(window / w)
        log(f"insert: event ~{p:,} of a run, triggers {mode}: {runs} run(s) x {w}")
        samples: list[float] = []
        for k in range(runs):
            run_id = f"{connection}.ins-{mode}-{p}-{k}"

            def row(i: int, run_id: str = run_id) -> tuple[Any, ...]:
                """Event i of the run (0: run.started), without source_kind."""
                at = gen.fmt_ts(base_ms + i * 1000)
                if i == 0:
                    return (owner, "run.started", "started", connector, run_id, at,
                            connection, "{}")
                return (owner, "run.progress_reported", "running", connector, run_id, at,
                        connection, f'{{"records":{i % 500}}}')

            if prefill:
                with conn.transaction():
                    gen.copy_rows(conn, "spine_events", gen.EVENT_COLUMNS, (
                        (*row(i)[:3], "connector", *row(i)[3:]) for i in range(prefill)))
            with conn.cursor() as cur:
                for i in range(prefill, prefill + w):
                    params = row(i)
                    started = time.perf_counter()
                    cur.execute(INSERT, params, prepare=True)
                    samples.append((time.perf_counter() - started) * 1000)
        return samples

    for p in cfg.insert_positions:
        gen.set_spine_triggers(conn, False)
        try:
            results["off"][p] = measure("off", p)
            conn.execute("delete from connection_summary.spine_events where owner_id = %s",
                         ("owner-insert-off",))
        finally:
            gen.set_spine_triggers(conn, True)
        results["on"][p] = measure("on", p)
    points = []
    for p in cfg.insert_positions:
        on, off = summary(results["on"][p]), summary(results["off"][p])
        points.append({"position": p, "with_triggers_ms": on["p50_ms"],
                       "with_triggers_p90_ms": on["p90_ms"],
                       "without_triggers_ms": off["p50_ms"],
                       "without_triggers_p90_ms": off["p90_ms"], "n": on["n"],
                       "overhead": ratio(on["p50_ms"], off["p50_ms"])})
    first, last = points[0], points[-1]
    return {"window": window, "by_position": points,
            "first_position": first["position"], "last_position": last["position"],
            "last_over_first": ratio(last["with_triggers_ms"], first["with_triggers_ms"])}


def copy_overhead(conn: Conn, cfg: Config, seed: int, streams: dict[str, list[str]],
                  keys: dict[str, str], log: Callable[[str], None]) -> dict[str, Any]:
    """events/s of COPY in copy_batch-event transactions, without the triggers (owners
    copy-off-*, deleted afterwards) and with them (copy-on-*): the same events but for
    the owner ids (each owner's generator is keyed by its index, not its id)."""
    owners_needed = max(1, round(cfg.copy_events / (20 * 100)))
    out: dict[str, Any] = {"batch": cfg.copy_batch}
    for mode in ("off", "on"):
        owners = [gen.OwnerGen(f"copy-{mode}-{i:04d}", 20, seed, streams, keys,
                               rng_key=f"copy-{i}") for i in range(owners_needed)]
        lines: list[tuple[int, str]] = []
        for owner in owners:
            lines.extend(owner.event_lines(100))
        lines.sort(key=lambda item: item[0])
        lines = lines[:cfg.copy_events]
        conn.execute("checkpoint")
        if mode == "off":
            gen.set_spine_triggers(conn, False)
        try:
            started = time.perf_counter()
            gen.load_events(conn, lines, cfg.copy_batch, presorted=True)
            seconds = time.perf_counter() - started
            if mode == "off":
                conn.execute("delete from connection_summary.spine_events "
                             "where owner_id like 'copy-off-%'")
        finally:
            if mode == "off":
                gen.set_spine_triggers(conn, True)
        name = "with_triggers" if mode == "on" else "without_triggers"
        out["events"] = len(lines)
        out[f"{name}_seconds"] = seconds
        out[f"{name}_events_per_s"] = len(lines) / seconds
        log(f"copy: {len(lines):,} events, triggers {mode}: {seconds:.1f} s, "
            f"{len(lines) / seconds:,.0f} events/s")
    out["overhead"] = ratio(out["without_triggers_events_per_s"],
                            out["with_triggers_events_per_s"])
    return out


# --- planning and plans ---------------------------------------------------------------------


Call = Callable[["Reader"], object]


def _server_ms(conn: Conn) -> tuple[float, float, list[tuple[Any, ...]]]:
    """(planning of every statement, top-level planning + execution, the rows) in ms,
    summed over pg_stat_statements since its last reset, this database only."""
    rows = conn.execute(
        "select toplevel, calls, total_plan_time, total_exec_time, query "
        "from pg_stat_statements where dbid = (select oid from pg_database "
        "where datname = current_database()) "
        "and query not ilike '%%pg_stat_statements%%'").fetchall()
    plan = sum(float(r[2]) for r in rows)
    top = sum(float(r[2]) + float(r[3]) for r in rows if r[0])
    return plan, top, rows


def planning(dsn: str, calls: int, reads: dict[str, tuple[Call, Call]],
             log: Callable[[str], None]) -> dict[str, Any]:
    """Per read: planning and execution time per call from pg_stat_statements, every
    nested statement included (track = all, track_planning = on). Planning = the
    planning time of all statements; execution = the top-level statements' planning
    plus execution (the whole server time of the call) minus that. The read's floor
    is measured the same way: the server's share of read / floor, without the client."""
    out: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute("create extension if not exists pg_stat_statements")
            conn.execute("set pg_stat_statements.track = 'all'")
            conn.execute("set pg_stat_statements.track_planning = on")
            conn.execute("select pg_stat_statements_reset()")
            available = True
        except psycopg.Error as exc:
            log(f"planning: pg_stat_statements unavailable ({exc.diag.message_primary})")
            available = False
        reader = Reader(conn)
        for name, (call, floor) in reads.items():
            entry: dict[str, Any] = {"available": available, "calls": calls}
            call(reader)  # warm: plans, caches
            floor(reader)
            if available:
                conn.execute("select pg_stat_statements_reset()")
            samples = [timed_ms(lambda call=call: call(reader))  # type: ignore[misc]
                       for _ in range(calls)]
            entry["client_p50_ms"] = statistics.median(samples)
            if available:
                plan, top, rows = _server_ms(conn)
                conn.execute("select pg_stat_statements_reset()")
                for _ in range(calls):
                    floor(reader)
                _, floor_top, _ = _server_ms(conn)
                entry["plan_ms_per_call"] = plan / calls
                entry["server_ms_per_call"] = top / calls
                entry["exec_ms_per_call"] = (top - plan) / calls
                entry["plan_share"] = ratio(plan, top)
                entry["floor_server_ms_per_call"] = floor_top / calls
                entry["server_read_over_floor"] = ratio(top, floor_top)
                entry["statements"] = [
                    {"toplevel": bool(r[0]), "calls": int(r[1]),
                     "plan_ms_per_call": float(r[2]) / calls,
                     "exec_ms_per_call": float(r[3]) / calls,
                     "query": re.sub(r"\s+", " ", str(r[4]))[:160]}
                    for r in sorted(rows, key=lambda r: -(float(r[2]) + float(r[3])))[:8]]
                log(f"planning: {name}: {entry['plan_ms_per_call']:.2f} ms planning + "
                    f"{entry['exec_ms_per_call']:.2f} ms execution per call; floor "
                    f"{entry['floor_server_ms_per_call']:.3f} ms on the server")
            else:
                entry.update(plan_ms_per_call=None, server_ms_per_call=None,
                             exec_ms_per_call=None, plan_share=None,
                             floor_server_ms_per_call=None, server_read_over_floor=None,
                             statements=[])
            out[name] = entry
    return out


def explains(dsn: str, calls: dict[str, sql.Composed], out_dir: Path,
             log: Callable[[str], None]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of each call, then the same call once more under
    auto_explain (log_nested_statements, log_analyze, log_buffers) with its plans sent
    as NOTICEs; both saved to out_dir/explain_<name>.txt."""
    out: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        try:
            conn.execute("load 'auto_explain'")
            for setting, value in (("log_min_duration", "0"), ("log_analyze", "on"),
                                   ("log_buffers", "on"), ("log_timing", "on"),
                                   ("log_nested_statements", "on"), ("log_level", "notice")):
                conn.execute(f"set auto_explain.{setting} = {value}".encode())
            auto = True
        except psycopg.Error as exc:
            log(f"explain: auto_explain unavailable ({exc.diag.message_primary})")
            auto = False
        out["auto_explain_available"] = auto
        for name, call in calls.items():
            if auto:
                conn.execute("set auto_explain.log_min_duration = -1")
            conn.execute(call).fetchall()  # warm
            plan = "\n".join(str(r[0]) for r in conn.execute(
                sql.SQL("explain (analyze, buffers) {}").format(call)).fetchall())
            inner = ""
            costliest = ""
            if auto:
                conn.execute("set auto_explain.log_min_duration = 0")
                notices.clear()
                conn.execute(call).fetchall()
                conn.execute("set auto_explain.log_min_duration = -1")
                inner = "\n\n".join(notices)
                # The costliest nested statement (the last notice is the call itself).
                nested = [(float(m.group(1)), n) for n in notices[:-1]
                          if (m := re.match(r"duration: ([\d.]+) ms", n))]
                costliest = max(nested)[1] if nested else ""
            text = (f"-- {call.as_string(conn)}\n\n-- EXPLAIN (ANALYZE, BUFFERS)\n{plan}\n")
            if auto:
                text += ("\n-- auto_explain (log_analyze, log_buffers, log_nested_statements):"
                         " every statement of one call, innermost first\n\n" + inner + "\n")
            path = out_dir / f"explain_{name}.txt"
            path.write_text(text)
            out[name] = {"file": path.name, "plan": plan, "costliest_inner_plan": costliest}
            log(f"explain: {name} -> {path}")
    return out


# --- what was measured -----------------------------------------------------------------------


def sql_version() -> dict[str, Any]:
    """The git commit and a digest of sql/ and migrations/ as installed by this run, and
    whether they differ from the commit (read-only git: rev-parse, ls-tree, hash-object)."""
    files = sorted(str(f.relative_to(ROOT)) for d in ("sql", "migrations")
                   for f in (ROOT / d).glob("*.sql"))
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes() + b"\0")
    out: dict[str, Any] = {"sha256": digest.hexdigest(), "commit": None, "modified": None}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        def git(*args: str) -> str:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=True, timeout=30).stdout

        out["commit"] = git("rev-parse", "HEAD").strip()
        committed = {}
        for line in git("ls-tree", "-r", "HEAD", "--", "sql", "migrations").splitlines():
            meta, path = line.split("\t", 1)
            if path.endswith(".sql"):
                committed[path] = meta.split()[2]
        working = dict(zip(files, git("hash-object", "--", *files).split(), strict=True))
        out["modified"] = sorted(path for path in committed.keys() | working.keys()
                                 if committed.get(path) != working.get(path))
    return out


# --- machine --------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def memory_gib() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


# --- targets, plot, docs --------------------------------------------------------------------


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    reads, ins, curves = res["reads"], res["insert"], res["curves"]
    rows: list[tuple[str, float, float]] = [
        (f"overview, typical owner ({reads['overview_typical']['connections']} connections)"
         " / its floor", reads["overview_typical"]["read_over_floor"], 2.0),
        (f"overview, large owner ({reads['overview_large']['connections']:,} connections)"
         " / its floor", reads["overview_large"]["read_over_floor"], 3.0),
        ("for_route / one-row stored read", reads["for_route"]["read_over_floor"], 3.0),
    ]
    for point in ins["by_position"]:
        rows.append((f"single-row insert overhead at event ~{point['position']:,} "
                     "(with triggers / without)", point["overhead"], 2.0))
    rows.append((f"single-row insert at event ~{ins['last_position']:,} / at event "
                 f"~{ins['first_position']:,} (with triggers)", ins["last_over_first"], 1.3))
    rows.append(("bulk COPY overhead (events/s without triggers / with)",
                 res["copy"]["overhead"], 1.5))
    growth = curves["overview_events_growth"]
    rows.append((f"overview over {growth:,.0f}x more events per connection "
                 f"({curves['overview_by_events_connections']} connections)",
                 curves["overview_flat_ratio"], 1.2))
    return [{"name": name, "value": value, "target": target, "met": value <= target}
            for name, value, target in rows]


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    a, b, c, d = axes[0][0], axes[0][1], axes[1][0], axes[1][1]
    by_conn = res["curves"]["overview_by_connections"]
    xs = [p["connections"] for p in by_conn]
    a.plot(xs, [p["p50_ms"] for p in by_conn], "o-", label="overview p50")
    a.plot(xs, [p["p90_ms"] for p in by_conn], "o:", label="overview p90")
    a.plot(xs, [p["floor_p50_ms"] for p in by_conn], "s--", label="floor p50 (stored rows)")
    a.set(xscale="log", yscale="log", xlabel="connections of the owner", ylabel="ms",
          title="overview vs owner size")
    a.legend()
    by_ev = res["curves"]["overview_by_events"]
    xs = [p["events_per_connection"] for p in by_ev]
    b.plot(xs, [p["p50_ms"] for p in by_ev], "o-", label="overview p50")
    b.plot(xs, [p["p90_ms"] for p in by_ev], "o:", label="overview p90")
    b.set(xscale="log", xlabel="events per connection", ylabel="ms",
          title=f"overview vs history ({res['curves']['overview_by_events_connections']} "
                "connections)")
    b.set_ylim(bottom=0)
    b.legend()
    ins = res["insert"]["by_position"]
    xs = [p["position"] for p in ins]
    c.plot(xs, [p["with_triggers_ms"] for p in ins], "o-", label="with the package's triggers")
    c.plot(xs, [p["without_triggers_ms"] for p in ins], "s--", label="triggers disabled")
    c.set(xscale="log", xlabel="event position in its run",
          ylabel="ms per autocommit INSERT (p50)", title="single-row insert vs run length")
    c.set_ylim(bottom=0)
    c.legend()
    names = ["overview_typical", "overview_large", "for_route", "diagnostics"]
    labels = ["overview\ntypical", "overview\nlarge", "for_route", "diagnostics"]
    width = 0.27
    for offset, (part, label) in enumerate((("floor", "floor"), ("read", "read API"),
                                            ("baseline", "fan-out baseline"))):
        d.bar([i + (offset - 1) * width for i in range(len(names))],
              [res["reads"][n][part]["p50_ms"] for n in names], width, label=label)
    d.set_xticks(range(len(names)), labels)
    d.set(yscale="log", ylabel="ms (p50)", title="reads: floor, read API, fan-out")
    d.legend()
    meta = res["meta"]
    for ax in (a, d):
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())
    for ax in (a, b, c):
        ax.xaxis.set_major_formatter(plain)
    fig.suptitle(f"connection-summary benchmark suite - {meta['data']['events']:,} events, "
                 f"{meta['data']['connections']:,} connections; {meta['postgres']['version']}, "
                 f"{meta['machine']['nproc']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _ms(value: float) -> str:
    if value >= 999.5:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def docs_section(res: dict[str, Any], plot_ref: str, results_ref: str) -> str:
    meta, reads, curves = res["meta"], res["reads"], res["curves"]
    ins, cp, plan = res["insert"], res["copy"], res["planning"]
    data, machine, pg = meta["data"], meta["machine"], meta["postgres"]
    lines = [f"## {SECTION}", ""]
    lines += [
        "Every figure of the read and write paths side by side, from one run of one",
        "database: each read against its **same-width floor** (the very rows it returns,",
        "stored in a table and read back by an indexed `select *`) and against the",
        "**fan-out baseline** (bench/overview.py's per-connection queries), the overview",
        "over owner size and over history length, single-row and bulk insert costs with",
        "and without the package's triggers, planning vs execution, and the plans.",
        "It supersedes the Overview section's `bench.overview`, which `make bench` no",
        "longer runs (`python -m bench.overview` still works).",
        "",
        "Commands: `make bench` (runs `python -m bench.suite` among the others);",
        "`python -m bench.suite` alone (this section, `bench/results/suite.json`, the",
        "EXPLAINs in `bench/results/explain_*.txt`, `docs/benchmarks.png`);",
        "`python -m bench.suite --small` (smoke size, into a temp dir);",
        "`python -m bench.generate [--small]` (the data set alone).",
        "",
        f"- Date: {meta['date']}; full suite runtime {meta['runtime_seconds'] / 60:.1f} min",
        f"- SQL measured: commit {str(meta['sql']['commit'])[:12]}"
        + (f" with {', '.join(meta['sql']['modified'])} modified in the work tree"
           if meta["sql"]["modified"] else "")
        + f" (sql/ + migrations/ sha256 {meta['sql']['sha256'][:12]})",
        f"- Machine: {machine['nproc']} cores ({machine['cpu']}), "
        f"{machine['memory_gib']:.0f} GiB, {machine['kernel']}; load average "
        f"{machine['load_average_start'][0]:.1f} at the start, "
        f"{machine['load_average_end'][0]:.1f} at the end (1-minute averages; the run's own "
        "server and client make about 1-1.5)"
        + (": the cores were shared with other work, so every figure is noisier and slower "
           "than on an idle machine"
           if machine["load_average_start"][0] >= 1
           or machine["load_average_end"][0] >= machine["nproc"] + 0.5 else ""),
        f"- PostgreSQL: {pg['version']}, {pg['server']}; "
        + ", ".join(f"{k}={v}" for k, v in pg["settings"].items()),
        f"- Data (bench/generate.py, seed {data['seed']}): {data['owners']:,} owners, "
        f"{data['connections']:,} connections, {data['events']:,} events in "
        f"{data['runs']:,} runs, loaded in {data['generate_seconds']:.0f} s "
        f"(COPY {data['load_seconds']:.0f} s with the spine_events triggers disabled, "
        f"`rebuild_run_evidence()` {data['rebuild_seconds']:.0f} s, VACUUM ANALYZE "
        f"{data['vacuum_seconds']:.0f} s); then the curve owners, the growth owner and the "
        "insert owner through the triggers.",
        "- Times: client wall time per call through psycopg (rows fetched and decoded,",
        "  statements auto-prepared after 5 executions, as any psycopg client), p50 and p90;",
        "  read and floor calls alternate; typical reads rotate over "
        f"{meta['sample_owners']} owners (for_route and diagnostics over one connection of",
        "  each, browser siblings and API connections alike).",
        "",
        "### Reads",
        "",
        "| read | rows | read p50 / p90 | floor p50 / p90 | fan-out p50 / p90 | "
        "read / floor | fan-out / read |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    label = {
        "overview_typical": f"overview, typical owner "
                            f"({reads['overview_typical']['connections']} connections)",
        "overview_large": f"overview, large owner "
                          f"({reads['overview_large']['connections']:,} connections)",
        "for_route": "for_route (one connection)",
        "diagnostics": "diagnostics (one connection, 20 recent runs)",
    }
    for name, entry in reads.items():
        lines.append(
            f"| {label[name]} | {entry['rows']:,} | {_ms(entry['read']['p50_ms'])} / "
            f"{_ms(entry['read']['p90_ms'])} | {_ms(entry['floor']['p50_ms'])} / "
            f"{_ms(entry['floor']['p90_ms'])} | {_ms(entry['baseline']['p50_ms'])} / "
            f"{_ms(entry['baseline']['p90_ms'])} | **{entry['read_over_floor']:.1f}x** | "
            f"{entry['baseline_over_read']:.1f}x |")
    lines += [
        "",
        "Calls: read and floor "
        + ", ".join(f"{reads[n]['read']['n']}" for n in reads)
        + " (in the order of the table); fan-out "
        + ", ".join(f"{reads[n]['baseline']['n']}" for n in reads) + ".",
        "Floors: `bench_floor.overview` (the overview rows of the sampled, large and curve",
        "owners; index on owner_id), `bench_floor.route` (for_route rows; index on",
        "connection_id), `bench_floor.diagnostics` (connection_id primary key, the jsonb).",
        "Fan-out: per connection its stream sizes, its size row, its schedule and its",
        "connector's runs folded live from spine_events (`run_evidence_live`); for_route",
        "adds the connection's row, diagnostics the latest attributed run's events.",
        "",
        "### Curves",
        "",
        "| owner's connections | overview p50 | p90 | floor p50 | read / floor |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in curves["overview_by_connections"]:
        lines.append(f"| {p['connections']:,} | {_ms(p['p50_ms'])} | {_ms(p['p90_ms'])} | "
                     f"{_ms(p['floor_p50_ms'])} | {p['read_over_floor']:.1f}x |")
    lines += [
        "",
        f"| events per connection ({curves['overview_by_events_connections']} connections) "
        "| events of the owner | overview p50 | p90 | load with triggers |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in curves["overview_by_events"]:
        lines.append(f"| {p['events_per_connection']:,} | {p['events']:,} | "
                     f"{_ms(p['p50_ms'])} | {_ms(p['p90_ms'])} | "
                     f"{p['load_events_per_s']:,.0f} events/s |")
    lines += [
        "",
        f"Overview at {curves['overview_events_growth']:,.0f}x the events per connection: "
        f"**{curves['overview_flat_ratio']:.2f}x** the time (each level adds older runs; "
        "the newest runs, so the rows, stay the same); the plan of the last level is "
        "overview_growth under Plans.",
        "",
        "### Writes",
        "",
        f"Single-row autocommit INSERT (prepared) of a progress event into one run, p50 over a "
        f"window of {ins['window']} inserts centred on the position (runs prefilled to the "
        "window by one COPY transaction); without triggers = `alter table spine_events "
        "disable trigger user`, same database, just before the same position with them, "
        "then those events deleted.",
        "",
        "| event of the run | with triggers p50 / p90 | without p50 / p90 | overhead |",
        "|---:|---:|---:|---:|",
    ]
    for p in ins["by_position"]:
        lines.append(f"| ~{p['position']:,} | {_ms(p['with_triggers_ms'])} / "
                     f"{_ms(p['with_triggers_p90_ms'])} | {_ms(p['without_triggers_ms'])} / "
                     f"{_ms(p['without_triggers_p90_ms'])} | **{p['overhead']:.2f}x** |")
    lines += [
        "",
        f"Event ~{ins['last_position']:,} / event ~{ins['first_position']:,} with triggers: "
        f"**{ins['last_over_first']:.2f}x**.",
        "",
        f"Bulk COPY of {cp['events']:,} events (100 owners x 20 connections, runs "
        f"interleaved in time) in {cp['batch']:,}-event transactions: "
        f"{cp['without_triggers_events_per_s']:,.0f} events/s without the triggers "
        f"({cp['without_triggers_seconds']:.1f} s), {cp['with_triggers_events_per_s']:,.0f} "
        f"with ({cp['with_triggers_seconds']:.1f} s): overhead **{cp['overhead']:.2f}x**.",
        "",
        "### Planning vs execution",
        "",
        "pg_stat_statements with `track = all` and `track_planning = on` (set in the",
        "measuring session): every statement of a call is counted, the nested ones the",
        "read functions run included, with its planning and execution time. Planning =",
        "the planning time of all of them; execution = the call's whole server time",
        "(the top-level statement's planning + execution) minus that. (EXPLAIN's",
        "Planning Time only covers the top-level `select * from f(...)`; auto_explain",
        "reports no planning time.) These are calls of their own, after the others, on",
        "the first sampled owner and connection. The floor's server time is measured the",
        "same way, so server read / floor leaves out the client's share (fetching and",
        "decoding the rows), which the client-time ratios above include on both sides.",
        "",
        "| call | calls | client p50 | server per call | planning | execution | "
        "planning share | floor, server | server read / floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in plan.items():
        if entry["available"]:
            lines.append(f"| {name} | {entry['calls']} | {_ms(entry['client_p50_ms'])} | "
                         f"{_ms(entry['server_ms_per_call'])} | "
                         f"{_ms(entry['plan_ms_per_call'])} | {_ms(entry['exec_ms_per_call'])} "
                         f"| {entry['plan_share']:.0%} | "
                         f"{_ms(entry['floor_server_ms_per_call'])} | "
                         f"{entry['server_read_over_floor']:.0f}x |")
        else:
            lines.append(f"| {name} | {entry['calls']} | {_ms(entry['client_p50_ms'])} | "
                         "n/a | n/a | n/a | n/a | n/a | n/a |")
    lines += ["", "The costliest statements of each call (per call):", ""]
    for name, entry in plan.items():
        for s in entry["statements"][:4]:
            lines.append(f"- {name}{' (top level)' if s['toplevel'] else ''}: plan "
                         f"{_ms(s['plan_ms_per_call'])}, exec {_ms(s['exec_ms_per_call'])}: "
                         f"`{s['query'][:110]}`")
    lines += ["", "### Targets", "",
              "| figure | measured | target | met |", "|---|---:|---:|---|"]
    for t in res["targets"]:
        lines.append(f"| {t['name']} | {t['value']:.2f}x | <= {t['target']:g}x | "
                     f"{'yes' if t['met'] else '**no**'} |")
    lines += ["", f"![benchmark curves]({plot_ref})", "", "### Plans", "",
              "EXPLAIN (ANALYZE, BUFFERS) of the calls (the read functions are opaque to it:",
              "their inner statements' plans, from auto_explain with log_nested_statements, "
              f"are in `{results_ref}/explain_*.txt`, and each call's costliest one below).",
              "overview_growth is the growth owner's overview at "
              f"{curves['overview_by_events'][-1]['events_per_connection']:,} events per "
              "connection.", ""]
    for name in ("overview_typical", "overview_large", "for_route", "overview_growth"):
        lines += [f"{name}:", "", "```", res["explain"][name]["plan"], "```", ""]
        inner = str(res["explain"][name].get("costliest_inner_plan") or "")
        if inner:
            shown = hot_path(inner)
            lines += [f"<details><summary>{name}: the hot path of its costliest inner "
                      f"statement (auto_explain; the whole plan is in {results_ref}/"
                      f"{res['explain'][name]['file']})</summary>", "", "```", *shown, "```",
                      "", "</details>", ""]
    lines += [
        "Caveats: the private server runs without durability (fsync, synchronous_commit",
        "and full_page_writes off), which flatters commits with and without triggers alike;",
        "the whole data set fits in memory (page cache), so these are warm-cache figures;",
        "client times include psycopg's decoding of the jsonb columns, the same for a read",
        "and its floor; on this 2-core machine sub-millisecond medians (inserts without",
        "triggers, one-row floors) moved by up to 2x between two otherwise identical runs,",
        "and the insert overheads with them.",
    ]
    return "\n".join(lines) + "\n"


_NODE_TIME = re.compile(r"actual time=[\d.]+\.\.([\d.]+) rows=[\d.]+ loops=(\d+)")
_NODE_DETAIL = ("Index Cond", "Join Filter", "Hash Cond", "Merge Cond", "Filter", "Rows Removed",
                "Recheck Cond")


def hot_path(plan: str, share: float = 0.1) -> list[str]:
    """An auto_explain plan cut to its hot path: the header (duration, query text), then
    the plan nodes whose time (last row's actual time x loops) is at least `share` of the
    costliest node's, each with its conditions and filters; the rest is elided."""
    lines = plan.splitlines()
    first_node = next((i for i, line in enumerate(lines) if _NODE_TIME.search(line)),
                      len(lines))
    times = {i: float(m.group(1)) * int(m.group(2)) for i, line in enumerate(lines)
             if (m := _NODE_TIME.search(line))}
    if not times:
        return lines
    limit = max(times.values()) * share
    out = lines[:first_node]
    keep = False
    skipped = 0
    for i in range(first_node, len(lines)):
        if i in times:
            keep = times[i] >= limit
        detail = lines[i].strip().startswith(_NODE_DETAIL)
        if keep and (i in times or detail):
            if skipped:
                out.append(f"{' ' * (len(lines[i]) - len(lines[i].lstrip()))}...")
                skipped = 0
            out.append(lines[i])
        else:
            skipped += 1
    return out


def write_docs(section: str, path: Path = DOCS) -> None:
    report.write_section(SECTION, section, path)


def missing_keys(res: dict[str, Any]) -> list[str]:
    return report.missing_keys(res, REQUIRED_KEYS)


# --- the run --------------------------------------------------------------------------------


def pick_routes(conn: Conn, owners: Sequence[str]) -> list[tuple[str, str]]:
    """One connection per sampled owner, the i-th of the i-th owner (browser and API alike)."""
    routes = []
    for i, owner in enumerate(owners):
        ids = [str(r[0]) for r in conn.execute(
            "select connector_instance_id from connection_summary.connections "
            "where owner_id = %s and status <> 'draft' order by connector_instance_id",
            (owner,)).fetchall()]
        routes.append((owner, ids[(i * 7) % len(ids)]))
    return routes


def run(cfg: Config, out_dir: Path, small: bool, log: Callable[[str], None]) -> dict[str, Any]:
    phases: dict[str, float] = {}
    started_all = time.perf_counter()
    load_start = os.getloadavg()
    scale = cfg.scale
    streams = gen.manifest_streams(scale.seed)
    keys = gen.manifest_profile_keys(scale.seed)
    res: dict[str, Any] = {}

    def phase(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = now - since
        return now

    with scratch_database("cs_bench_suite") as (dsn, where):
        t = time.perf_counter()
        measured_sql = sql_version()
        migrate(dsn)
        t = phase("migrate", t)
        stats = gen.generate(dsn, scale)
        t = phase("generate", t)
        log(f"generate: {stats.events:,} events, {stats.runs:,} runs, {stats.connections:,} "
            f"connections in {stats.seconds:.0f} s")
        with psycopg.connect(dsn, autocommit=True) as conn:
            version = conn.execute("select version()").fetchone()
            settings = {name: str(value) for name, value in conn.execute(
                "select name, setting || coalesce(unit, '') from pg_settings where name = any(%s)"
                " order by name",
                (["shared_buffers", "work_mem", "jit", "max_parallel_workers_per_gather",
                  "effective_cache_size", "random_page_cost"],)).fetchall()}
            # Extra owners: the connection curve, the insert owner.
            large = gen.large_owner(0)
            by_size = {scale.connections_per_owner: gen.typical_owner(0),
                       scale.large_owners[0]: large}
            extra = [gen.OwnerGen(f"owner-curve-{n}", n, scale.seed, streams, keys)
                     for n in cfg.curve_connections if n not in by_size]
            for owner in extra:
                log(f"load: {owner.owner_id} ({len(owner.plans):,} connections, "
                    "through the triggers)")
                gen.load_owners(conn, [owner], scale.events_per_connection,
                                transaction_events=10_000)
                by_size[len(owner.plans)] = owner.owner_id
            inserter = gen.OwnerGen("owner-insert", 1, scale.seed, streams, keys)
            gen.load_owners(conn, [inserter], 20, transaction_events=10_000)
            vacuum_analyze(conn)
            t = phase("load_extra_owners", t)

            step = max(1, scale.owners // cfg.sample_owners)
            owners = [gen.typical_owner(i) for i in range(0, scale.owners, step)]
            owners = owners[:cfg.sample_owners]
            routes = pick_routes(conn, owners)
            log("floors: storing the read API's rows")
            floor_owners = [*owners, large, *(by_size[n] for n in cfg.curve_connections)]
            build_floors(conn, list(dict.fromkeys(floor_owners)), routes)
            t = phase("floors", t)

            res["reads"] = measure_reads(conn, cfg, owners, large, routes, log)
            t = phase("reads", t)
            res["curves"] = {"overview_by_connections": curve_by_connections(
                conn, cfg, by_size, log)}
            t = phase("curve_connections", t)

            reads_for_planning: dict[str, tuple[Call, Call]] = {
                "overview_typical": (lambda r: r.overview(owners[0]),
                                     lambda r: r.overview_floor(owners[0])),
                "overview_large": (lambda r: r.overview(large),
                                   lambda r: r.overview_floor(large)),
                "for_route": (lambda r: r.for_route(*routes[0]),
                              lambda r: r.for_route_floor(routes[0][1])),
            }
            res["planning"] = planning(dsn, cfg.planning_calls, reads_for_planning, log)
            t = phase("planning", t)

            def call(query: str, **params: Any) -> sql.Composed:
                return sql.SQL(query.replace("%(", "{").replace(")s", "}")).format(
                    **{k: sql.Literal(v) for k, v in params.items()})

            res["explain"] = explains(dsn, {
                "overview_typical": call(OVERVIEW, o=owners[0], now=NOW),
                "overview_large": call(OVERVIEW, o=large, now=NOW),
                "for_route": call(FOR_ROUTE, o=routes[0][0], r=routes[0][1], now=NOW),
            }, out_dir, log)
            t = phase("explain", t)

            by_events = curve_by_events(conn, cfg, scale.seed, streams, keys, log)
            first, last = by_events[0], by_events[-1]
            res["curves"].update({
                "overview_by_events": by_events,
                "overview_by_events_connections": cfg.growth_connections,
                "overview_events_growth": last["events_per_connection"]
                / first["events_per_connection"],
                "overview_flat_ratio": ratio(last["p50_ms"], first["p50_ms"]),
            })
            # The growth owner's overview at its longest history, plans included.
            res["explain"]["overview_growth"] = explains(dsn, {
                "overview_growth": call(OVERVIEW, o="owner-growth", now=NOW),
            }, out_dir, log)["overview_growth"]
            t = phase("curve_events", t)

            plan = inserter.plans[0]
            res["insert"] = insert_costs(conn, cfg, plan.connector_id, plan.instance_id, log)
            t = phase("insert", t)
            res["copy"] = copy_overhead(conn, cfg, scale.seed, streams, keys, log)
            t = phase("copy", t)
    runtime = time.perf_counter() - started_all
    res["meta"] = {
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d}",
        "small": small,
        "command": "python -m bench.suite" + (" --small" if small else ""),
        "runtime_seconds": runtime,
        "phases_seconds": phases,
        "sample_owners": len(owners),
        "sql": measured_sql,
        "machine": {"nproc": os.cpu_count(), "memory_gib": memory_gib(), "cpu": cpu_model(),
                    "kernel": f"{platform.system()} {platform.release()}",
                    "load_average_start": load_start, "load_average_end": os.getloadavg()},
        "postgres": {"version": str(version[0]).split(" on ")[0] if version else "unknown",
                     "server": where, "settings": settings},
        "data": {"owners": stats.owners, "connections": stats.connections,
                 "events": stats.events, "runs": stats.runs, "seed": scale.seed,
                 "generate_seconds": stats.seconds, "load_seconds": stats.load_seconds,
                 "rebuild_seconds": stats.rebuild_seconds,
                 "vacuum_seconds": stats.vacuum_seconds,
                 "triggers_during_load": stats.triggers, "scale": asdict(scale)},
    }
    res["targets"] = targets(res)
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true",
                        help="scaled down (200 owners, 200,000 events): a smoke test")
    parser.add_argument("--out", type=Path,
                        help="directory for suite.json, the EXPLAINs and benchmarks.png "
                             "(default: bench/results and docs/benchmarks.png; "
                             "with --small a temp dir)")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--write-docs", action="store_true",
                      help="write the docs section even for --small / --out")
    docs.add_argument("--no-docs", action="store_true", help="never write docs/benchmarks.md")
    parser.add_argument("--render", type=Path, metavar="SUITE_JSON",
                        help="measure nothing: redraw the plot and rewrite the docs section "
                             "from a suite.json written before (its EXPLAIN files beside it)")
    args = parser.parse_args(argv)
    if args.render is not None:
        res = json.loads(args.render.read_text())
        source = args.render.resolve().parent
        plot_path = PLOT if source == RESULTS.resolve() else source / "benchmarks.png"
        plot(res, plot_path)
        if not args.no_docs:
            write_docs(docs_section(res, os.path.relpath(plot_path, DOCS.parent),
                                    os.path.relpath(source, ROOT)))
            print(f"wrote {DOCS}")
        print(f"wrote {plot_path}")
        return 0
    cfg = SMALL if args.small else FULL
    if args.out is not None:
        out_dir: Path = args.out
        plot_path = out_dir / "benchmarks.png"
    elif args.small:
        out_dir = Path(tempfile.mkdtemp(prefix="cs-bench-small-"))
        plot_path = out_dir / "benchmarks.png"
    else:
        out_dir, plot_path = RESULTS, PLOT
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f} s] {message}", flush=True)

    res = run(cfg, out_dir, args.small, log)
    (out_dir / "suite.json").write_text(json.dumps(res, indent=2, sort_keys=False) + "\n")
    plot(res, plot_path)
    missing = missing_keys(res)
    if missing:
        print(f"suite.json lacks {missing}", file=sys.stderr)
        return 1
    print()
    for t in res["targets"]:
        print(f"{'met    ' if t['met'] else 'NOT MET'} {t['value']:8.2f}x <= {t['target']:g}x  "
              f"{t['name']}")
    write = args.write_docs or (not args.no_docs and not args.small and args.out is None)
    if write:
        plot_ref = os.path.relpath(plot_path, DOCS.parent)
        results_ref = os.path.relpath(out_dir, ROOT)
        write_docs(docs_section(res, plot_ref, results_ref))
        print(f"wrote {DOCS}")
    print(f"wrote {out_dir / 'suite.json'}, {plot_path} "
          f"({res['meta']['runtime_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
