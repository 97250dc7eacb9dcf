"""The stored connection states equal their live definition, whatever is written.

connection_states keeps, per non-draft connection, everything of its summary that does
not depend on the read time; triggers on every input table queue what a statement
changed and the commit recomputes it (sql/230_connection_states.sql). Property: for
random histories of writes to every input table -- connections created, moved between
owners and connectors, drafted, paused and deleted; catalog rows edited; retained sizes,
schedules, attention records, detail gaps and browser leases upserted and deleted;
events of runs with every kind of claim; TRUNCATE -- written in autocommit statements,
in one transaction, in a transaction folded statement by statement (SET CONSTRAINTS
... IMMEDIATE) and by two transactions whose statements interleave, after every batch:

* connection_states = connection_states_live (EXCEPT ALL both ways);
* each state's stored heads = the head rule evaluated now (state_heads(p_live));
* overview() row for row = for_route() of each connection, bar the deep-only keys;

and after rebuild_connection_states() the stored rows are the same again.

The concurrency tests write one owner's connections, sizes and catalog rows from
several real connections at once (the races the commit-time locks serialize: two
siblings created together, a catalog edit racing a connection's creation) and check
the stored rows against the live definition.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Server, create_database, drop_database

Conn = psycopg.Connection[tuple[Any, ...]]

T0 = datetime(2024, 6, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
EXAMPLES = int(os.environ.get("CONNECTION_SUMMARY_HYPOTHESIS_EXAMPLES", "300"))

OWNERS = ("A", "B")
CONNECTORS = ("shop", "mail", "solo")
IDS = ("c1", "c2", "shop", "mail")
STREAMS = ("messages", "labels", "files")
TABLES = ("connections", "retained_size_streams", "retained_size_connections", "schedules",
          "attention_records", "detail_gaps", "browser_surface_leases", "spine_events")
METHODS = ("autocommit", "transaction", "immediate", "interleaved")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass(frozen=True)
class Op:
    sql: str
    params: tuple[Any, ...]
    # The row it writes ("table:id"; "" for a new event, which conflicts with nothing):
    # interleaved transactions give ops on one row to one transaction.
    row: str = ""


owners = st.sampled_from(OWNERS)
ids = st.sampled_from(IDS)
connectors = st.sampled_from(CONNECTORS)
minutes = st.integers(min_value=0, max_value=2000)


@st.composite
def manifest(draw: st.DrawFn) -> str:
    value: dict[str, Any] = {}
    if draw(st.booleans()):
        value["streams"] = [{"name": s} for s in draw(st.lists(st.sampled_from(STREAMS),
                                                               unique=True, max_size=3))]
    if draw(st.booleans()):
        value["browser_surface"] = {"profile_key": draw(st.sampled_from(("shopkey", "k2")))}
    if draw(st.booleans()):
        value["refresh_policy"] = {"maximum_staleness_seconds": draw(
            st.sampled_from((60, 86400, 3.5, "soon")))}
    return json.dumps(value)


@st.composite
def profile_key(draw: st.DrawFn, cid: str) -> str:
    """Mostly the key some connection `cid` expects (its connector's manifest key or
    connector id, then ':' and its id; the bare key for a legacy default connection)."""
    base = draw(st.sampled_from(("shopkey", "mail", "solo", "k2")))
    return draw(st.sampled_from((f"{base}:{cid}", f"{base}:{cid}", base, "nobody")))


@st.composite
def ops(draw: st.DrawFn) -> Op:
    owner, cid = draw(owners), draw(ids)
    kind = draw(st.sampled_from((
        "connection", "connection", "connection", "connection_update", "connection_delete",
        "connector",
        "stream_size", "stream_size_delete", "connection_size", "schedule", "schedule_delete",
        "attention", "attention_update", "gap", "gap_delete", "lease", "lease", "lease",
        "lease_update",
        # Runs move heads in place (a later event of a claim's head run) as
        # well as between runs: as many events as all the rest.
        *("event",) * 18, "truncate")))
    if kind == "connection":
        return Op("insert into connection_summary.connections (connector_instance_id, owner_id, "
                  "connector_id, status, created_at, display_name) values (%s, %s, %s, %s, %s, %s) "
                  "on conflict (owner_id, connector_instance_id) "
                  "do update set status = excluded.status",
                  (cid, owner, draw(connectors),
                   draw(st.sampled_from(("draft", "active", "active", "paused", "revoked"))),
                   at(draw(minutes)), draw(st.sampled_from((None, "Mine")))), f"connections:{cid}")
    if kind == "connection_update":
        column, value = draw(st.sampled_from((
            ("status", draw(st.sampled_from(("draft", "active", "paused", "revoked")))),
            ("owner_id", draw(owners)), ("connector_id", draw(connectors)),
            ("display_name", draw(st.sampled_from(("Renamed", None)))))))
        if column == "owner_id":  # owner's connection moves, unless the other has that id
            return Op("update connection_summary.connections set owner_id = %s "
                      "where owner_id = %s and connector_instance_id = %s and not exists ("
                      "select from connection_summary.connections as o "
                      "where o.owner_id = %s and o.connector_instance_id = %s)",
                      (value, owner, cid, value, cid), f"connections:{cid}")
        return Op(f"update connection_summary.connections set {column} = %s "
                  "where connector_instance_id = %s", (value, cid), f"connections:{cid}")
    if kind == "connection_delete":
        return Op("delete from connection_summary.connections where connector_instance_id = %s",
                  (cid,), f"connections:{cid}")
    if kind == "connector":
        return Op("update connection_summary.connectors set manifest = %s::jsonb, "
                  "display_name = %s where connector_id = %s",
                  (draw(manifest()), draw(st.sampled_from((None, "Shop"))), draw(connectors)),
                  "connectors")
    if kind == "stream_size":
        count = draw(st.sampled_from((None, 0, 5, 9223372036854775807)))
        return Op("insert into connection_summary.retained_size_streams (connector_instance_id, "
                  "stream, owner_id, record_count, dirty) values (%s, %s, %s, %s, %s) "
                  "on conflict (owner_id, connector_instance_id, stream) do update set "
                  "record_count = excluded.record_count, dirty = excluded.dirty, "
                  "owner_id = excluded.owner_id",
                  (cid, draw(st.sampled_from(STREAMS)), owner, count, draw(st.booleans())),
                  f"streams:{cid}")
    if kind == "stream_size_delete":
        return Op("delete from connection_summary.retained_size_streams "
                  "where connector_instance_id = %s and stream = %s",
                  (cid, draw(st.sampled_from(STREAMS))), f"streams:{cid}")
    if kind == "connection_size":
        return Op("insert into connection_summary.retained_size_connections (connector_instance_id,"
                  " owner_id, current_record_json_bytes, record_history_json_bytes, blob_bytes, "
                  "dirty) values (%s, %s, %s, 2, 3, %s) "
                  "on conflict (owner_id, connector_instance_id) do update set "
                  "current_record_json_bytes = excluded.current_record_json_bytes, "
                  "dirty = excluded.dirty, owner_id = excluded.owner_id",
                  (cid, owner, draw(st.sampled_from((None, 1, 100))), draw(st.booleans())),
                  f"sizes:{cid}")
    if kind == "schedule":
        return Op("insert into connection_summary.schedules (connector_instance_id, owner_id, "
                  "enabled, interval_seconds, next_due_at, last_successful_at, "
                  "consecutive_failures, backoff_next_run_at) values (%s, %s, %s, 3600, %s, %s, "
                  "%s, %s) on conflict (owner_id, connector_instance_id) do update set "
                  "enabled = excluded.enabled, backoff_next_run_at = excluded.backoff_next_run_at,"
                  " owner_id = excluded.owner_id",
                  (cid, owner, draw(st.booleans()), at(draw(minutes)),
                   draw(st.sampled_from((None, at(10)))), draw(st.integers(0, 9)),
                   draw(st.sampled_from((None, at(100), NOW + timedelta(hours=1))))),
                  f"schedules:{cid}")
    if kind == "schedule_delete":
        return Op("delete from connection_summary.schedules where connector_instance_id = %s",
                  (cid,), f"schedules:{cid}")
    number = draw(st.integers(0, 5))
    if kind == "attention":
        return Op("insert into connection_summary.attention_records (attention_id, owner_id, "
                  "connector_instance_id, lifecycle, reason_code, response_required, "
                  "owner_action, expires_at, created_at) values (%s, %s, %s, %s, 'why', %s, %s, "
                  "%s, %s) on conflict (owner_id, attention_id) do nothing",
                  (f"at-{number}", owner, cid,
                   draw(st.sampled_from(("open", "acknowledged", "resolved"))),
                   draw(st.booleans()), draw(st.sampled_from((None, "reauth"))),
                   draw(st.sampled_from((None, at(30), NOW + timedelta(days=1)))),
                   at(draw(minutes))), f"attention:{number}")
    if kind == "attention_update":
        return Op("update connection_summary.attention_records set lifecycle = %s, "
                  "connector_instance_id = %s where attention_id = %s",
                  (draw(st.sampled_from(("open", "dismissed"))), cid, f"at-{number}"),
                  f"attention:{number}")
    if kind == "gap":
        return Op("insert into connection_summary.detail_gaps (gap_id, owner_id, "
                  "connector_instance_id, status) values (%s, %s, %s, %s) "
                  "on conflict (owner_id, gap_id) do update set status = excluded.status",
                  (f"g-{number}", owner, cid,
                   draw(st.sampled_from(("pending", "recovered", "terminal")))), f"gaps:{number}")
    if kind == "gap_delete":
        return Op("delete from connection_summary.detail_gaps where gap_id = %s",
                  (f"g-{number}",), f"gaps:{number}")
    if kind == "lease":
        return Op("insert into connection_summary.browser_surface_leases (lease_id, owner_id, "
                  "profile_key, status, requested_at) values (%s, %s, %s, %s, %s) "
                  "on conflict (owner_id, lease_id) do nothing",
                  (f"l-{number}", owner, draw(profile_key(cid)),
                   draw(st.sampled_from(("leased", "leased", "released", "surface_failed"))),
                   at(draw(minutes))), f"leases:{number}")
    if kind == "lease_update":
        return Op("update connection_summary.browser_surface_leases set status = %s, "
                  "profile_key = %s where lease_id = %s",
                  (draw(st.sampled_from(("released", "waiting_for_browser_surface"))),
                   draw(profile_key(cid)), f"l-{number}"), f"leases:{number}")
    if kind == "event":
        data: dict[str, Any] = {}
        claim = draw(st.sampled_from(("profile", "connection", "none")))
        if claim == "profile":
            data["browser_surface"] = {"browser_surface_profile_key": draw(profile_key(cid))}
        return Op("insert into connection_summary.spine_events (owner_id, event_type, status, "
                  "source_kind, source_id, run_id, occurred_at, connector_instance_id, data) "
                  "values (%s, %s, %s, 'connector', %s, %s, %s, %s, %s::jsonb)",
                  (owner, *draw(st.sampled_from((("run.started", None),
                                                 ("run.completed", "succeeded"),
                                                 ("run.failed", "failed")))),
                   draw(connectors), f"r{draw(st.integers(0, 6))}", at(draw(minutes)),
                   cid if claim == "connection" else None, json.dumps(data)))
    table = draw(st.sampled_from(TABLES))
    return Op(f"truncate connection_summary.{table} cascade", (), "*")


@dataclass(frozen=True)
class Batch:
    method: str
    ops: tuple[Op, ...]


batches = st.lists(
    st.builds(Batch, method=st.sampled_from(METHODS),
              ops=st.lists(ops(), min_size=1, max_size=10).map(tuple)),
    min_size=1, max_size=5)


_SECOND: dict[int, Conn] = {}


def _second(conn: Conn) -> Conn:
    if id(conn) not in _SECOND:
        _SECOND[id(conn)] = psycopg.connect(conn.info.dsn, autocommit=True)
    return _SECOND[id(conn)]


def write(conn: Conn, batch: Batch) -> None:
    if batch.method == "autocommit":
        for op in batch.ops:
            conn.execute(op.sql.encode(), op.params)
    elif batch.method in ("transaction", "immediate"):
        with conn.transaction():
            if batch.method == "immediate":
                conn.execute("set constraints connection_summary.run_maintenance_on_commit "
                             "immediate")
            for op in batch.ops:
                conn.execute(op.sql.encode(), op.params)
    else:
        # Two transactions, statements alternating. All writes of one row go to one
        # transaction, so neither waits for a row lock the other holds before both
        # commit; table- and catalog-wide writes would wait, so they are left out.
        other = _second(conn)
        rows: dict[str, Conn] = {}
        with conn.transaction(), other.transaction():
            for number, op in enumerate(batch.ops):
                if op.row in ("*", "connectors"):
                    continue
                turn = conn if number % 2 else other
                target = rows.setdefault(op.row, turn) if op.row else turn
                target.execute(op.sql.encode(), op.params)


def divergence(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "(select 'stored', * from connection_summary.connection_states "
        " except all select 'stored', * from connection_summary.connection_states_live) "
        "union all "
        "(select 'live', * from connection_summary.connection_states_live "
        " except all select 'live', * from connection_summary.connection_states)").fetchall()


def head_divergence(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select s.owner_id, s.connector_instance_id, stored.*, live.* "
        "from connection_summary.connection_states as s "
        "cross join lateral connection_summary.state_heads(p_state => s, p_live => false) as stored"
        " "
        "cross join lateral connection_summary.state_heads(p_state => s, p_live => true) as live "
        "where (stored.*) is distinct from (live.*)").fetchall()


def read_divergence(conn: Conn) -> list[tuple[Any, ...]]:
    """overview() rows that differ from for_route() of the same connection."""
    deep_only = "'{known_gaps,collection_facts}'::text[]"
    return conn.execute(
        "select o.owner_id, o.connection_id from unnest(%s::text[]) as w (owner) "
        "cross join lateral connection_summary.overview(p_owner_id => w.owner, p_now => %s) as o "
        "left join lateral connection_summary.for_route("
        "  p_owner_id => w.owner, p_route_id => o.connection_id, p_now => %s) as f on true "
        f"where (to_jsonb(o) - 'depth') is distinct from (to_jsonb(f) - 'depth' "
        f"  || jsonb_build_object('last_run', (f.last_run - {deep_only}), "
        f"     'last_successful_run', (f.last_successful_run - {deep_only})))",
        (list(OWNERS), NOW, NOW)).fetchall()


def assert_consistent(conn: Conn, when: str) -> None:
    diverging = divergence(conn)
    assert not diverging, f"{when}: connection_states != live:\n" + "\n".join(map(str, diverging))
    heads = head_divergence(conn)
    assert not heads, f"{when}: stored heads != head rule now:\n" + "\n".join(map(str, heads))
    reads = read_divergence(conn)
    assert not reads, f"{when}: overview != for_route:\n" + "\n".join(map(str, reads))


@pytest.fixture(scope="module")
def world(server: Server, template_db: str) -> Iterator[Conn]:
    name = create_database(server, template=template_db, prefix="cs_states")
    try:
        with psycopg.connect(server.conninfo(name), autocommit=True) as conn:
            yield conn
    finally:
        for other in _SECOND.values():
            other.close()
        _SECOND.clear()
        drop_database(server, name)


def reset(conn: Conn) -> None:
    conn.execute("truncate connection_summary.connections, connection_summary.connectors, "
                 "connection_summary.spine_events, connection_summary.retained_size_streams, "
                 "connection_summary.retained_size_connections, connection_summary.schedules, "
                 "connection_summary.attention_records, connection_summary.detail_gaps, "
                 "connection_summary.browser_surface_leases, connection_summary.active_runs")
    for connector in CONNECTORS:
        conn.execute("insert into connection_summary.connectors (connector_id, manifest) "
                     "values (%s, %s::jsonb)",
                     (connector, json.dumps({"browser_surface": {"profile_key": "shopkey"}}
                                            if connector == "shop" else {})))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(history=batches)
def test_stored_connection_states_equal_live_definition(world: Conn,
                                                        history: list[Batch]) -> None:
    reset(world)
    assert_consistent(world, "after reset")
    for number, batch in enumerate(history):
        write(world, batch)
        assert_consistent(world, f"after batch {number} ({batch.method})")
    stored = sorted(map(str, world.execute(
        "select * from connection_summary.connection_states").fetchall()))
    world.execute("select connection_summary.rebuild_connection_states()")
    rebuilt = sorted(map(str, world.execute(
        "select * from connection_summary.connection_states").fetchall()))
    assert rebuilt == stored, "rebuild_connection_states() != incremental"


def test_the_check_can_fail(world: Conn) -> None:
    """A stored row changed behind the triggers' back is reported."""
    reset(world)
    world.execute("insert into connection_summary.connections (connector_instance_id, owner_id, "
                  "connector_id, status) values ('c1', 'A', 'mail', 'active')")
    assert_consistent(world, "one connection")
    with world.transaction():
        world.execute("update connection_summary.connection_states set stream_count = 7")
        assert divergence(world)
        raise psycopg.Rollback


# --- every input table, one change at a time --------------------------------------------------

# Each write changes some connection's live row (checked: the test is not vacuous) and
# the stored rows must follow: one statement per path of the maintenance.
EVERY_PATH: list[tuple[str, str]] = [
    ("new connection", "insert into connection_summary.connections (connector_instance_id, "
     "owner_id, connector_id, status) values ('c3', 'A', 'shop', 'active')"),
    ("sibling drafted", "update connection_summary.connections set status = 'draft' "
     "where connector_instance_id = 'c2'"),
    ("moved to another owner", "update connection_summary.connections set owner_id = 'B' "
     "where connector_instance_id = 'c1'"),
    ("moved to another connector", "update connection_summary.connections set "
     "connector_id = 'mail' where connector_instance_id = 'c1'"),
    ("connection deleted", "delete from connection_summary.connections "
     "where connector_instance_id = 'c1'"),
    ("catalog edited", "update connection_summary.connectors set display_name = 'Shop', "
     "manifest = '{\"streams\": [{\"name\": \"messages\"}]}' where connector_id = 'shop'"),
    ("stream size", "insert into connection_summary.retained_size_streams (connector_instance_id, "
     "stream, owner_id, record_count) values ('c1', 'messages', 'A', 5)"),
    ("connection size", "insert into connection_summary.retained_size_connections "
     "(connector_instance_id, owner_id, current_record_json_bytes, record_history_json_bytes, "
     "blob_bytes) values ('c1', 'A', 1, 2, 3)"),
    ("schedule", "insert into connection_summary.schedules (connector_instance_id, owner_id, "
     "enabled) values ('c1', 'A', false)"),
    ("attention", "insert into connection_summary.attention_records (attention_id, owner_id, "
     "connector_instance_id, lifecycle, response_required) values ('at', 'A', 'c1', 'open', true)"),
    ("detail gap", "insert into connection_summary.detail_gaps (gap_id, owner_id, "
     "connector_instance_id, status) values ('g', 'A', 'c1', 'terminal')"),
    ("lease", "insert into connection_summary.browser_surface_leases (lease_id, owner_id, "
     "profile_key, status) values ('l', 'A', 'shopkey:c1', 'leased')"),
    ("run", "insert into connection_summary.spine_events (owner_id, event_type, status, "
     "source_kind, source_id, run_id, occurred_at, connector_instance_id) values "
     "('A', 'run.completed', 'succeeded', 'connector', 'shop', 'r9', now(), 'c1')"),
    ("events truncated", "truncate connection_summary.spine_events"),
    ("sizes truncated", "truncate connection_summary.retained_size_streams"),
]


@pytest.mark.parametrize(("what", "statement"), EVERY_PATH, ids=[w for w, _ in EVERY_PATH])
@pytest.mark.parametrize("method", ["autocommit", "transaction", "immediate"])
def test_every_input_table_change_reaches_the_stored_rows(
        world: Conn, what: str, statement: str, method: str) -> None:
    reset(world)
    for cid in ("c1", "c2"):
        world.execute("insert into connection_summary.connections (connector_instance_id, "
                      "owner_id, connector_id, status) values (%s, 'A', 'shop', 'active')", (cid,))
    world.execute("insert into connection_summary.spine_events (owner_id, event_type, status, "
                  "source_kind, source_id, run_id, occurred_at, connector_instance_id) values "
                  "('A', 'run.completed', 'succeeded', 'connector', 'shop', 'r1', now(), 'c1')")
    world.execute("insert into connection_summary.retained_size_streams (connector_instance_id, "
                  "stream, owner_id, record_count) values ('c2', 'labels', 'A', 1)")
    assert_consistent(world, "before")
    before = sorted(map(str, world.execute(
        "select * from connection_summary.connection_states_live").fetchall()))
    if method == "autocommit":
        world.execute(statement.encode())
    else:
        with world.transaction():
            if method == "immediate":
                world.execute("set constraints connection_summary.run_maintenance_on_commit "
                              "immediate")
            world.execute(statement.encode())
            if method == "immediate":
                assert divergence(world) == [], f"{what}: stale inside the transaction"
    after = sorted(map(str, world.execute(
        "select * from connection_summary.connection_states_live").fetchall()))
    assert after != before, f"{what}: the write changed no connection's live row"
    assert_consistent(world, what)


# --- real concurrency ------------------------------------------------------------------------


def _run_concurrently(conninfo: str, jobs: list[list[tuple[str, tuple[Any, ...]]]]) -> list[str]:
    """Each job in its own connection and transaction, all started together."""
    errors: list[str] = []
    start = threading.Barrier(len(jobs))

    def worker(statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        try:
            with psycopg.connect(conninfo) as conn:
                start.wait()
                for query, params in statements:
                    conn.execute(query.encode(), params)
                conn.commit()
        except Exception as exc:  # reported below; the assertion names them
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_siblings_created_together_see_each_other(db: str) -> None:
    """Eight transactions each create an active connection of one owner's connector at
    once: every stored row must know it is not the sole active one."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("insert into connection_summary.connectors (connector_id) values ('mail')")
    for round_number in range(5):
        jobs = [[("insert into connection_summary.connections (connector_instance_id, owner_id, "
                  "connector_id, status) values (%s, 'A', 'mail', 'active')",
                  (f"r{round_number}-c{i}",))] for i in range(8)]
        assert _run_concurrently(db, jobs) == []
        with psycopg.connect(db, autocommit=True) as conn:
            assert divergence(conn) == [], f"round {round_number}"
            assert conn.execute("select count(*) from connection_summary.connection_states "
                                "where owns_unclaimed_runs").fetchone() == (0,)


def test_catalog_edit_racing_connections_reaches_every_row(db: str) -> None:
    """A connector's manifest edited while new owners' first connections of it commit:
    every stored row ends with the committed manifest's streams."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("insert into connection_summary.connectors (connector_id) values ('mail')")
    for round_number in range(5):
        streams = json.dumps({"streams": [{"name": f"s{round_number}"}]})
        jobs: list[list[tuple[str, tuple[Any, ...]]]] = [
            [("insert into connection_summary.connections (connector_instance_id, owner_id, "
              "connector_id, status) values (%s, %s, 'mail', 'active')",
              (f"r{round_number}-o{i}", f"owner-{round_number}-{i}"))] for i in range(6)]
        jobs.append([("update connection_summary.connectors set manifest = %s::jsonb "
                      "where connector_id = 'mail'", (streams,))])
        assert _run_concurrently(db, jobs) == []
        with psycopg.connect(db, autocommit=True) as conn:
            assert divergence(conn) == [], f"round {round_number}"
            assert conn.execute(
                "select count(*) from connection_summary.connection_states "
                "where streams <> array[%s]", (f"s{round_number}",)).fetchone() == (0,)


def test_repeatable_read_refreshes_of_one_owner_conflict(db: str) -> None:
    """Under REPEATABLE READ a transaction creates an owner's first connection of a
    connector while another commits a run of that connector: the two refreshes write no
    stored row in common, and the first, reading its older snapshot, would store the
    connection without the run. It must fail with 40001 instead, and its retry store
    the run as the connection's latest."""
    create = ("insert into connection_summary.connections (connector_instance_id, owner_id, "
              "connector_id, status) values ('c1', 'A', 'mail', 'active')")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("insert into connection_summary.connectors (connector_id) values ('mail')")
        with psycopg.connect(db) as creator:
            creator.execute("set transaction isolation level repeatable read")
            creator.execute("select 1")  # the snapshot, before the run commits
            creator.execute(create.encode())
            conn.execute("insert into connection_summary.spine_events (owner_id, event_type, "
                         "status, source_kind, source_id, run_id, occurred_at) values "
                         "('A', 'run.completed', 'succeeded', 'connector', 'mail', 'r1', now())")
            with pytest.raises(psycopg.errors.SerializationFailure):
                creator.commit()
            creator.rollback()
            creator.execute("set transaction isolation level repeatable read")
            creator.execute(create.encode())
            creator.commit()
        assert divergence(conn) == []
        assert conn.execute("select latest_run_id from connection_summary.connection_states "
                            "where owner_id = 'A' and connector_instance_id = 'c1'"
                            ).fetchone() == ("r1",)


def test_writers_of_every_table_in_opposite_orders_never_deadlock(db: str) -> None:
    """Two transactions write one owner's schedules and sizes for two connections in
    opposite orders (different rows, so the tables alone never make them wait): the
    commit-time maintenance must not make them deadlock either."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("insert into connection_summary.connectors (connector_id) values ('mail')")
        for cid in ("c1", "c2"):
            conn.execute("insert into connection_summary.connections (connector_instance_id, "
                         "owner_id, connector_id, status) values (%s, 'A', 'mail', 'active')",
                         (cid,))
    schedule = ("insert into connection_summary.schedules (connector_instance_id, owner_id) "
                "values (%s, 'A') on conflict (owner_id, connector_instance_id) do update "
                "set consecutive_failures = schedules.consecutive_failures + 1")
    size = ("insert into connection_summary.retained_size_connections (connector_instance_id, "
            "owner_id, blob_bytes) values (%s, 'A', 1) "
            "on conflict (owner_id, connector_instance_id) do "
            "update set blob_bytes = retained_size_connections.blob_bytes + 1")
    for _ in range(20):
        errors = _run_concurrently(db, [
            [(schedule, ("c1",)), ("select pg_sleep(0.01)", ()), (size, ("c2",))],
            [(size, ("c1",)), ("select pg_sleep(0.01)", ()), (schedule, ("c2",))],
        ])
        assert errors == []
    with psycopg.connect(db, autocommit=True) as conn:
        assert divergence(conn) == []
