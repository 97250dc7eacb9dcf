"""Overview read benchmark: the set-based overview against a per-connection fan-out
baseline (what the original system did) and against the floor (a bare indexed
read of the same number of stored per-connection rows), in one run.

    python -m bench.overview [--connections 1000] [--events 1000000] [--repeat 15]

Prints medians and ratios; `--growth` repeats the overview measurement after
growing the events 10x for the same connections, to show it stays flat.
Not a test: numbers depend on the machine. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack

import psycopg

from connection_summary import migrate
from connection_summary.localpg import database_url

OWNER = "bench-owner"
NOW = "2026-06-01 00:00:00+00"

# Per-connection reads of the original system: sizes, schedule, and the run
# history folded from spine_events for the connector, attributed in the client.
FAN_OUT_QUERIES = (
    "select * from connection_summary.retained_size_streams "
    "where owner_id = %(o)s and connector_instance_id = %(c)s",
    "select * from connection_summary.retained_size_connections "
    "where owner_id = %(o)s and connector_instance_id = %(c)s",
    "select * from connection_summary.schedules "
    "where owner_id = %(o)s and connector_instance_id = %(c)s",
    "select * from connection_summary.run_evidence_live "
    "where owner_id = %(o)s and source_kind = 'connector' and source_id = %(k)s",
)


def load(conn: psycopg.Connection[tuple[object, ...]], connections: int, events: int,
         offset: int = 0) -> None:
    """Synthetic data: `connections` connections over connections/4 connectors
    (siblings with browser profile keys), runs of 10 events spread over them."""
    connectors = max(1, connections // 4)
    runs = max(1, events // 10)
    if offset == 0:
        conn.execute(
            "insert into connection_summary.connectors (connector_id, display_name, manifest) "
            "select 'k' || g, 'Connector ' || g, jsonb_build_object("
            "  'streams', jsonb_build_array(jsonb_build_object('name', 'a'), "
            "                               jsonb_build_object('name', 'b')),"
            "  'refresh_policy', jsonb_build_object('maximum_staleness_seconds', 86400)) "
            "from generate_series(1, %(n)s) g", {"n": connectors})
        conn.execute(
            "insert into connection_summary.connections "
            "(connector_instance_id, owner_id, connector_id, status, created_at) "
            "select 'c' || g, %(o)s, 'k' || (1 + g %% %(k)s), 'active', "
            "       timestamptz '2025-01-01' + g * interval '1 minute' "
            "from generate_series(1, %(n)s) g", {"o": OWNER, "n": connections, "k": connectors})
        for table, extra in (
            ("retained_size_streams (connector_instance_id, stream, owner_id, record_count, "
             "current_record_json_bytes, record_history_json_bytes, blob_bytes)",
             "select 'c' || g, s, %(o)s, 100, 1000, 10, 0 from generate_series(1, %(n)s) g, "
             "unnest(array['a', 'b']) s"),
            ("retained_size_connections (connector_instance_id, owner_id, "
             "current_record_json_bytes, record_history_json_bytes, blob_bytes)",
             "select 'c' || g, %(o)s, 2000, 20, 0 from generate_series(1, %(n)s) g"),
            ("schedules (connector_instance_id, owner_id, enabled, interval_seconds, next_due_at)",
             "select 'c' || g, %(o)s, true, 3600, %(now)s::timestamptz + interval '1 hour' "
             "from generate_series(1, %(n)s) g"),
        ):
            conn.execute(f"insert into connection_summary.{table} {extra}",
                         {"o": OWNER, "n": connections, "now": NOW})
    # Events: run r belongs to connection 1 + r % connections, stamped with its
    # expected profile key, ten events each, the last one terminal.
    conn.execute("alter table connection_summary.spine_events "
                 "disable trigger spine_events_refold_runs")
    conn.execute(
        "insert into connection_summary.spine_events "
        "(owner_id, event_type, status, source_kind, source_id, run_id, occurred_at, data) "
        "select %(o)s, case e when 0 then 'run.started' when 9 then 'run.completed' "
        "                  else 'run.browser_surface_leased' end, "
        "       case e when 9 then (case when r %% 7 = 0 then 'failed' else 'succeeded' end) "
        "              when 0 then null else 'leased' end, "
        "       'connector', 'k' || (1 + (1 + r %% %(n)s) %% %(k)s), 'run-' || r, "
        "       timestamptz '2025-06-01' + r * interval '10 seconds' + e * interval '1 second', "
        "       case when e between 1 and 8 then jsonb_build_object('browser_surface', "
        "            jsonb_build_object('browser_surface_profile_key', "
        "              'k' || (1 + (1 + r %% %(n)s) %% %(k)s) || ':c' || (1 + r %% %(n)s))) "
        "            else '{}'::jsonb end "
        "from generate_series(%(start)s::bigint, %(stop)s::bigint) r, generate_series(0, 9) e",
        {"o": OWNER, "n": connections, "k": connectors, "start": offset + 1,
         "stop": offset + runs})
    conn.execute("alter table connection_summary.spine_events "
                 "enable trigger spine_events_refold_runs")
    conn.execute("select connection_summary.rebuild_run_evidence()")
    conn.execute("analyze")


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm caches and plans
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def measure(conn: psycopg.Connection[tuple[object, ...]], repeat: int) -> dict[str, float]:
    ids = [(str(r[0]), str(r[1])) for r in conn.execute(
        "select connector_instance_id, connector_id from connection_summary.connections "
        "where owner_id = %(o)s", {"o": OWNER}).fetchall()]

    def overview() -> object:
        return conn.execute(
            "select * from connection_summary.overview(p_owner_id => %(o)s, p_now => %(now)s)",
            {"o": OWNER, "now": NOW}).fetchall()

    def floor() -> object:
        return conn.execute(
            "select * from connection_summary.schedules where owner_id = %(o)s",
            {"o": OWNER}).fetchall()

    def fan_out() -> object:
        rows = []
        for connection_id, connector_id in ids:
            for query in FAN_OUT_QUERIES:
                rows.append(conn.execute(
                    query, {"o": OWNER, "c": connection_id, "k": connector_id}).fetchall())
        return rows

    return {
        "overview_ms": median_ms(overview, repeat),
        "floor_ms": median_ms(floor, repeat),
        "fan_out_ms": median_ms(fan_out, max(3, repeat // 5)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--growth", action="store_true",
                        help="grow events 10x and measure the overview again")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = stack.enter_context(database_url())
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("drop database if exists cs_bench_overview with (force)")
            admin.execute("create database cs_bench_overview")
        dsn = psycopg.conninfo.make_conninfo(url, dbname="cs_bench_overview")
        migrate(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            started = time.perf_counter()
            load(conn, args.connections, args.events)
            print(f"loaded {args.connections} connections, {args.events} events "
                  f"in {time.perf_counter() - started:.1f} s "
                  f"(server {conn.info.server_version})")
            result = measure(conn, args.repeat)
            print(f"overview              {result['overview_ms']:9.2f} ms")
            print(f"floor (indexed read)  {result['floor_ms']:9.2f} ms")
            print(f"fan-out baseline      {result['fan_out_ms']:9.2f} ms")
            print(f"baseline / overview   {result['fan_out_ms'] / result['overview_ms']:9.1f} x")
            print(f"overview / floor      {result['overview_ms'] / result['floor_ms']:9.1f} x")
            if args.growth:
                load(conn, args.connections, args.events * 9, offset=args.events // 10)
                grown = median_ms(lambda: conn.execute(
                    "select * from connection_summary.overview(p_owner_id => %(o)s, "
                    "p_now => %(now)s)", {"o": OWNER, "now": NOW}).fetchall(), args.repeat)
                print(f"overview at {args.events * 10} events {grown:9.2f} ms "
                      f"({grown / result['overview_ms']:.2f}x of the first)")
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("drop database if exists cs_bench_overview with (force)")


if __name__ == "__main__":
    main()
