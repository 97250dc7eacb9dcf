"""Structural facts of the read functions (issue 4, docs/contract.md §Scope and paging).

(a) The number of SQL statements executed inside `overview` (and `for_route`),
    counted with pg_stat_statements (track = all, so nested statements count), is
    the same for 1 and for 500 connections: no per-connection statements.
(b) On 2,000 connections and 200,000 spine events, the scoped read and
    diagnostics reach retained_size_streams, retained_size_connections,
    run_evidence, run_heads and spine_events only through indexes, and only the
    resolved connection's rows. The read functions are plpgsql/SQL, so the nested
    plans come from auto_explain (log_nested_statements, JSON, as NOTICEs).
    The overview reads each input table at most once per call, as a set, and
    never spine_events.
(c) No read writes anything: table write counters are unchanged, in the
    transaction (pg_stat_xact_user_tables) and cumulatively (pg_stat_user_tables),
    and every read works in a READ ONLY transaction.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from .conftest import Server, create_database, drop_database

NOW = "2024-06-02 00:00:00+00"
INDEX_ONLY_RELATIONS = frozenset({
    "retained_size_streams", "retained_size_connections", "run_evidence", "run_heads",
    "spine_events", "connection_states",
})
# What a read may touch: the stored per-connection rows, the stored runs they
# name, the leases of unsettled runs; never the operational input tables, whose
# contribution is stored in connection_states.
OPERATIONAL_TABLES = frozenset({
    "connectors", "connections", "retained_size_streams", "retained_size_connections",
    "schedules", "detail_gaps", "attention_records", "browser_surface_leases",
})
# The input tables (docs/input-tables.md).
INPUT_TABLES = frozenset({
    "connectors", "connections", "spine_events", "active_runs", "retained_size_streams",
    "retained_size_connections", "schedules", "detail_gaps", "attention_records",
    "browser_surface_leases",
})
SCAN_NODES = frozenset({
    "Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Tid Scan",
    "Tid Range Scan", "Sample Scan",
})

Conn = psycopg.Connection[tuple[Any, ...]]


# --- fixtures: populated databases -------------------------------------------------------------


def populate(conn: Conn, owner: str, prefix: str, connections: int, connectors: int,
             runs_per_connection: int, progress_events: int) -> None:
    """`connections` connections of `owner` spread over `connectors` connectors (every
    fourth one a browser connector), each with runs, retained sizes, a schedule, a
    detail gap, an attention record and a browser lease. Spine events go in as one
    multi-row INSERT per call, as a runtime would append them."""
    params = {"owner": owner, "prefix": prefix, "n": connections, "k": connectors,
              "runs": runs_per_connection, "progress": progress_events}
    conn.execute(
        "insert into connection_summary.connectors (connector_id, display_name, manifest) "
        "select %(prefix)s || 'k' || k, 'Connector ' || k, "
        "  jsonb_build_object('streams', '[{\"name\": \"a\"}, {\"name\": \"b\"}]'::jsonb, "
        "    'refresh_policy', '{\"maximum_staleness_seconds\": 86400}'::jsonb) "
        "  || case when k %% 4 = 0 then jsonb_build_object('browser_surface', "
        "    jsonb_build_object('profile_key', %(prefix)s || 'web' || k)) else '{}' end "
        "from generate_series(0, %(k)s - 1) as k", params)
    conn.execute(
        "insert into connection_summary.connections (connector_instance_id, owner_id, "
        "  connector_id, status, source_kind, created_at) "
        "select %(prefix)s || 'c' || i, %(owner)s, %(prefix)s || 'k' || (i %% %(k)s), "
        "  case when i %% 50 = 7 then 'paused' when i %% 50 = 9 then 'revoked' "
        "    when i %% 50 = 11 then 'draft' else 'active' end, 'account', "
        "  timestamptz '2024-01-01' + i * interval '1 minute' "
        "from generate_series(0, %(n)s - 1) as i", params)
    conn.execute(
        "insert into connection_summary.spine_events (owner_id, event_type, status, "
        "  source_kind, source_id, run_id, occurred_at, connector_instance_id, data) "
        "select c.owner_id, e.event_type, e.status, 'connector', c.connector_id, "
        "  c.connector_instance_id || '-r' || r, "
        "  timestamptz '2024-05-01' + r * interval '1 hour' + e.minute * interval '1 minute', "
        "  c.connector_instance_id, e.data "
        "from connection_summary.connections as c "
        "cross join generate_series(1, %(runs)s) as r "
        "cross join lateral ("
        "  select 'run.started' as event_type, 'started' as status, 0 as minute, "
        "    '{}'::jsonb as data "
        "  union all select 'run.progress_reported', 'progress', p, '{}'::jsonb "
        "    from generate_series(1, %(progress)s) as p "
        "  union all select case when r %% 5 = 0 then 'run.failed' else 'run.completed' end, "
        "    case when r %% 5 = 0 then 'failed' else 'succeeded' end, %(progress)s + 1, "
        "    case when r %% 5 = 0 then '{\"reason\": \"timeout\"}'::jsonb else "
        "    '{\"known_gaps\": [], \"collection_facts\": {\"streams\": "
        "      [{\"stream\": \"a\", \"collected\": 1, \"considered\": 1}]}}'::jsonb end"
        ") as e "
        "where c.owner_id = %(owner)s and c.connector_instance_id like %(prefix)s || 'c%%'",
        params)
    for statement in (
        "insert into connection_summary.retained_size_streams (connector_instance_id, stream, "
        "  owner_id, connector_id, record_count, current_record_json_bytes, "
        "  record_history_json_bytes, blob_bytes, dirty) "
        "select c.connector_instance_id, s, c.owner_id, c.connector_id, 10, 100, 10, 1, false "
        "from connection_summary.connections as c cross join unnest(array['a', 'b']) as s "
        "where c.owner_id = %(owner)s",
        "insert into connection_summary.retained_size_connections (connector_instance_id, "
        "  owner_id, current_record_json_bytes, record_history_json_bytes, blob_bytes, dirty) "
        "select connector_instance_id, owner_id, 200, 20, 2, false "
        "from connection_summary.connections where owner_id = %(owner)s",
        "insert into connection_summary.schedules (connector_instance_id, owner_id, enabled, "
        "  interval_seconds, next_due_at, last_successful_at, consecutive_failures, "
        "  backoff_next_run_at, backoff_reason_class) "
        "select connector_instance_id, owner_id, true, 3600, timestamptz '2024-06-02 01:00+00', "
        "  timestamptz '2024-06-01', 2, timestamptz '2024-06-02 00:30+00', 'rate_limited' "
        "from connection_summary.connections where owner_id = %(owner)s",
        "insert into connection_summary.detail_gaps (gap_id, owner_id, connector_instance_id, "
        "  stream, status) "
        "select 'g-' || connector_instance_id, owner_id, connector_instance_id, 'a', "
        "  (array['pending', 'recovered', 'terminal'])"
        "  [1 + abs(hashtext(connector_instance_id)) %% 3] "
        "from connection_summary.connections where owner_id = %(owner)s",
        "insert into connection_summary.attention_records (attention_id, owner_id, "
        "  connector_instance_id, lifecycle, reason_code, response_required) "
        "select 'a-' || connector_instance_id, owner_id, connector_instance_id, "
        "  (array['open', 'resolved'])[1 + abs(hashtext(connector_instance_id)) %% 2], 'x', true "
        "from connection_summary.connections where owner_id = %(owner)s",
        "insert into connection_summary.browser_surface_leases (lease_id, owner_id, connector_id, "
        "  profile_key, status, requested_at) "
        "select 'l-' || c.connector_instance_id, c.owner_id, c.connector_id, "
        "  connection_summary.expected_profile_key(c.connector_id, c.connector_instance_id, "
        "    k.manifest), 'surface_failed', timestamptz '2024-06-01' "
        "from connection_summary.connections as c "
        "join connection_summary.connectors as k using (connector_id) "
        "where c.owner_id = %(owner)s",
    ):
        conn.execute(statement, params)


@pytest.fixture(scope="module")
def scaled_db(server: Server, template_db: str) -> Iterator[str]:
    """Owner 'one' with 1 connection; owner 'many' with 500 (over 40 connectors)."""
    name = create_database(server, template=template_db, prefix="cs_scaled")
    conninfo = server.conninfo(name)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            populate(conn, "one", "one-", 1, 1, 3, 1)
            populate(conn, "many", "many-", 500, 40, 3, 1)
            conn.execute("analyze")
        yield conninfo
    finally:
        drop_database(server, name)


@pytest.fixture(scope="module")
def big_db(server: Server, template_db: str) -> Iterator[str]:
    """2,000 connections (1,500 of owner 'big', 500 of four others) and 200,000
    spine events (25 runs of 4 events per connection).

    For speed the events are appended with the refold trigger off and the read model
    is then built by rebuild_run_evidence() -- the package's own repair path, which
    produces exactly what the trigger would.
    """
    name = create_database(server, template=template_db, prefix="cs_big")
    conninfo = server.conninfo(name)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("set session_replication_role = replica")
            populate(conn, "big", "big-", 1500, 20, 25, 2)
            for n in range(4):
                populate(conn, f"other{n}", f"o{n}-", 125, 5, 25, 2)
            # Stale leases of every connection's newest run (a runtime that died).
            conn.execute(
                "insert into connection_summary.active_runs (run_id, owner_id, "
                "connector_instance_id, lease_expires_at) "
                "select connector_instance_id || '-r25', owner_id, connector_instance_id, "
                "timestamptz '2024-06-01' from connection_summary.connections")
            conn.execute("set session_replication_role = origin")
            conn.execute("select connection_summary.rebuild_run_evidence()")
            conn.execute("analyze")
            counts = conn.execute(
                "select (select count(*) from connection_summary.connections), "
                "(select count(*) from connection_summary.spine_events)").fetchone()
        assert counts == (2000, 200000)
        yield conninfo
    finally:
        drop_database(server, name)


# --- (a) statement counts ----------------------------------------------------------------------


@dataclass(frozen=True)
class StatementCounts:
    """Calls per statement (pg_stat_statements queryid) during one top-level call."""

    calls: Counter[int]
    texts: dict[int, str]

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def __str__(self) -> str:
        return "\n".join(f"  {n} x {self.texts[q][:100]}" for q, n in sorted(self.calls.items()))


def statements_executed(conn: Conn, query: str, params: dict[str, Any]) -> StatementCounts:
    """Run `query` once after a pg_stat_statements reset; count the statements executed in
    this database, top-level and nested. Statements are told apart by queryid: the stored
    text of one statement may come with or without its constants normalized."""
    conn.execute("select pg_stat_statements_reset()")
    conn.execute(query, params).fetchall()
    rows = conn.execute(
        "select queryid, min(query), sum(calls) from pg_stat_statements "
        "where dbid = (select oid from pg_database where datname = current_database()) "
        "and query not like %(reset)s group by queryid",
        {"reset": "%pg_stat_statements%"}).fetchall()
    return StatementCounts(
        calls=Counter({int(q): int(n) for q, _, n in rows}),
        texts={int(q): " ".join(str(t).split()) for q, t, _ in rows})


OVERVIEW_CALL = ("select * from connection_summary.overview("
                 "p_owner_id => %(owner)s, p_now => %(now)s)")
FOR_ROUTE_CALL = ("select * from connection_summary.for_route("
                  "p_owner_id => %(owner)s, p_route_id => %(route)s, p_now => %(now)s)")


def test_statement_counter_sees_nested_statements(scaled_db: str) -> None:
    """The measurement can fail: pg_stat_statements tracks nested statements here, and a
    per-connection statement shows up as calls growing with the number of rows."""
    with psycopg.connect(scaled_db, autocommit=True) as conn:
        track = conn.execute("select current_setting('pg_stat_statements.track')").fetchone()
        assert track == ("all",)
        per_row = ("select connection_summary.for_route_json(c.owner_id, c.connector_instance_id, "
                   "%(now)s) from connection_summary.connections as c "
                   "where c.owner_id = %(owner)s and c.status <> 'draft' limit %(n)s")
        one = statements_executed(conn, per_row, {"owner": "many", "now": NOW, "n": 1})
        five = statements_executed(conn, per_row, {"owner": "many", "now": NOW, "n": 5})
    assert one.total > 1, str(one)
    assert five.total > one.total, f"1 row:\n{one}\n5 rows:\n{five}"


def test_overview_runs_the_same_statements_for_1_and_500_connections(scaled_db: str) -> None:
    with psycopg.connect(scaled_db, autocommit=True) as conn:
        rows_one = conn.execute(OVERVIEW_CALL, {"owner": "one", "now": NOW}).fetchall()
        rows_many = conn.execute(OVERVIEW_CALL, {"owner": "many", "now": NOW}).fetchall()
        one = statements_executed(conn, OVERVIEW_CALL, {"owner": "one", "now": NOW})
        many = statements_executed(conn, OVERVIEW_CALL, {"owner": "many", "now": NOW})
    # 500 connections of which every 50th (from 11) is a draft: 490 rows.
    assert (len(rows_one), len(rows_many)) == (1, 490)
    assert one.total > 1, "nested statements must be visible"
    assert one.calls == many.calls, f"1 connection:\n{one}\n500 connections:\n{many}"
    print(f"\noverview statements: 1 connection = {one.total}, 500 connections = {many.total}"
          f"\n{many}")


def test_connection_state_maintenance_runs_the_same_statements_for_1_and_50_connections(
        scaled_db: str) -> None:
    """The commit-time recomputation of connection_states is set-based: one write
    touching the schedules of 50 connections runs the same statements as one touching 1
    (every rule inlined; a rule executed once per connection would show up here)."""
    touch = ("with touched as (update connection_summary.schedules set consecutive_failures = "
             "consecutive_failures where owner_id = 'many' and connector_instance_id in ("
             "select connector_instance_id from connection_summary.connections "
             "where owner_id = 'many' order by connector_instance_id limit %(n)s) returning 1) "
             "select count(*) from touched")
    with psycopg.connect(scaled_db, autocommit=True) as conn:
        statements_executed(conn, touch, {"n": 1})  # plans cached in this session first
        one = statements_executed(conn, touch, {"n": 1})
        fifty = statements_executed(conn, touch, {"n": 50})
    assert one.total > 3, f"the maintenance statements must be visible:\n{one}"
    assert one.calls == fifty.calls, f"1 connection:\n{one}\n50 connections:\n{fifty}"


def test_paged_overview_runs_the_same_statements_for_any_page_size(scaled_db: str) -> None:
    query = ("select * from connection_summary.overview(p_owner_id => %(owner)s, "
             "p_now => %(now)s, p_limit => %(limit)s)")
    with psycopg.connect(scaled_db, autocommit=True) as conn:
        small = statements_executed(conn, query, {"owner": "many", "now": NOW, "limit": 1})
        large = statements_executed(conn, query, {"owner": "many", "now": NOW, "limit": 1000})
    assert small.calls == large.calls, f"p_limit 1:\n{small}\np_limit 1000:\n{large}"


def test_for_route_runs_the_same_statements_for_1_and_500_connections(scaled_db: str) -> None:
    with psycopg.connect(scaled_db, autocommit=True) as conn:
        params_one = {"owner": "one", "route": "one-c0", "now": NOW}
        params_many = {"owner": "many", "route": "many-c400", "now": NOW}
        assert len(conn.execute(FOR_ROUTE_CALL, params_one).fetchall()) == 1
        assert len(conn.execute(FOR_ROUTE_CALL, params_many).fetchall()) == 1
        one = statements_executed(conn, FOR_ROUTE_CALL, params_one)
        many = statements_executed(conn, FOR_ROUTE_CALL, params_many)
    assert one.total > 1
    assert one.calls == many.calls, f"1 connection:\n{one}\n500 connections:\n{many}"
    print(f"\nfor_route statements: 1 connection = {one.total}, 500 connections = {many.total}"
          f"\n{many}")


# --- (b) plans ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanNode:
    statement: str
    node_type: str
    relation: str
    index: str | None
    condition: str
    actual_rows: float | None
    actual_loops: float | None
    rows_removed: float


def nested_plans(conninfo: str, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every plan auto_explain logs (as JSON NOTICEs) while `query` runs, nested ones too."""
    notices: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_nested_statements = on",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_timing = off",
            "SET auto_explain.log_format = 'json'",
            "SET auto_explain.log_level = 'notice'",
            "SET client_min_messages = 'notice'",
        ):
            conn.execute(setting)
        conn.execute(query, params).fetchall()
    plans = []
    for message in notices:
        start = message.find("{")
        if start >= 0:
            plans.append(json.loads(message[start:]))
    return plans


_SPINE_PARTITION = re.compile(r"^spine_events_p\d+$")


def _table_of(relation: str) -> str:
    """A partition of spine_events counts as spine_events (its parent, which plans name
    only through its partitions)."""
    return "spine_events" if _SPINE_PARTITION.match(relation) else relation


def scan_nodes(plans: list[dict[str, Any]]) -> list[ScanNode]:
    found: list[ScanNode] = []

    def walk(node: dict[str, Any], statement: str) -> None:
        if node.get("Node Type") in SCAN_NODES and "Relation Name" in node:
            index = node.get("Index Name")
            condition = str(node.get("Index Cond") or node.get("Recheck Cond") or "")
            if node["Node Type"] == "Bitmap Heap Scan":
                children = [c for c in node.get("Plans", [])
                            if c.get("Node Type") == "Bitmap Index Scan"]
                index = ",".join(str(c.get("Index Name")) for c in children) or None
            found.append(ScanNode(
                statement=statement, node_type=str(node["Node Type"]),
                relation=_table_of(str(node["Relation Name"])), index=index, condition=condition,
                actual_rows=node.get("Actual Rows"), actual_loops=node.get("Actual Loops"),
                rows_removed=float(node.get("Rows Removed by Filter", 0))
                + float(node.get("Rows Removed by Index Recheck", 0))))
        for child in node.get("Plans", []):
            walk(child, statement)

    for plan in plans:
        walk(plan["Plan"], " ".join(str(plan.get("Query Text", "")).split())[:80])
    return found


def index_only_violations(nodes: list[ScanNode]) -> list[str]:
    return [f"{n.node_type} on {n.relation} in: {n.statement}" for n in nodes
            if n.relation in INDEX_ONLY_RELATIONS
            and n.node_type not in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan")]


def describe(nodes: list[ScanNode]) -> str:
    lines = Counter(f"{n.relation}: {n.node_type}"
                    + (f" using {n.index} ({n.condition[:90]})" if n.index else "")
                    for n in nodes)
    return "\n".join(f"{line}{f'  [x{count}]' if count > 1 else ''}"
                     for line, count in sorted(lines.items()))


def test_plan_walk_detects_a_seq_scan(big_db: str) -> None:
    """The check can fail: a query that must scan run_evidence whole is reported."""
    plans = nested_plans(big_db, "select count(*) from connection_summary.run_evidence "
                         "where event_count > %(n)s", {"n": 0})
    violations = index_only_violations(scan_nodes(plans))
    assert violations
    assert "Seq Scan on run_evidence" in violations[0]


SCOPED_ROUTE = "big-c776"  # active, of browser connector big-k16, with 74 siblings


def test_scoped_read_uses_only_indexes_and_the_connections_rows(big_db: str) -> None:
    plans = nested_plans(big_db, FOR_ROUTE_CALL,
                         {"owner": "big", "route": SCOPED_ROUTE, "now": NOW})
    nodes = scan_nodes(plans)
    assert len(plans) >= 3, "nested statements must be explained"
    assert not index_only_violations(nodes), describe(nodes)
    relations = {n.relation for n in nodes}
    assert {"connection_states", "run_evidence"} <= relations, describe(nodes)
    assert not relations & OPERATIONAL_TABLES, describe(nodes)
    assert "spine_events" not in relations, describe(nodes)
    # Only the route's rows: its stored state (the route lookups by key) and its
    # three head runs, each by its full key.
    for node in nodes:
        if node.relation == "connection_states":
            assert (node.actual_rows or 0) * (node.actual_loops or 1) <= 1, node
        if node.relation == "run_evidence":
            assert node.index == "run_evidence_pkey", describe(nodes)
            assert (node.actual_rows or 0) * (node.actual_loops or 1) <= 1, node
        if node.relation in ("connection_states", "run_evidence"):
            assert node.rows_removed == 0, node
    print("\nscoped read plan:\n" + describe(nodes))


def test_diagnostics_uses_only_indexes_and_the_connections_rows(big_db: str) -> None:
    query = ("select connection_summary.diagnostics(p_owner_id => %(owner)s, "
             "p_route_id => %(route)s, p_now => %(now)s)")
    plans = nested_plans(big_db, query, {"owner": "big", "route": SCOPED_ROUTE, "now": NOW})
    nodes = scan_nodes(plans)
    assert not index_only_violations(nodes), describe(nodes)
    relations = {n.relation for n in nodes}
    assert {"connection_states", "run_evidence", "spine_events"} <= relations, describe(nodes)
    assert not relations & OPERATIONAL_TABLES, describe(nodes)
    for node in nodes:
        if node.relation == "connection_states":
            assert (node.actual_rows or 0) * (node.actual_loops or 1) <= 1, node
        if node.relation == "spine_events":
            # Only the latest run's 4 events, found by (source_kind, source_id, run_id).
            assert "run_id" in node.condition, node
            assert (node.actual_rows or 0) * (node.actual_loops or 1) <= 4, node
            assert node.rows_removed == 0, node
    print("\ndiagnostics plan:\n" + describe(nodes))


def test_overview_reads_each_input_table_at_most_once_and_never_spine_events(
        scaled_db: str) -> None:
    """docs/contract.md §Scope and paging: the overview reads each table at most once per
    call (one scan node each, index-bound) and takes run evidence from the stored read
    model, never from spine_events. With the stored connection states it reads none of
    the operational input tables at all: one range scan of the owner's states, then each
    state's head runs by key."""
    plans = nested_plans(scaled_db, OVERVIEW_CALL, {"owner": "many", "now": NOW})
    nodes = scan_nodes(plans)
    reads = Counter(n.relation for n in nodes if not n.relation.startswith("pg_"))
    assert "spine_events" not in reads, describe(nodes)
    assert not set(reads) & OPERATIONAL_TABLES, describe(nodes)
    assert reads["connection_states"] == 1, describe(nodes)
    assert not index_only_violations(nodes), describe(nodes)
    # The three heads of each connection: three run_evidence lookups, one row each.
    assert reads["run_evidence"] == 3, describe(nodes)
    assert reads["active_runs"] <= 1, describe(nodes)
    for node in nodes:
        if node.relation == "run_evidence":
            assert node.index == "run_evidence_pkey", describe(nodes)
            assert (node.actual_rows or 0) <= (node.actual_loops or 1), node


# --- (c) reads never write ---------------------------------------------------------------------


READS: list[tuple[str, dict[str, Any]]] = [
    (OVERVIEW_CALL, {"owner": "many", "now": NOW}),
    ("select * from connection_summary.overview(p_owner_id => %(owner)s, p_now => %(now)s, "
     "p_limit => 10)", {"owner": "many", "now": NOW}),
    (FOR_ROUTE_CALL, {"owner": "many", "route": "many-c400", "now": NOW}),
    ("select connection_summary.diagnostics(p_owner_id => %(owner)s, p_route_id => %(route)s, "
     "p_now => %(now)s)", {"owner": "many", "route": "many-c400", "now": NOW}),
    ("select connection_summary.overview_json(p_owner_id => %(owner)s, p_now => %(now)s)",
     {"owner": "many", "now": NOW}),
    ("select connection_summary.for_route_json(p_owner_id => %(owner)s, p_route_id => %(route)s, "
     "p_now => %(now)s)", {"owner": "one", "route": "one-k0", "now": NOW}),
]


def cumulative_writes(conninfo: str) -> dict[str, tuple[int, int, int]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        rows = conn.execute(
            "select relname, n_tup_ins, n_tup_upd, n_tup_del from pg_stat_user_tables "
            "where schemaname = 'connection_summary'").fetchall()
    return {str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows}


def run_and_flush(conninfo: str, statements: list[tuple[str, dict[str, Any]]]) -> None:
    """Run statements in one session, then force its pending table stats out."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for query, params in statements:
            cursor = conn.execute(query, params)
            if cursor.description is not None:
                cursor.fetchall()
        conn.execute("select pg_stat_force_next_flush()")
        conn.execute("select 1")


def test_reads_leave_the_write_counters_unchanged(scaled_db: str) -> None:
    before = cumulative_writes(scaled_db)
    run_and_flush(scaled_db, READS * 2)
    after = cumulative_writes(scaled_db)
    assert after == before
    # The method can fail: one real write moves the counters.
    run_and_flush(scaled_db, [(
        "insert into connection_summary.detail_gaps (gap_id, owner_id, connector_instance_id, "
        "status) values ('probe', 'one', 'one-c0', 'recovered')", {})])
    moved = cumulative_writes(scaled_db)
    assert moved["detail_gaps"][0] == before["detail_gaps"][0] + 1
    run_and_flush(scaled_db, [(
        "delete from connection_summary.detail_gaps where gap_id = 'probe'", {})])


def test_reads_write_nothing_in_their_transaction(scaled_db: str) -> None:
    with psycopg.connect(scaled_db) as conn:
        for query, params in READS:
            conn.execute(query, params).fetchall()
        written = conn.execute(
            "select relname, n_tup_ins, n_tup_upd, n_tup_del from pg_stat_xact_user_tables "
            "where n_tup_ins + n_tup_upd + n_tup_del > 0").fetchall()
        assert written == []
        # Sensitivity: a write inside the same transaction shows up at once.
        conn.execute("insert into connection_summary.detail_gaps (gap_id, owner_id, "
                     "connector_instance_id, status) values ('probe2', 'one', 'one-c0', 'pending')")
        probe = conn.execute(
            "select n_tup_ins from pg_stat_xact_user_tables where relname = 'detail_gaps'"
        ).fetchone()
        assert probe == (1,)
        conn.rollback()


def test_reads_work_in_a_read_only_transaction(scaled_db: str) -> None:
    with psycopg.connect(scaled_db) as conn:
        conn.execute("set transaction read only")
        assert conn.execute("show transaction_read_only").fetchone() == ("on",)
        results = [conn.execute(query, params).fetchall() for query, params in READS]
        assert all(results)
        # And the transaction really refuses writes.
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("insert into connection_summary.detail_gaps (gap_id, owner_id, "
                         "connector_instance_id, status) values ('x', 'one', 'one-c0', 'pending')")
        conn.rollback()
    with psycopg.connect(scaled_db, autocommit=True,
                         options="-c default_transaction_read_only=on") as conn:
        assert all(conn.execute(query, params).fetchall() for query, params in READS)
