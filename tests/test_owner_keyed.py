"""The owner-keyed layout a database sharded by owner needs (docs/scale-out.md).

* Catalog: every owner-scoped table (one with an owner_id column) has a primary
  key, and every primary key, unique index and foreign key between owner-scoped
  tables includes owner_id; the tables without owner_id are exactly the shared
  catalog (connectors) and the package's own global state. A sabotaged key is
  reported (the check can fail).
* Plans: every statement the read functions and the write-side maintenance run
  (auto_explain, nested statements included) reads each owner-scoped table only
  through a condition on owner_id: no statement scans across owners.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from .conftest import Server, create_database, drop_database
from .test_run_evidence_plans import collect_plans

# Tables without owner_id: the shared catalog and the package's global state.
SHARED = {
    "connectors",  # the connector catalog, shared by every owner
    "schema_migrations", "schema_routines",  # the migration ledger
    "read_model_versions",  # fingerprints of the read models' definitions
    "spine_event_periods", "spine_event_retention",  # retention of the event log
}
# Queues a transaction fills and empties itself before it commits: a statement
# sees only its own transaction's rows, whoever they belong to.
TRANSACTION_LOCAL = {"run_maintenance_queue", "connection_state_queue"}

KEY_VIOLATIONS = """
with owner_scoped as (
    select c.oid, c.relname
    from pg_class as c
    where c.relnamespace = 'connection_summary'::regnamespace
        and c.relkind in ('r', 'p') and not c.relispartition
        and exists (select from pg_attribute as a
                    where a.attrelid = c.oid and a.attname = 'owner_id' and not a.attisdropped)
)
select o.relname || ': no primary key'
from owner_scoped as o
where o.relname <> all(%(transaction_local)s)
    and not exists (select from pg_index as i where i.indrelid = o.oid and i.indisprimary)
union all
select o.relname || ': unique index ' || x.relname || ' without owner_id'
from owner_scoped as o
inner join pg_index as i on i.indrelid = o.oid and i.indisunique
inner join pg_class as x on x.oid = i.indexrelid
where not exists (
    select from pg_attribute as a
    where a.attrelid = o.oid and a.attname = 'owner_id' and a.attnum = any(i.indkey)
)
union all
select o.relname || ': foreign key ' || k.conname || ' without owner_id on both sides'
from owner_scoped as o
inner join pg_constraint as k on k.conrelid = o.oid and k.contype = 'f'
inner join owner_scoped as r on r.oid = k.confrelid
where not exists (
    select from pg_attribute as a
    where a.attrelid = o.oid and a.attname = 'owner_id' and a.attnum = any(k.conkey)
) or not exists (
    select from pg_attribute as a
    where a.attrelid = r.oid and a.attname = 'owner_id' and a.attnum = any(k.confkey)
)
order by 1
"""

SHARED_TABLES = """
select c.relname::text
from pg_class as c
where c.relnamespace = 'connection_summary'::regnamespace
    and c.relkind in ('r', 'p') and not c.relispartition
    and not exists (select from pg_attribute as a
                    where a.attrelid = c.oid and a.attname = 'owner_id' and not a.attisdropped)
order by 1
"""


def key_violations(conn: psycopg.Connection[tuple[Any, ...]]) -> list[str]:
    return [str(r[0]) for r in conn.execute(
        KEY_VIOLATIONS, {"transaction_local": sorted(TRANSACTION_LOCAL)}).fetchall()]


def test_every_owner_scoped_key_includes_owner_id(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        assert key_violations(conn) == []
        shared = {str(r[0]) for r in conn.execute(SHARED_TABLES).fetchall()}
        assert shared == SHARED, "a table without owner_id that is not shared state"


@pytest.mark.parametrize(("sabotage", "reported"), [
    ("create unique index sabotage_idx on connection_summary.connections "
     "(connector_instance_id)", "connections: unique index sabotage_idx without owner_id"),
    ("alter table connection_summary.detail_gaps drop constraint detail_gaps_pkey",
     "detail_gaps: no primary key"),
    # The referencing side's owner_id is not in the key: rows of two owners could match.
    ("alter table connection_summary.schedules add constraint sabotage_fk foreign key "
     "(active_run_id, last_error_code) references connection_summary.connections "
     "(owner_id, connector_instance_id) not valid",
     "schedules: foreign key sabotage_fk without owner_id on both sides"),
])
def test_the_key_check_sees_a_violation(db: str, sabotage: str, reported: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(sabotage.encode())
        assert key_violations(conn) == [reported]


# --- every statement filters by owner ------------------------------------------------------


@pytest.fixture(scope="module")
def world(server: Server, template_db: str) -> Iterator[str]:
    """Two owners with a little of everything; 'w' is the one read and written."""
    name = create_database(server, template=template_db, prefix="cs_owner_keyed")
    try:
        with psycopg.connect(server.conninfo(name), autocommit=True) as conn:
            conn.execute("select cs_test.add_connector('shop', p_profile_key => 'shopkey')")
            for owner in ("w", "other"):
                for cid, connector in (("s1", "shop"), ("s2", "shop"), ("m1", "mail")):
                    conn.execute("select cs_test.add_connection(%s, %s, %s)",
                                 (owner, connector, cid))
                    conn.execute("select cs_test.add_run(%s, %s, %s, 'succeeded', "
                                 "cs_test.at(10), p_instance_id => %s)",
                                 (owner, connector, f"{owner}-{cid}-r1", cid))
        yield server.conninfo(name)
    finally:
        drop_database(server, name)


def owner_scoped_tables(conninfo: str) -> dict[str, str]:
    """Relation name (partitions too) -> its owner-scoped table."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("""
            select c.relname::text, coalesce(p.relname, c.relname)::text
            from pg_class as c
            left join pg_inherits as i on i.inhrelid = c.oid
            left join pg_class as p on p.oid = i.inhparent
            where c.relnamespace = 'connection_summary'::regnamespace and c.relkind in ('r', 'p')
                and exists (select from pg_attribute as a
                            where a.attrelid = c.oid and a.attname = 'owner_id')""").fetchall()
    return {str(r[0]): str(r[1]) for r in rows if str(r[1]) not in TRANSACTION_LOCAL}


def unfiltered_scans(plans: list[dict[str, Any]], tables: dict[str, str]) -> list[str]:
    """Scans of owner-scoped tables bounded by no owner_id condition: neither their own
    (index, recheck, filter) nor that of the join they feed (the owners of the
    statement's rows, as a hash or merge join on owner_id bounds them)."""
    found: list[str] = []

    def conditions(node: dict[str, Any], keys: tuple[str, ...]) -> str:
        text = " ".join(str(node.get(k, "")) for k in keys)
        return text + " ".join(conditions(c, keys) for c in node.get("Plans", [])
                               if c.get("Node Type") in ("Bitmap Index Scan", "Hash"))

    def walk(node: dict[str, Any], query: str, join: str) -> None:
        relation = node.get("Relation Name")
        own = conditions(node, ("Index Cond", "Recheck Cond", "Filter"))
        if relation in tables and "Scan" in str(node.get("Node Type")) \
                and "owner_id" not in own + join:
            found.append(f"{node['Node Type']} on {relation} in: {query[:160]}")
        joined = conditions(node, ("Hash Cond", "Merge Cond", "Join Filter"))
        for child in node.get("Plans", []):
            walk(child, query, joined if joined.strip() else join)

    for plan in plans:
        walk(plan["Plan"], " ".join(str(plan.get("Query Text", "")).split()), "")
    return found


READS = [
    "select * from connection_summary.overview(p_owner_id => 'w', p_now => cs_test.now())",
    "select * from connection_summary.for_route(p_owner_id => 'w', p_route_id => 's1', "
    "p_now => cs_test.now())",
    "select connection_summary.diagnostics(p_owner_id => 'w', p_route_id => 's2', "
    "p_now => cs_test.now())",
]

# Each one in its own transaction, its maintenance run at the statement's end
# (collect_plans sets the commit trigger IMMEDIATE), then committed.
WRITES = [
    "insert into connection_summary.connections (owner_id, connector_instance_id, connector_id, "
    "status) values ('w', 'n1', 'mail', 'active')",
    "insert into connection_summary.spine_events (owner_id, event_type, status, source_kind, "
    "source_id, run_id, occurred_at, connector_instance_id) values "
    "('w', 'run.started', 'started', 'connector', 'mail', 'w-n1-r1', cs_test.at(20), 'n1'), "
    "('w', 'run.completed', 'succeeded', 'connector', 'mail', 'w-n1-r1', cs_test.at(30), 'n1')",
    "insert into connection_summary.spine_events (owner_id, event_type, status, source_kind, "
    "source_id, run_id, occurred_at, data) values ('w', 'run.browser_surface_leased', 'leased',"
    " 'connector', 'shop', 'w-s2-r2', cs_test.at(40), "
    "'{\"browser_surface\": {\"browser_surface_profile_key\": \"shopkey:s2\"}}')",
    "insert into connection_summary.retained_size_streams (owner_id, connector_instance_id, "
    "stream, record_count) values ('w', 'n1', 'messages', 3) "
    "on conflict (owner_id, connector_instance_id, stream) do update set record_count = 4",
    "insert into connection_summary.retained_size_connections (owner_id, connector_instance_id,"
    " blob_bytes) values ('w', 'n1', 10)",
    "insert into connection_summary.schedules (owner_id, connector_instance_id, interval_seconds)"
    " values ('w', 'n1', 3600)",
    "insert into connection_summary.attention_records (owner_id, attention_id, "
    "connector_instance_id, lifecycle) values ('w', 'a1', 'n1', 'open')",
    "insert into connection_summary.detail_gaps (owner_id, gap_id, connector_instance_id, "
    "status) values ('w', 'g1', 'n1', 'pending')",
    "insert into connection_summary.browser_surface_leases (owner_id, lease_id, connector_id, "
    "profile_key, status) values ('w', 'l1', 'shop', 'shopkey:s1', 'leased')",
    "insert into connection_summary.active_runs (owner_id, run_id, connector_instance_id, "
    "lease_expires_at) values ('w', 'w-n1-r9', 'n1', cs_test.now())",
    "update connection_summary.connections set status = 'paused' "
    "where owner_id = 'w' and connector_instance_id = 'n1'",
    "delete from connection_summary.detail_gaps where owner_id = 'w' and gap_id = 'g1'",
    "delete from connection_summary.connections "
    "where owner_id = 'w' and connector_instance_id = 'n1'",
]


@pytest.mark.parametrize("statement", READS + WRITES)
def test_every_table_access_filters_by_owner(world: str, statement: str) -> None:
    tables = owner_scoped_tables(world)
    plans = collect_plans(world, [(statement, ())])
    assert len(plans) > 1, "auto_explain logged no nested statement"
    scans = unfiltered_scans(plans, tables)
    assert not scans, "\n".join(scans)


def test_the_plan_check_sees_a_scan_across_owners(world: str) -> None:
    """A statement that reads every owner's connections of a connector is reported."""
    plans = collect_plans(world, [("select count(*) from connection_summary.connections "
                                   "where connector_id = 'mail'", ())])
    assert unfiltered_scans(plans, owner_scoped_tables(world)) != []
