"""The stored run read model equals its live definition, whatever is written.

Property (issue 3 §5): for random event histories -- several owners,
connectors and connections (siblings with profile keys, explicit ids in the
columns or in `data`, unclaimed runs), shuffled arrival, duplicate timestamps,
known and unknown event types and statuses, malformed `data` -- written by
multi-row INSERTs, single-row INSERTs, multi-statement transactions, COPY, and
two transactions whose statements interleave, after every batch (each folds
its own new events and merges the folds at commit):

* run_evidence = run_evidence_live and run_heads = run_heads_live (EXCEPT ALL
  both ways, via cs_test.run_evidence_diff() / cs_test.run_heads_diff());
* attributed_runs(p_deep => false) = attributed_runs(p_deep => true) for every
  connection of every owner, at two read times (cs_test.path_disagreements());

and after rebuild_run_evidence() all of it again.

One database serves every example (TRUNCATE between examples; its trigger
empties the read model), so 1,000 examples take about a minute.
CONNECTION_SUMMARY_HYPOTHESIS_EXAMPLES raises the count.

The concurrency tests write the same runs from 8 real connections at once and
check that the advisory-lock refold leaves the stored model equal to the fold.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from .conftest import Server, create_database, drop_database

Conn = psycopg.Connection[tuple[Any, ...]]

T0 = datetime(2024, 6, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
EXAMPLES = int(os.environ.get("CONNECTION_SUMMARY_HYPOTHESIS_EXAMPLES", "1000"))

# --- the fixed world: connectors and connections ---------------------------------------------
# (owner, connector, instance id, status). 'shop' has a manifest profile key;
# 'shop' and 'solo' have legacy default connections (instance id = connector id).
# s2 and m2 change status between examples.
CONNECTORS = {"shop": {"browser_surface": {"profile_key": "shopkey"}}, "mail": {}, "solo": {}}
CONNECTIONS = [
    ("A", "shop", "s1", "active"),
    ("A", "shop", "s2", "active"),
    ("A", "shop", "s3", "paused"),
    ("A", "shop", "shop", "revoked"),
    ("A", "mail", "m1", "active"),
    ("A", "mail", "m2", "draft"),
    ("A", "solo", "solo", "active"),
    ("B", "shop", "b1", "active"),
    ("B", "mail", "bm1", "active"),
    ("B", "mail", "bm2", "active"),
]
OWNERS = ["A", "B"]
SOURCES = [("connector", "shop"), ("connector", "mail"), ("connector", "solo"),
           ("runtime", "worker")]
RUN_IDS = [f"r{i}" for i in range(6)]
IDS = ["s1", "s2", "s3", "shop", "m1", "m2", "solo", "b1", "bm1", "bm2", "ghost", ""]
PROFILE_KEYS = ["shopkey:s1", "shopkey:s2", "shopkey:s3", "shopkey", "shopkey:shop",
                "shop:s1", "shopkey:b1", "mail:m1", "mail:bm2", "solo", "solo:solo", "ghost", ""]
EVENT_TYPES = [
    "run.started", "run.progress_reported", "run.completed", "run.failed", "run.cancelled",
    "run.abandoned", "run.browser_surface_waiting", "run.browser_surface_leased",
    "run.browser_surface_failed", "run.browser_surface_released", "started", "progress",
    "connector.heartbeat", "weird.type",
]
STATUSES = [
    None, "started", "succeeded", "failed", "cancelled", "abandoned", "rejected",
    "waiting_for_browser_surface", "starting_surface", "leased", "released", "expired",
    "deferred", "surface_failed", "in_progress", "mystery",
]
COLUMNS = ("owner_id", "event_type", "status", "source_kind", "source_id", "run_id",
           "occurred_at", "connector_instance_id", "connection_id", "data")

# --- strategies ------------------------------------------------------------------------------

small_text = st.text(alphabet="abcxyz_:-é 1", max_size=6)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), small_text)
junk = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["reason", "x", "browser_surface", "stream"]), inner,
                        max_size=3),
    ),
    max_leaves=6,
)
maybe_junk = st.one_of(junk, small_text)


@st.composite
def browser_surface(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(junk)  # not an object at all
    bs: dict[str, Any] = {}
    if draw(st.booleans()):
        bs["browser_surface_profile_key"] = draw(st.sampled_from(PROFILE_KEYS))
    if draw(st.booleans()):
        bs["browser_surface_status"] = draw(st.sampled_from(STATUSES[1:]))
    if draw(st.booleans()):
        bs["browser_surface_wait_reason"] = draw(st.sampled_from(["queue", "no_display", None]))
    if draw(st.booleans()):
        bs["browser_surface_lease_id"] = draw(st.sampled_from(["l1", "l2"]))
    return bs


@st.composite
def event_data(draw: st.DrawFn) -> Any:
    """An event's `data`: usually an object with some known keys, sometimes junk."""
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(junk)  # a string, number, array, null or junk object
    data: dict[str, Any] = {}
    if draw(st.integers(0, 2)) == 0:
        data["reason"] = draw(st.one_of(st.sampled_from(["timeout", "auth", "quota"]), junk))
    if draw(st.integers(0, 3)) == 0:
        data["browser_surface"] = draw(browser_surface())
    if draw(st.integers(0, 4)) == 0:
        data[draw(st.sampled_from(["connector_instance_id", "connection_id"]))] = draw(
            st.one_of(st.sampled_from(IDS), junk))
    if draw(st.integers(0, 4)) == 0:
        data["known_gaps"] = draw(st.one_of(
            st.lists(st.fixed_dictionaries({
                "stream": st.sampled_from(["a", "b"]),
                "reason": small_text,
                "severity": st.sampled_from(
                    ["informational", "recoverable", "transient", "actionable"]),
            }), max_size=2),
            junk,
        ))
    if draw(st.integers(0, 4)) == 0:
        data["collection_facts"] = draw(st.one_of(
            st.fixed_dictionaries({"streams": st.lists(st.fixed_dictionaries({
                "stream": st.sampled_from(["a", "b"]),
                "collected": st.integers(0, 5),
                "considered": st.one_of(st.none(), st.integers(0, 5)),
            }), max_size=2)}),
            junk,
        ))
    if draw(st.integers(0, 6)) == 0:
        data["extra"] = draw(junk)
    return data


@st.composite
def events(draw: st.DrawFn) -> tuple[Any, ...]:
    source_kind, source_id = draw(st.sampled_from(SOURCES))
    event_type = draw(st.sampled_from(EVENT_TYPES))
    if event_type.startswith("run.browser_surface_") and draw(st.booleans()):
        data: Any = {"browser_surface": draw(browser_surface())}
    else:
        data = draw(event_data())
    return (
        draw(st.sampled_from(OWNERS)),
        event_type,
        draw(st.sampled_from(STATUSES)),
        source_kind,
        source_id,
        draw(st.one_of(st.sampled_from(RUN_IDS), st.just(None))) if draw(
            st.integers(0, 14)) == 0 else draw(st.sampled_from(RUN_IDS)),
        # Few distinct instants: equal timestamps are common.
        T0 + timedelta(minutes=draw(st.integers(0, 12))),
        draw(st.sampled_from(IDS)) if draw(st.integers(0, 4)) == 0 else None,
        draw(st.sampled_from(IDS)) if draw(st.integers(0, 6)) == 0 else None,
        json.dumps(data),
    )


METHODS = ["multi", "single", "transaction", "copy", "interleaved"]


@dataclass(frozen=True)
class Batch:
    method: str
    rows: list[tuple[Any, ...]]


batches = st.lists(
    st.builds(Batch, st.sampled_from(METHODS), st.lists(events(), min_size=1, max_size=12)),
    min_size=1,
    max_size=5,
)
leases = st.lists(
    st.tuples(st.sampled_from(RUN_IDS), st.sampled_from(OWNERS),
              st.sampled_from([-30, 30, 600])),  # minutes relative to NOW
    max_size=3,
    unique_by=lambda lease: lease[0],
)

# --- writing ---------------------------------------------------------------------------------

_INSERT = (f"insert into connection_summary.spine_events ({', '.join(COLUMNS)}) values "
           "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)")


_SECOND: dict[int, Conn] = {}


def _second_connection(conn: Conn) -> Conn:
    """Another connection to the same database, opened once per first one."""
    if id(conn) not in _SECOND:
        _SECOND[id(conn)] = psycopg.connect(conn.info.dsn, autocommit=True)
    return _SECOND[id(conn)]


def write_batch(conn: Conn, batch: Batch) -> None:
    table = f"connection_summary.spine_events ({', '.join(COLUMNS)})"
    if batch.method == "multi":
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"] * len(batch.rows))
        params = [value for row in batch.rows for value in row]
        conn.execute(f"insert into {table} values {values}".encode(), params)
    elif batch.method == "single":
        for row in batch.rows:
            conn.execute(_INSERT.encode(), row)
    elif batch.method == "transaction":
        with conn.transaction():
            for row in batch.rows:
                conn.execute(_INSERT.encode(), row)
    elif batch.method == "interleaved":
        # Two transactions at once, their statements alternating: each queues
        # the folds of its own events, and merges them at its own commit.
        other = _second_connection(conn)
        with conn.transaction(), other.transaction():
            for number, row in enumerate(batch.rows):
                (other if number % 2 else conn).execute(_INSERT.encode(), row)
    elif batch.method == "copy":
        with conn.cursor() as cur, cur.copy(f"copy {table} from stdin".encode()) as copy:
            for row in batch.rows:
                copy.write_row(row)
    else:  # pragma: no cover - the strategy only draws METHODS
        raise AssertionError(batch.method)


# --- checking --------------------------------------------------------------------------------


def read_model_divergence(conn: Conn) -> list[tuple[Any, ...]]:
    """Rows that differ between the stored read model and its live definition."""
    return conn.execute(
        "select 'run_evidence', * from cs_test.run_evidence_diff() "
        "union all select 'run_heads', * from cs_test.run_heads_diff()"
    ).fetchall()


def path_divergence(conn: Conn) -> list[tuple[Any, ...]]:
    """Connections whose overview and deep run heads differ, per owner and read time."""
    return conn.execute(
        "select o, t, d.* from unnest(%s::text[]) as o "
        "cross join unnest(%s::timestamptz[]) as t "
        "cross join lateral cs_test.path_disagreements(o, t) as d",
        (OWNERS, [NOW, T0 + timedelta(minutes=5)]),
    ).fetchall()


def assert_consistent(conn: Conn, when: str) -> None:
    diverging = read_model_divergence(conn)
    assert not diverging, f"{when}: stored read model != live fold:\n" + "\n".join(
        map(str, diverging))
    disagreeing = path_divergence(conn)
    assert not disagreeing, f"{when}: overview and deep attributed_runs differ:\n" + "\n".join(
        map(str, disagreeing))


# --- the property ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(server: Server, template_db: str) -> Iterator[Conn]:
    """One database for every example: the fixed connectors and connections."""
    name = create_database(server, template=template_db, prefix="cs_property")
    try:
        with psycopg.connect(server.conninfo(name), autocommit=True) as conn:
            for connector_id, manifest in CONNECTORS.items():
                conn.execute(
                    "insert into connection_summary.connectors (connector_id, manifest) "
                    "values (%s, %s::jsonb)", (connector_id, json.dumps(manifest)))
            for owner, connector_id, instance_id, status in CONNECTIONS:
                conn.execute(
                    "select cs_test.add_connection(%s, %s, %s, %s)",
                    (owner, connector_id, instance_id, status))
            yield conn
    finally:
        drop_database(server, name)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    history=batches,
    held=leases,
    s2_status=st.sampled_from(["active", "paused"]),
    m2_status=st.sampled_from(["draft", "active", "revoked"]),
)
def test_stored_read_model_equals_live_fold(
    world: Conn,
    history: list[Batch],
    held: list[tuple[str, str, int]],
    s2_status: str,
    m2_status: str,
) -> None:
    conn = world
    conn.execute("truncate connection_summary.spine_events, connection_summary.active_runs")
    assert conn.execute("select count(*) from connection_summary.run_evidence").fetchone() == (0,)
    conn.execute("select cs_test.set_connection_status('s2', %s)", (s2_status,))
    conn.execute("select cs_test.set_connection_status('m2', %s)", (m2_status,))
    for run_id, owner, minutes in held:
        conn.execute("select cs_test.add_lease(%s, %s, %s)",
                     (owner, run_id, NOW + timedelta(minutes=minutes)))

    for number, batch in enumerate(history, 1):
        note(f"batch {number}: {batch.method} {batch.rows}")
        write_batch(conn, batch)
        assert_consistent(conn, f"after batch {number} ({batch.method})")

    runs = conn.execute(
        "select count(distinct (owner_id, source_kind, source_id, run_id)) "
        "from connection_summary.spine_events where run_id is not null").fetchone()
    rebuilt = conn.execute("select connection_summary.rebuild_run_evidence()").fetchone()
    assert rebuilt == runs
    assert_consistent(conn, "after rebuild_run_evidence()")


def test_property_generator_reaches_every_branch() -> None:
    """Guards the generator itself: its histories do exercise the interesting shapes."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(history=batches)
    def collect(history: list[Batch]) -> None:
        for batch in history:
            seen.add(f"method:{batch.method}")
            for row in batch.rows:
                data = json.loads(row[9])
                seen.add("data:" + type(data).__name__)
                seen.add(f"type:{row[1]}")
                if row[5] is None:
                    seen.add("no_run_id")
                if isinstance(data, dict) and isinstance(data.get("browser_surface"), dict) \
                        and data["browser_surface"].get("browser_surface_profile_key"):
                    seen.add("profile_key")
                if row[7] or row[8]:
                    seen.add("id_column")
                if isinstance(data, dict) and ("connector_instance_id" in data
                                               or "connection_id" in data):
                    seen.add("id_in_data")
            times = [row[6] for batch in history for row in batch.rows]
            if len(times) != len(set(times)):
                seen.add("duplicate_timestamps")

    collect()
    wanted = {f"method:{m}" for m in METHODS} | {f"type:{t}" for t in EVENT_TYPES} | {
        "data:dict", "data:list", "data:str", "data:NoneType", "no_run_id", "profile_key",
        "id_column", "id_in_data", "duplicate_timestamps"}
    assert wanted <= seen, f"never generated: {sorted(wanted - seen)}"


# --- concurrency: real connections -----------------------------------------------------------

WRITERS = 8


def _concurrent_events(seed: int) -> list[tuple[Any, ...]]:
    """Events of 3 owners x 2 connectors x 6 runs, each run's events spread over writers."""
    rng = random.Random(seed)
    rows = []
    for owner in ("A", "B", "C"):
        for connector in ("shop", "mail"):
            for run in range(6):
                for step in range(WRITERS * 3):
                    event_type = rng.choice(EVENT_TYPES)
                    data: dict[str, Any] = {}
                    if event_type.startswith("run.browser_surface_") and rng.random() < 0.5:
                        data["browser_surface"] = {
                            "browser_surface_profile_key": rng.choice(PROFILE_KEYS),
                            "browser_surface_wait_reason": rng.choice(["queue", None]),
                        }
                    if rng.random() < 0.2:
                        data["reason"] = rng.choice(["timeout", "auth"])
                    rows.append((
                        owner, event_type, rng.choice(STATUSES), "connector", connector,
                        f"run-{run}", T0 + timedelta(minutes=rng.randint(0, 30), seconds=step),
                        rng.choice([None, None, "s1", "s2", "m1"]), None, json.dumps(data),
                    ))
    rng.shuffle(rows)
    return rows


def _write_concurrently(conninfo: str, rows: list[tuple[Any, ...]], isolation: str) -> list[str]:
    """WRITERS threads, each writing its share of `rows` in its own statement shape.

    Every transaction is ONE statement (a single-row INSERT, a multi-row INSERT
    or a COPY of 1-4 rows); serialization failures and deadlocks are retried and
    returned, any other error fails the test.
    """
    shares = [rows[i::WRITERS] for i in range(WRITERS)]
    start = threading.Barrier(WRITERS)
    retried: list[str] = []
    failures: list[BaseException] = []

    def writer(index: int) -> None:
        method = ("single", "multi", "copy")[index % 3]
        size = 1 if method == "single" else 1 + index % 4
        share = shares[index]
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"set session characteristics as transaction isolation level "
                             f"{isolation}".encode())
                start.wait()
                for i in range(0, len(share), size):
                    while True:
                        try:
                            with conn.transaction():
                                write_batch(conn, Batch(method, share[i:i + size]))
                            break
                        except (psycopg.errors.SerializationFailure,
                                psycopg.errors.DeadlockDetected) as exc:
                            retried.append(type(exc).__name__)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    assert not failures, failures
    return retried


@pytest.mark.parametrize("isolation", ["read committed", "repeatable read"])
def test_concurrent_writers_keep_stored_model_equal_to_fold(db: str, isolation: str) -> None:
    """8 connections write events of the same runs at once, interleaved and out of order."""
    with psycopg.connect(db, autocommit=True) as conn:
        for connector_id, manifest in CONNECTORS.items():
            conn.execute(
                "insert into connection_summary.connectors (connector_id, manifest) "
                "values (%s, %s::jsonb)", (connector_id, json.dumps(manifest)))
        for owner, connector_id, instance_id, status in CONNECTIONS:
            conn.execute("select cs_test.add_connection(%s, %s, %s, %s)",
                         (owner, connector_id, instance_id, status))

    for round_number in range(3):
        rows = _concurrent_events(seed=round_number)
        retried = _write_concurrently(db, rows, isolation)
        if isolation == "read committed":
            # The advisory lock serializes refolds: committed writers never conflict.
            assert retried == [], retried
        with psycopg.connect(db, autocommit=True) as conn:
            written = conn.execute(
                "select count(*) from connection_summary.spine_events").fetchone()
            assert written == (len(rows) * (round_number + 1),)
            assert_consistent(conn, f"{isolation}, round {round_number}")
            stored = conn.execute(
                "select count(*), sum(event_count) from connection_summary.run_evidence "
                "where source_kind = 'connector'").fetchone()
            assert stored == (36, len(rows) * (round_number + 1))


def test_multi_statement_writers_in_opposite_order_stay_consistent(db: str) -> None:
    """Two transactions, each inserting into connector x then y (and y then x).

    The refold holds a transaction-scoped advisory lock per (owner, source), so
    such writers can deadlock; PostgreSQL then aborts one of them. Whatever
    happens, nothing half-written may remain: the stored model equals the fold
    of the committed events.
    """
    insert = ("insert into connection_summary.spine_events (owner_id, event_type, status, "
              "source_kind, source_id, run_id, occurred_at) "
              "values ('A', 'run.started', 'started', 'connector', %s, %s, %s)")
    both_inserted_once = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def writer(name: str, first: str, second: str, delay: float) -> None:
        try:
            with psycopg.connect(db) as conn:
                conn.execute(insert, (first, name, T0))
                both_inserted_once.wait()
                threading.Event().wait(delay)
                conn.execute(insert, (second, name, T0))
                conn.commit()
                outcome[name] = "committed"
        except psycopg.errors.DeadlockDetected:
            outcome[name] = "deadlock"

    threads = [threading.Thread(target=writer, args=("w1", "x", "y", 0.0)),
               threading.Thread(target=writer, args=("w2", "y", "x", 0.3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcome) == ["w1", "w2"], outcome
    assert "committed" in outcome.values(), outcome
    with psycopg.connect(db, autocommit=True) as conn:
        assert_consistent(conn, f"after {outcome}")
        committed = sorted(name for name, result in outcome.items() if result == "committed")
        runs = conn.execute(
            "select array_agg(distinct run_id order by run_id) "
            "from connection_summary.run_evidence").fetchone()
        assert runs == (committed,)
