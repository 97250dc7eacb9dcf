"""Concurrent writers of spine_events do not deadlock on the read model's maintenance.

Two real connections (threads, READ COMMITTED) commit transactions of two
INSERT statements each, for two connectors x and y of one owner: writer A
writes x then y, writer B y then x, with a pause between the two statements so
that their transactions overlap. A transaction normally starts new runs
(run.started and run.completed); every third one instead adds events to the
runs the other writer committed last (a browser surface lease, which moves the
run to another claim, and a run.failed), so the two writers also refold the
same runs and the same heads.

The run maintenance takes every advisory lock of a transaction at COMMIT, in
one global order (sql/110_run_read_model_maintenance.sql): no deadlock, and
afterwards the stored read model equals the live fold.

The control runs the same workload with the fold made per statement
(`SET CONSTRAINTS ... IMMEDIATE`), which holds the first connector's lock from
the first statement on: it must deadlock, which shows that this test sees a
deadlock when there is one.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import errors, sql

Conn = psycopg.Connection[tuple[Any, ...]]

OWNER = "owner-writers"
CONNECTOR = {"x": "connector-x", "y": "connector-y"}
CONNECTION = {"x": "conn-x", "y": "conn-y"}
SECONDS = 8.0
CONTROL_SECONDS = 15.0  # at most: the control stops at its first deadlock
PAUSE = 0.005  # between the two statements of a transaction
IMMEDIATE = "set constraints connection_summary.run_maintenance_on_commit immediate"
INSERT = (
    "insert into connection_summary.spine_events (owner_id, event_type, status, source_kind, "
    "source_id, run_id, occurred_at, connector_instance_id, data) values "
    "(%s, %s, %s, 'connector', %s, %s, %s, %s, %s::jsonb), "
    "(%s, %s, %s, 'connector', %s, %s, %s, %s, %s::jsonb)"
)


@dataclass
class Shared:
    """What the two writers share: a start line, a stop flag, each one's latest runs."""

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


def setup(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for key in ("x", "y"):
            conn.execute("insert into connection_summary.connectors (connector_id) values (%s)",
                         (CONNECTOR[key],))
            conn.execute(
                "insert into connection_summary.connections "
                "(connector_instance_id, owner_id, connector_id, status) "
                "values (%s, %s, %s, 'active')", (CONNECTION[key], OWNER, CONNECTOR[key]))


def events(key: str, run_id: str, existing: bool) -> tuple[Any, ...]:
    """The parameters of one INSERT: two events of one run of connector `key`."""
    now = datetime.now(UTC)
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
                   now + timedelta(milliseconds=step), CONNECTION[key], json.dumps(data)]
    return tuple(params)


def writer(conninfo: str, name: str, other: str, order: tuple[str, str], shared: Shared,
           seconds: float, immediate: bool, stop_on_deadlock: bool) -> Tally:
    tally = Tally(name)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        shared.barrier.wait()
        deadline = time.monotonic() + seconds
        number = 0
        while time.monotonic() < deadline and not shared.stop.is_set():
            number += 1
            with shared.lock:
                theirs = dict(shared.latest.get(other, {}))
            existing = number % 3 == 0 and len(theirs) == len(order)
            runs = theirs if existing else {key: f"{name}-{number}-{key}" for key in order}
            try:
                with conn.transaction():
                    if immediate:
                        conn.execute(IMMEDIATE)
                    for index, key in enumerate(order):
                        if index:
                            time.sleep(PAUSE)
                        conn.execute(INSERT, events(key, runs[key], existing))
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
    return tally


def run_writers(conninfo: str, seconds: float, immediate: bool = False,
                stop_on_deadlock: bool = False) -> list[Tally]:
    shared = Shared()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(writer, conninfo, "a", "b", ("x", "y"), shared, seconds, immediate,
                        stop_on_deadlock),
            pool.submit(writer, conninfo, "b", "a", ("y", "x"), shared, seconds, immediate,
                        stop_on_deadlock),
        ]
        return [future.result() for future in futures]


def read_model_diff(conninfo: str) -> dict[str, int]:
    """Rows of each stored table missing from its live fold, and the other way round."""
    out = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for stored, live in (("run_evidence", "run_evidence_live"),
                             ("run_heads", "run_heads_live")):
            columns = [row[0] for row in conn.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'connection_summary' and table_name = %s "
                "order by ordinal_position", (live,))]
            assert columns, live
            select = sql.SQL("select {} from connection_summary.{}")
            cols = sql.SQL(", ").join(map(sql.Identifier, columns))
            stored_rows = select.format(cols, sql.Identifier(stored))
            live_rows = select.format(cols, sql.Identifier(live))
            for side, first, second in (("stored", stored_rows, live_rows),
                                        ("live", live_rows, stored_rows)):
                row = conn.execute(sql.SQL("select count(*) from ({} except all {}) as d").format(
                    first, second)).fetchone()
                assert row is not None
                out[f"{stored} only in {side}"] = row[0]
            row = conn.execute(sql.SQL("select count(*) from connection_summary.{}").format(
                sql.Identifier(stored))).fetchone()
            assert row is not None
            out[f"{stored} rows"] = row[0]
    return out


def test_opposite_order_writers_do_not_deadlock(db: str) -> None:
    setup(db)
    started = time.monotonic()
    tallies = run_writers(db, SECONDS)
    elapsed = time.monotonic() - started
    print(f"\nopposite order, fold at commit, {elapsed:.1f} s: {tallies}")

    assert [t.deadlocks for t in tallies] == [0, 0]
    for tally in tallies:
        assert tally.commits >= 50, tally
        assert tally.shared_run_commits >= 10, tally

    diff = read_model_diff(db)
    assert diff["run_evidence rows"] >= 2 * sum(t.commits - t.shared_run_commits
                                                for t in tallies)
    assert diff["run_heads rows"] > 0
    assert {key: count for key, count in diff.items() if "only in" in key and count} == {}


def test_control_per_statement_fold_deadlocks(db: str) -> None:
    """The same workload folding per statement (the locks held from the first
    statement on, as before the change) deadlocks: the test above can fail."""
    setup(db)
    started = time.monotonic()
    tallies = run_writers(db, CONTROL_SECONDS, immediate=True, stop_on_deadlock=True)
    elapsed = time.monotonic() - started
    print(f"\nopposite order, fold per statement, {elapsed:.1f} s: {tallies}")

    diff = read_model_diff(db)
    assert sum(t.deadlocks for t in tallies) >= 1, (tallies, diff)
    # The victims rolled back; the survivors' commits kept the read model exact.
    assert {key: count for key, count in diff.items() if "only in" in key and count} == {}
