"""Run evidence lookups are index-backed on a big table (issue 3 §3).

On 100,000+ spine events (20,000 runs, 2,000 connections, two owners),
ANALYZEd, with the plans of every statement -- the top-level one and those
nested inside SQL and PL/pgSQL functions and the trigger -- collected through
auto_explain (log_nested_statements, JSON, sent to the client as NOTICEs):

(a) attributed_runs(..., p_deep => true) for one connection does no Seq Scan
    on spine_events, run_evidence or run_heads, reads the run_evidence_claim_*
    indexes, and reads a handful of run rows, not the connection's history;
(b) the trigger's refold for a single-row INSERT reaches the run's events
    through spine_events_source_run_idx;
(c) the stored head lookup run_claim_heads() uses the three run_evidence_claim_*
    indexes.

A last test checks that the deep lookup does not depend on fresh statistics:
before any ANALYZE it must still probe run_evidence a bounded number of times.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from .conftest import Server, create_database, drop_database

Conn = psycopg.Connection[tuple[Any, ...]]
Plan = dict[str, Any]

NOW = datetime(2024, 7, 1, tzinfo=UTC)
READ_MODEL = {"spine_events", "run_evidence", "run_heads"}
CLAIM_INDEXES = {"run_evidence_latest_by_claim_idx", "run_evidence_succeeded_by_claim_idx",
                 "run_evidence_terminal_by_claim_idx"}
INDEX_NODES = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}

# --- collecting plans ------------------------------------------------------------------------


def collect_plans(conninfo: str, statements: list[tuple[str, tuple[Any, ...]]],
                  analyze: bool = False, rollback: bool = False,
                  timeout: str = "0") -> list[Plan]:
    """Run `statements` on a fresh connection; return the plan of every statement executed.

    auto_explain logs each executor run, nested ones included, as a JSON plan
    at level NOTICE, which the server sends to this client.
    """
    messages: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: messages.append(diag.message_primary or ""))
        for setting in (
            "load 'auto_explain'",
            "set auto_explain.log_min_duration = 0",
            "set auto_explain.log_nested_statements = on",
            "set auto_explain.log_format = json",
            "set auto_explain.log_level = notice",
            f"set auto_explain.log_analyze = {'on' if analyze else 'off'}",
            "set auto_explain.log_timing = off",
            "set client_min_messages = notice",
            f"set statement_timeout = '{timeout}'",
        ):
            conn.execute(setting.encode())
        with conn.transaction(force_rollback=rollback):
            # Fold at each statement's end, so a rolled-back insert's
            # maintenance still runs (and is explained).
            conn.execute(b"set constraints connection_summary.run_maintenance_on_commit immediate")
            for query, params in statements:
                conn.execute(query.encode(), params)
    plans = []
    for message in messages:
        if "plan:" in message and "{" in message:
            plans.append(json.loads(message[message.index("{"):]))
    assert plans, f"auto_explain sent no plans; notices: {messages[:3]}"
    return plans


def nodes(plan: Plan) -> Iterator[Plan]:
    """Every plan node of one auto_explain entry (or of a sub-plan)."""
    stack = [plan["Plan"]] if "Plan" in plan else [plan]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.get("Plans", []))


def all_nodes(plans: list[Plan]) -> list[Plan]:
    return [node for plan in plans for node in nodes(plan)]


def seq_scans_on_read_model(plans: list[Plan]) -> list[str]:
    return [f"{node['Relation Name']} in: {plan.get('Query Text', '')[:200]}"
            for plan in plans for node in nodes(plan)
            if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in READ_MODEL]


def index_names(plans: list[Plan]) -> set[str]:
    return {node["Index Name"] for node in all_nodes(plans)
            if node["Node Type"] in INDEX_NODES and "Index Name" in node}


def run_rows_read(plans: list[Plan], relation: str = "run_evidence") -> int:
    """Rows a statement pulled from `relation` (returned + filtered out), over all loops."""
    total = 0
    for node in all_nodes(plans):
        if node.get("Relation Name") != relation:
            continue
        loops = int(node.get("Actual Loops", 1))
        total += int(float(node.get("Actual Rows", 0)) * loops)
        total += int(float(node.get("Rows Removed by Filter", 0)) * loops)
        total += int(float(node.get("Rows Removed by Index Recheck", 0)) * loops)
    return total


def text_plan(conn: Conn, query: str, params: tuple[Any, ...]) -> str:
    rows = conn.execute(f"explain (analyze, costs off, timing off, summary on) {query}".encode(),
                        params).fetchall()
    return "\n".join(str(row[0]) for row in rows)


# --- the big database ------------------------------------------------------------------------
# Owner A: 20 connectors 'shop-KK' (manifest profile key 'baseK') x 100 connections
# 'c-KK-III' (every tenth paused) and 'mail' with its sole active 'mail-solo';
# owner B: five connections of shop-00/shop-01. 20,000 runs of 5 events each.
# Run r: owner B when r % 50 = 49; connector 'mail' when r % 97 = 0, else shop-(r % 20);
# connection c-KK-III with KK = r % 20 and III = 0 when r % 3 = 0 (so each c-KK-000
# has ~330 runs), else (r / 20) % 100; stamped by (r / 2000) % 10: 0-5 its profile
# key on the lease event, 6-8 its id in connector_instance_id, 9 nothing.
# Terminal status: failed when r % 4 = 0, else succeeded. last_at = r minutes + 4 s.
RUNS = 20_000

_LOAD = [
    """insert into connection_summary.connectors (connector_id, manifest)
    select 'shop-' || lpad(k::text, 2, '0'),
           jsonb_build_object('browser_surface', jsonb_build_object('profile_key', 'base' || k))
    from generate_series(0, 19) as k""",
    "insert into connection_summary.connectors (connector_id) values ('mail')",
    """insert into connection_summary.connections
        (connector_instance_id, owner_id, connector_id, status)
    select 'c-' || lpad(k::text, 2, '0') || '-' || lpad(i::text, 3, '0'), 'A',
           'shop-' || lpad(k::text, 2, '0'), case when i % 10 = 9 then 'paused' else 'active' end
    from generate_series(0, 19) as k, generate_series(0, 99) as i""",
    """insert into connection_summary.connections
        (connector_instance_id, owner_id, connector_id, status)
    values ('mail-solo', 'A', 'mail', 'active')""",
    """insert into connection_summary.connections
        (connector_instance_id, owner_id, connector_id, status)
    select 'b-' || i, 'B', 'shop-0' || (i % 2), 'active' from generate_series(0, 4) as i""",
    f"""insert into connection_summary.spine_events (
        owner_id, event_type, status, source_kind, source_id, run_id, occurred_at,
        connector_instance_id, data
    )
    select
        case when r % 50 = 49 then 'B' else 'A' end,
        e.event_type,
        case when e.event_type = 'run.completed' and r % 4 = 0 then 'failed' else e.status end,
        'connector',
        case when r % 97 = 0 then 'mail' else 'shop-' || lpad((r % 20)::text, 2, '0') end,
        'run-' || r,
        timestamptz '2024-01-01 00:00:00+00' + make_interval(mins => r, secs => e.n),
        case when (r / 2000) % 10 between 6 and 8 and e.n = 0 then c.id end,
        case when (r / 2000) % 10 < 6 and e.event_type = 'run.browser_surface_leased'
            then jsonb_build_object('browser_surface', jsonb_build_object(
                'browser_surface_profile_key', 'base' || (r % 20) || ':' || c.id,
                'browser_surface_wait_reason', 'queue'))
            when e.event_type = 'run.completed'
            then '{{"known_gaps": [], "collection_facts": {{"streams": []}}}}'::jsonb
            else '{{}}'::jsonb end
    from generate_series(0, {RUNS} - 1) as r
    cross join lateral (
        select 'c-' || lpad((r % 20)::text, 2, '0') || '-'
            || lpad((case when r % 3 = 0 then 0 else (r / 20) % 100 end)::text, 3, '0') as id
    ) as c
    cross join (values
        (0, 'run.started', 'started'),
        (1, 'run.browser_surface_leased', 'leased'),
        (2, 'run.progress_reported', null),
        (3, 'run.progress_reported', 'running'),
        (4, 'run.completed', 'succeeded')
    ) as e (n, event_type, status)""",
]


def expected_heads(connection_id: str) -> tuple[str | None, str | None]:
    """(last run, last successful run) of an owner-A connection, from the generator's rules.

    docs/contract.md §Attribution: a profile-stamped run is C's iff its key is C's expected key
    ('baseK:' + id), an id-stamped one iff the id is C's, an unstamped one iff C is
    its connector's only active connection (only 'mail-solo'). Latest = greatest
    last_at, i.e. greatest r here.
    """
    mine, succeeded = [], []
    for r in range(RUNS):
        if r % 50 == 49:
            continue  # owner B
        connector = "mail" if r % 97 == 0 else f"shop-{r % 20:02d}"
        stamped_id = f"c-{r % 20:02d}-{0 if r % 3 == 0 else (r // 20) % 100:03d}"
        stamp = (r // 2000) % 10
        if connection_id == "mail-solo":
            belongs = connector == "mail" and stamp == 9
        else:
            belongs = (connector == f"shop-{connection_id[2:4]}" and stamp < 9
                       and stamped_id == connection_id)
        if belongs:
            mine.append(r)
            if r % 4:
                succeeded.append(r)
    return (f"run-{max(mine)}" if mine else None,
            f"run-{max(succeeded)}" if succeeded else None)


@pytest.fixture(scope="module")
def big_db(server: Server, template_db: str) -> Iterator[str]:
    """100,000 events, the read model rebuilt from them, ANALYZEd."""
    name = create_database(server, template=template_db, prefix="cs_plans")
    conninfo = server.conninfo(name)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            # Bulk load without the trigger, then the repair path builds the model.
            conn.execute("alter table connection_summary.spine_events "
                         "disable trigger spine_events_refold_runs")
            for statement in _LOAD:
                conn.execute(statement.encode())
            conn.execute("alter table connection_summary.spine_events "
                         "enable trigger spine_events_refold_runs")
            conn.execute("select connection_summary.rebuild_run_evidence()")
            conn.execute("analyze")
        yield conninfo
    finally:
        drop_database(server, name)


TARGETS = ["c-07-042", "c-00-000", "c-03-019", "c-09-000", "mail-solo"]


def test_big_database_shape_and_heads(big_db: str) -> None:
    with psycopg.connect(big_db) as conn:
        events, runs, heads = conn.execute(
            "select (select count(*) from connection_summary.spine_events), "
            "(select count(*) from connection_summary.run_evidence), "
            "(select count(*) from connection_summary.run_heads)").fetchone() or (0, 0, 0)
        assert events >= 100_000
        assert runs == RUNS
        assert heads > 2_000
        assert conn.execute("select count(*) from cs_test.run_evidence_diff()").fetchone() == (0,)
        assert conn.execute("select count(*) from cs_test.run_heads_diff()").fetchone() == (0,)
        for deep in (False, True):
            got = conn.execute(
                "select a.connector_instance_id, a.last_run ->> 'run_id', "
                "a.last_successful_run ->> 'run_id' from cs_test.attributed_runs("
                "'A', %s, %s, %s) as a order by 1", (TARGETS, NOW, deep)).fetchall()
            assert got == sorted((c, *expected_heads(c)) for c in TARGETS), f"deep={deep}"


DEEP = ("select * from cs_test.attributed_runs("
        "p_owner_id => %s, p_connection_ids => array[%s], p_now => %s, p_deep => true)")


@pytest.mark.parametrize("connection_id", TARGETS)
def test_deep_latest_run_lookup_is_index_backed(big_db: str, connection_id: str) -> None:
    plans = collect_plans(big_db, [(DEEP, ("A", connection_id, NOW))], analyze=True)
    assert not seq_scans_on_read_model(plans), seq_scans_on_read_model(plans)
    used = index_names(plans)
    assert used & CLAIM_INDEXES == CLAIM_INDEXES, f"claim indexes not all used: {used}"
    assert "spine_events" not in {node.get("Relation Name") for node in all_nodes(plans)}, \
        "the deep run path must not fold spine_events"
    # Three heads for each of at most three claims, then their rows: a handful.
    rows = run_rows_read(plans)
    assert rows <= 40, f"the lookup read {rows} run_evidence rows"


def test_overview_run_path_reads_stored_heads_once(big_db: str) -> None:
    """p_deep => false: the heads stored in connection_states, then one probe by the full
    key per head run; neither run_heads nor spine_events is read."""
    overview = ("select * from cs_test.attributed_runs("
                "p_owner_id => 'A', p_connection_ids => %s, p_now => %s, p_deep => false)")
    plans = collect_plans(big_db, [(overview, (TARGETS, NOW))], analyze=True)
    touched = [node for node in all_nodes(plans) if node.get("Relation Name") in READ_MODEL]
    assert "spine_events" not in {node["Relation Name"] for node in touched}
    assert "run_heads" not in {node["Relation Name"] for node in touched}
    run_scans = [node for node in touched if node["Relation Name"] == "run_evidence"]
    assert run_scans
    assert all(node.get("Index Name") == "run_evidence_pkey" for node in run_scans), run_scans
    # Three heads of each connection, one row each.
    assert run_rows_read(plans) <= 3 * len(TARGETS)


def test_single_row_insert_merges_without_reading_spine_events(big_db: str) -> None:
    """The write path is incremental: an insert folds its own event and merges
    the fold into the stored run row; no statement reads the run's events."""
    insert = ("insert into connection_summary.spine_events (owner_id, event_type, status, "
              "source_kind, source_id, run_id, occurred_at, connector_instance_id) "
              "values ('A', 'run.failed', 'failed', 'connector', 'shop-07', 'run-16847', %s, "
              "'c-07-042')")  # an existing run of c-07-042
    plans = collect_plans(big_db, [(insert, (NOW,))], rollback=True)
    texts = [plan.get("Query Text", "") for plan in plans]
    assert any("merge_folds" in text for text in texts), "the merge did not run"
    assert not seq_scans_on_read_model(plans), seq_scans_on_read_model(plans)
    spine_reads = [node for plan in plans for node in nodes(plan)
                   if node.get("Relation Name") == "spine_events"
                   and node["Node Type"] != "ModifyTable"]  # the insert itself
    assert not spine_reads, spine_reads
    # The run row is merged through its key; the heads of its claim are
    # refreshed through the claim indexes.
    assert "run_evidence_pkey" in index_names(plans)
    assert index_names(plans) >= CLAIM_INDEXES


def test_stored_head_lookup_uses_claim_indexes(big_db: str) -> None:
    lookup = ("select * from connection_summary.run_claim_heads("
              "'A', 'connector', 'shop-07', 'profile', 'base7:c-07-042')")
    plans = collect_plans(big_db, [(lookup, ())], analyze=True)
    assert index_names(plans) & CLAIM_INDEXES == CLAIM_INDEXES, index_names(plans)
    assert not seq_scans_on_read_model(plans)
    assert run_rows_read(plans) <= 3


def test_deep_lookup_plan_text(big_db: str) -> None:
    """Keeps the text plan at hand: `pytest -s -k plan_text` prints it."""
    with psycopg.connect(big_db) as conn:
        plan = text_plan(conn, DEEP, ("A", "c-07-042", NOW))
    print(plan)
    assert "Seq Scan on run_evidence" not in plan
    assert "Seq Scan on spine_events" not in plan


# --- without statistics ------------------------------------------------------------------


def test_deep_lookup_stays_bounded_before_analyze(db: str) -> None:
    """The deep lookup must not depend on fresh statistics.

    Right after a bulk load or an upgrade's rebuild, run_evidence has no
    statistics until autovacuum gets to it. c2's runs are 4,800 of the 12,000
    runs of its connector; its deep lookup must still probe run_evidence a
    bounded number of times and answer in milliseconds. Everything happens in
    one transaction, so autovacuum cannot ANALYZE midway.
    """
    bulk = """
    insert into connection_summary.spine_events (
        owner_id, event_type, status, source_kind, source_id, run_id, occurred_at,
        connector_instance_id, data
    )
    select 'A', e.event_type, e.status, 'connector', 'shop', 'sib-' || g,
        cs_test.at(g + e.offset_min),
        case when g %% 5 in (2, 3) then 'c3' when g %% 5 = 4 then 'c1' end,
        case when g %% 5 in (0, 1) and e.event_type = 'run.browser_surface_released'
            then '{"browser_surface": {"browser_surface_profile_key": "shopkey:c2"}}'::jsonb
            else '{}'::jsonb end
    from generate_series(%s::int, %s::int) as g
    cross join (values ('run.browser_surface_released', 'released', 0.0),
                       ('run.completed', 'succeeded', 0.5)) as e (event_type, status, offset_min)
    """
    statements: list[tuple[str, tuple[Any, ...]]] = [
        ("set local auto_explain.log_min_duration = -1", ()),  # the setup is not explained
        ("select cs_test.add_connector('shop', p_profile_key => 'shopkey')", ()),
        ("select cs_test.add_connection('A', 'shop', c) from unnest(array['c1', 'c2', 'c3']) c",
         ()),
        # 12,000 runs in statements of 500.
        *[(bulk, (chunk * 500 + 1, chunk * 500 + 500)) for chunk in range(24)],
        ("set local auto_explain.log_min_duration = 0", ()),
        (DEEP, ("A", "c2", NOW)),
    ]
    try:
        plans = collect_plans(db, statements, analyze=True, rollback=True, timeout="5s")
    except psycopg.errors.QueryCanceled:
        pytest.fail("without statistics, the deep lookup of one connection took over 5 s "
                    "(it re-ran the head subqueries once per run_evidence row)")
    deep = [plan for plan in plans if "attributed_runs" in plan.get("Query Text", "")]
    assert deep, "the deep lookup was not explained"
    # Without statistics the planner may pick a worse index, but each head
    # lookup must run once per claim (c2 has two: its key and its id), not once
    # per run row.
    probes = sum(int(node.get("Actual Loops", 1)) for node in all_nodes(deep)
                 if node.get("Relation Name") == "run_evidence")
    assert probes <= 30, f"without statistics the deep lookup probed run_evidence {probes} times"
