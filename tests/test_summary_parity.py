"""Overview / scoped-read parity (docs/contract.md §Scope and paging; issue 4).

For the same connection and `p_now`, the `for_route` row equals the connection's
`overview` row in every column except `depth`, and `last_run` /
`last_successful_run` differ only by the deep-only keys `known_gaps` and
`collection_facts`. The JSON forms equal `to_jsonb` of the rows.

Checked on the demo data set and on randomized mixed fixtures: many connections
per owner, sibling browser connections, paused / revoked / draft connections,
runs of every shape (explicit id, profile key, unclaimed, in progress, orphaned,
surface-only), retained sizes (clean, dirty, partial), schedules with and without
backoff, detail gaps, attention records and browser-surface leases.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import connection_summary

DEMO_SQL = Path(connection_summary.__file__).parent / "demo.sql"
DEEP_ONLY_RUN_KEYS = ("known_gaps", "collection_facts")
RUN_COLUMNS = ("last_run", "last_successful_run")
NOW = datetime(2024, 6, 2, 12, 0, tzinfo=UTC)

Row = dict[str, Any]


# --- reading -----------------------------------------------------------------------------------


def _overview(conn: psycopg.Connection[Any], owner: str, now: datetime,
              limit: int | None = None, after: str | None = None) -> list[Row]:
    rows = conn.execute(
        "select to_jsonb(o) from connection_summary.overview("
        "p_owner_id => %(owner)s, p_now => %(now)s, p_limit => %(limit)s, p_after => %(after)s"
        ") with ordinality as o order by o.ordinality",
        {"owner": owner, "now": now, "limit": limit, "after": after}).fetchall()
    result: list[Row] = []
    for (row,) in rows:
        row.pop("ordinality")
        result.append(row)
    return result


def _for_route(conn: psycopg.Connection[Any], owner: str, route: str, now: datetime) -> list[Row]:
    rows = conn.execute(
        "select to_jsonb(f) from connection_summary.for_route("
        "p_owner_id => %(owner)s, p_route_id => %(route)s, p_now => %(now)s) as f",
        {"owner": owner, "route": route, "now": now}).fetchall()
    return [row for (row,) in rows]


def _scalar(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _owners(conn: psycopg.Connection[Any]) -> list[str]:
    return [str(r[0]) for r in conn.execute(
        "select distinct owner_id from connection_summary.connections order by 1").fetchall()]


def parity_differences(shallow: Row, deep: Row) -> list[str]:
    """Why the scoped row is not the overview row up to depth and deep-only run keys."""
    problems: list[str] = []
    if shallow.get("depth") != "overview":
        problems.append(f"overview depth is {shallow.get('depth')!r}")
    if deep.get("depth") != "deep":
        problems.append(f"scoped depth is {deep.get('depth')!r}")
    for column in sorted(set(shallow) | set(deep)):
        if column == "depth" or column in RUN_COLUMNS:
            continue
        if shallow.get(column) != deep.get(column):
            problems.append(
                f"{column}: overview {shallow.get(column)!r} != deep {deep.get(column)!r}")
    for column in RUN_COLUMNS:
        slim, full = shallow.get(column), deep.get(column)
        if (slim is None) != (full is None):
            problems.append(f"{column}: overview {slim!r} vs deep {full!r}")
            continue
        if slim is None or full is None:
            continue
        leaked = [k for k in DEEP_ONLY_RUN_KEYS if k in slim]
        if leaked:
            problems.append(f"{column}: overview carries deep-only keys {leaked}")
        missing = [k for k in DEEP_ONLY_RUN_KEYS if k not in full]
        if missing:
            problems.append(f"{column}: deep summary lacks {missing}")
        stripped = {k: v for k, v in full.items() if k not in DEEP_ONLY_RUN_KEYS}
        if stripped != slim:
            problems.append(f"{column}: overview {slim!r} != deep without deep keys {stripped!r}")
    return problems


def assert_parity(conninfo: str, now: datetime) -> Counter[str]:
    """Check every owner's every connection; return a census of what was compared."""
    census: Counter[str] = Counter()
    failures: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for owner in _owners(conn):
            rows = _overview(conn, owner, now)
            census["owners"] += 1
            for shallow in rows:
                connection_id = shallow["connection_id"]
                deep_rows = _for_route(conn, owner, connection_id, now)
                if len(deep_rows) != 1:
                    failures.append(
                        f"{owner}/{connection_id}: for_route returned {len(deep_rows)} rows")
                    continue
                failures.extend(f"{owner}/{connection_id}: {p}"
                                for p in parity_differences(shallow, deep_rows[0]))
                census["connections"] += 1
                census[f"status:{shallow['status']}"] += 1
                census[f"health:{shallow['connection_health']['state']}"] += 1
                census[f"coverage:{shallow['coverage']}"] += 1
                census[f"tone:{shallow['rendered_verdict']['pill']['tone']}"] += 1
                census[f"records:{shallow['total_records_state']}"] += 1
                if shallow["last_run"] is not None:
                    census[f"run:{shallow['last_run']['status']}"] += 1
                for_route_json = _scalar(
                    conn, "select connection_summary.for_route_json(%(o)s, %(r)s, %(n)s)",
                    {"o": owner, "r": connection_id, "n": now})
                if for_route_json != deep_rows[0]:
                    failures.append(
                        f"{owner}/{connection_id}: for_route_json != to_jsonb(for_route)")
            overview_json = _scalar(
                conn, "select connection_summary.overview_json(%(o)s, %(n)s)",
                {"o": owner, "n": now})
            if overview_json != rows:
                failures.append(f"{owner}: overview_json != to_jsonb of the overview rows")
            # A paged read returns the same rows (cursor included) as the unpaged one.
            paged: list[Row] = []
            after: str | None = None
            while True:
                page = _overview(conn, owner, now, limit=7, after=after)
                paged.extend(page)
                if len(page) < 7:
                    break
                after = page[-1]["cursor"]
            if paged != rows:
                failures.append(f"{owner}: paged overview (7 per page) != unpaged overview")
    assert not failures, "\n".join(failures[:40])
    return census


# --- the demo data set -------------------------------------------------------------------------


def test_overview_and_scoped_read_agree_on_the_demo_data(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(DEMO_SQL.read_text().encode())
        now = _scalar(conn, "select now() + interval '1 minute'", {})
    census = assert_parity(db, now)
    assert census["owners"] == 2
    # alice's eight non-draft connections and bob's one.
    assert census["connections"] == 9
    assert census["status:revoked"] == 1
    # The demo shows at least six distinct health states; the parity holds for each.
    assert len([k for k in census if k.startswith("health:")]) >= 6


def test_demo_healthy_connection_is_not_grey_in_the_overview(db: str) -> None:
    """Issue 4: a recent successful run must not render "Checking" in the overview
    while the deep read says "Healthy"."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(DEMO_SQL.read_text().encode())
        now = _scalar(conn, "select now() + interval '1 minute'", {})
        shallow = {r["connection_id"]: r for r in _overview(conn, "alice", now)}
        deep = _for_route(conn, "alice", "gmail-personal", now)[0]
    assert deep["rendered_verdict"]["pill"] == {"tone": "green", "label": "Healthy"}
    assert shallow["gmail-personal"]["rendered_verdict"]["pill"] == deep["rendered_verdict"]["pill"]


# --- randomized mixed fixtures -----------------------------------------------------------------


def _ts(minutes: float) -> datetime:
    """Minutes relative to NOW."""
    return NOW + timedelta(minutes=minutes)


def build_mixed_fixture(conninfo: str, seed: int, owners: int = 3,
                        connections_per_owner: int = 40) -> None:
    rnd = random.Random(seed)
    connectors: list[tuple[str, str | None, dict[str, Any]]] = []
    for index in range(8):
        manifest: dict[str, Any] = {}
        if rnd.random() < 0.8:
            manifest["streams"] = [
                {"name": name, **({"required": False} if rnd.random() < 0.3 else {})}
                for name in rnd.sample(["messages", "labels", "files", "events", "accounts"],
                                       rnd.randint(1, 3))]
        if rnd.random() < 0.75:
            manifest["refresh_policy"] = {
                "maximum_staleness_seconds": rnd.choice([0, 600, 3600, 86400, 604800])}
        browser = index % 3 == 0
        if browser and rnd.random() < 0.7:
            manifest["browser_surface"] = {"profile_key": f"web{index}"}
        connectors.append((f"k{index}", rnd.choice([None, f"Connector {index}"]), manifest))

    def profile_base(connector_id: str) -> str:
        manifest = next(m for c, _, m in connectors if c == connector_id)
        return str(manifest.get("browser_surface", {}).get("profile_key", connector_id))

    def expected_key(connector_id: str, instance_id: str) -> str:
        base = profile_base(connector_id)
        return base if instance_id == connector_id else f"{base}:{instance_id}"

    connections: list[tuple[Any, ...]] = []
    for o in range(owners):
        owner = f"owner{o}"
        for n in range(connections_per_owner):
            connector_id = rnd.choice(connectors)[0]
            # Now and then a legacy default connection (instance id = connector id),
            # at most once per connector across all owners (ids are global).
            instance_id = f"{owner}-c{n}"
            if rnd.random() < 0.05 and connector_id not in {c[0] for c in connections}:
                instance_id = connector_id
            status = rnd.choices(["active", "paused", "revoked", "draft"], [70, 10, 10, 10])[0]
            created = _ts(-rnd.choice([100000, 90000, 90000, 5000]) - n)
            if rnd.random() < 0.2:
                created = _ts(-200000)  # ties on created_at
            connections.append((
                instance_id, owner, connector_id, rnd.choice([None, f"Conn {n}"]), status,
                rnd.choice(["account", "browser_collector", "local_device", "manual"]), created,
                _ts(-rnd.randint(10, 5000)) if status == "revoked" else None))

    events: list[tuple[Any, ...]] = []
    active_runs: list[tuple[Any, ...]] = []
    stream_sizes: list[tuple[Any, ...]] = []
    connection_sizes: list[tuple[Any, ...]] = []
    schedules: list[tuple[Any, ...]] = []
    gaps: list[tuple[Any, ...]] = []
    attention: list[tuple[Any, ...]] = []
    leases: list[tuple[Any, ...]] = []
    run_counter = 0
    for instance_id, owner, connector_id, *_ in connections:
        siblings = [c[0] for c in connections if c[2] == connector_id and c[1] == owner]
        for _ in range(rnd.randint(0, 6)):
            run_counter += 1
            run_id = f"run{run_counter}"
            if rnd.random() < 0.05:
                run_id = "shared-run-id"  # reused across owners/connectors
            start = rnd.uniform(-6000, -1)
            claim = rnd.choice(
                ["column", "data", "profile", "sibling_profile", "none", "connection_id"])
            column_id = instance_id if claim == "column" else None
            connection_col = instance_id if claim == "connection_id" else None
            base: dict[str, Any] = {}
            if claim == "data":
                base["connector_instance_id"] = instance_id
            key = None
            if claim == "profile":
                key = expected_key(connector_id, instance_id)
            elif claim == "sibling_profile":
                key = expected_key(connector_id, rnd.choice(siblings))
            if key is not None:
                base["browser_surface"] = {"browser_surface_profile_key": key}
            shape = rnd.choices(
                ["succeeded", "failed", "cancelled", "abandoned", "in_progress", "orphan",
                 "surface_failed", "waiting"], [40, 20, 5, 5, 8, 7, 10, 5])[0]
            terminal_data: dict[str, Any] = {}
            if rnd.random() < 0.4:
                terminal_data["known_gaps"] = [{
                    "stream": "messages", "reason": "r",
                    "severity": rnd.choice(
                        ["informational", "recoverable", "transient", "actionable"])}]
            if rnd.random() < 0.5:
                considered = rnd.randint(0, 20)
                terminal_data["collection_facts"] = {"streams": [{
                    "stream": "messages", "considered": considered,
                    "collected": rnd.randint(0, considered),
                    **({"covered": rnd.randint(0, considered)} if rnd.random() < 0.5 else {})}]}
            if shape == "failed":
                terminal_data["reason"] = rnd.choice(
                    ["timeout", "server_error", "token_expired", "http_401", "rate_limited"])

            # (event_type, status, minutes after NOW, data) of this run.
            run_events: list[tuple[str, str, float, dict[str, Any]]] = []
            if shape in ("surface_failed", "waiting"):
                status = ("surface_failed" if shape == "surface_failed"
                          else "waiting_for_browser_surface")
                run_events.append((f"run.browser_surface_{status}", status, start, {
                    "browser_surface": {
                        "browser_surface_profile_key": key, "browser_surface_status": status,
                        "browser_surface_wait_reason": rnd.choice(
                            [None, "profile_in_use_by_sibling_run"]),
                        "browser_surface_lease_id": f"lease-{run_counter}"}}))
            else:
                run_events.append(("run.started", "started", start, {}))
                if rnd.random() < 0.3:
                    run_events.append(("run.progress_reported", "progress", start + 0.5, {}))
                if shape == "in_progress":
                    # active_runs.run_id is globally unique: a reused run id stays unleased.
                    if run_id != "shared-run-id":
                        active_runs.append(
                            (run_id, owner, instance_id, _ts(rnd.choice([30, -30]))))
                elif shape != "orphan":
                    terminal_type = {"succeeded": "run.completed", "failed": "run.failed",
                                     "cancelled": "run.cancelled",
                                     "abandoned": "run.abandoned"}[shape]
                    run_events.append(
                        (terminal_type, shape, start + rnd.uniform(0.1, 30), terminal_data))
            for event_type, status, minutes, data in run_events:
                events.append((owner, event_type, status, "connector", connector_id, run_id,
                               _ts(minutes), column_id, connection_col, Jsonb({**base, **data})))

        for stream in rnd.sample(["messages", "labels", "files", "extra"], rnd.randint(0, 3)):
            stream_sizes.append((
                instance_id, stream, owner, connector_id,
                rnd.choice([None, 0, 0, rnd.randint(1, 10**6)]),
                rnd.randint(0, 10**6), rnd.randint(0, 10**6), rnd.randint(0, 10**6),
                rnd.random() < 0.15))
        if rnd.random() < 0.7:
            connection_sizes.append((
                instance_id, owner,
                None if rnd.random() < 0.05 else rnd.randint(0, 10**9),
                rnd.randint(0, 10**9), rnd.randint(0, 10**9), rnd.random() < 0.15))
        if rnd.random() < 0.8:
            failures = rnd.choice([0, 0, 1, 3, 6, 7, 9])
            schedules.append((
                instance_id, owner, rnd.random() < 0.85, rnd.choice([300, 3600, 86400]),
                _ts(rnd.uniform(-60, 600)),
                _ts(rnd.uniform(-600, -1)) if rnd.random() < 0.7 else None,
                None, _ts(rnd.uniform(-20000, -1)) if rnd.random() < 0.6 else None,
                None, rnd.choice([None, None, None, "active-run"]), failures,
                _ts(rnd.uniform(-120, 120)) if failures and rnd.random() < 0.8 else None,
                rnd.choice([None, "rate_limited", "server_error"])))
        for g in range(rnd.choice([0, 0, 0, 1, 2])):
            gaps.append((f"{instance_id}-gap{g}", owner, instance_id, "messages",
                         rnd.choice(["pending", "in_progress", "recovered", "terminal"])))
        for a in range(rnd.choice([0, 0, 0, 1, 2])):
            attention.append((
                f"{instance_id}-att{a}", owner, instance_id,
                rnd.choice(["open", "acknowledged", "in_progress", "resolved", "dismissed",
                            "expired"]),
                rnd.choice(["confirm_scope", "mfa_needed"]), rnd.random() < 0.6,
                rnd.choice([None, "add_info", "reauth"]),
                rnd.choice([None, _ts(-30), _ts(3000)]), _ts(-rnd.uniform(0, 5000))))
        for lease_index in range(rnd.choice([0, 0, 1, 2])):
            leases.append((
                f"{instance_id}-lease{lease_index}", owner, connector_id,
                expected_key(connector_id, rnd.choice([instance_id, *siblings])),
                None, rnd.choice(["waiting_for_browser_surface", "leased", "released", "expired",
                                  "surface_failed", "surface_failed", "cancelled", "deferred"]),
                None, _ts(-rnd.uniform(0, 3000))))

    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into connection_summary.connectors (connector_id, display_name, manifest) "
            "values (%s, %s, %s)", [(c, d, Jsonb(m)) for c, d, m in connectors])
        cur.executemany(
            "insert into connection_summary.connections (connector_instance_id, owner_id, "
            "connector_id, display_name, status, source_kind, created_at, revoked_at) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s)", connections)
        # One multi-row statement per batch, as a runtime would append.
        cur.executemany(
            "insert into connection_summary.spine_events (owner_id, event_type, status, "
            "source_kind, source_id, run_id, occurred_at, connector_instance_id, connection_id, "
            "data) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", events)
        cur.executemany(
            "insert into connection_summary.active_runs (run_id, owner_id, connector_instance_id, "
            "lease_expires_at) values (%s, %s, %s, %s)", active_runs)
        cur.executemany(
            "insert into connection_summary.retained_size_streams (connector_instance_id, stream, "
            "owner_id, connector_id, record_count, current_record_json_bytes, "
            "record_history_json_bytes, blob_bytes, dirty) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s)", stream_sizes)
        cur.executemany(
            "insert into connection_summary.retained_size_connections (connector_instance_id, "
            "owner_id, current_record_json_bytes, record_history_json_bytes, blob_bytes, dirty) "
            "values (%s, %s, %s, %s, %s, %s)", connection_sizes)
        cur.executemany(
            "insert into connection_summary.schedules (connector_instance_id, owner_id, enabled, "
            "interval_seconds, next_due_at, last_started_at, last_finished_at, last_successful_at, "
            "last_error_code, active_run_id, consecutive_failures, backoff_next_run_at, "
            "backoff_reason_class) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            schedules)
        cur.executemany(
            "insert into connection_summary.detail_gaps (gap_id, owner_id, connector_instance_id, "
            "stream, status) values (%s, %s, %s, %s, %s)", gaps)
        cur.executemany(
            "insert into connection_summary.attention_records (attention_id, owner_id, "
            "connector_instance_id, lifecycle, reason_code, response_required, owner_action, "
            "expires_at, created_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)", attention)
        cur.executemany(
            "insert into connection_summary.browser_surface_leases (lease_id, owner_id, "
            "connector_id, profile_key, run_id, status, wait_reason, requested_at) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s)", leases)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_overview_and_scoped_read_agree_on_a_mixed_fixture(db: str, seed: int) -> None:
    build_mixed_fixture(db, seed)
    census = assert_parity(db, NOW)
    # The fixture is really mixed: otherwise parity would be checked on too little.
    assert census["owners"] == 3
    assert census["connections"] >= 90
    assert census["status:paused"] > 0
    assert census["status:revoked"] > 0
    states = {k for k in census if k.startswith("health:")}
    assert len(states) >= 6, states
    assert len([k for k in census if k.startswith("coverage:")]) >= 4
    assert len([k for k in census if k.startswith("tone:")]) >= 3
    assert len([k for k in census if k.startswith("run:")]) >= 5


def test_parity_check_detects_a_difference() -> None:
    """The comparison itself can fail: a changed column or a leaked deep key is reported."""
    run = {"run_id": "r", "status": "succeeded"}
    shallow: Row = {"connection_id": "c", "depth": "overview", "coverage": "complete",
                    "last_run": run, "last_successful_run": None}
    deep: Row = {"connection_id": "c", "depth": "deep", "coverage": "complete",
                 "last_run": {**run, "known_gaps": [], "collection_facts": None},
                 "last_successful_run": None}
    assert parity_differences(shallow, deep) == []
    assert parity_differences(shallow, {**deep, "coverage": "partial"})
    assert parity_differences({**shallow, "last_run": {**run, "known_gaps": []}}, deep)
    assert parity_differences(shallow, {**deep, "last_run": run})
    changed_run = {**deep["last_run"], "status": "failed"}
    assert parity_differences(shallow, {**deep, "last_run": changed_run})
