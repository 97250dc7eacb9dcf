"""Retention: spine_events by period of arrival, old periods dropped whole, summaries kept.

Runs of several owners and connections over six past months and the current
one -- runs that span a month boundary, a connection whose only runs are in
the oldest month, one whose last success is there, sibling browser connections
-- each month's events received in its own period (open_spine_event_period()
dated at the month's start). Then the three oldest periods are dropped with
drop_spine_events_before(), and every connection's summary is compared with
what it was: overview, for_route and diagnostics are equal, except
diagnostics' latest_run_events, which lose exactly the dropped events. Again
after rebuild_run_evidence(), which keeps the runs begun before the horizon.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

Conn = psycopg.Connection[tuple[Any, ...]]

OWNERS = {
    "o1": [("mail", "m1"), ("shop", "s1"), ("shop", "s2")],
    "o2": [("mail", "m2"), ("solo", "solo2")],
    "o3": [("solo", "old3")],  # runs only in the oldest month
}


def months(conn: Conn) -> list[datetime]:
    """The first instants of the six months before the current one, then the current one."""
    return [row[0] for row in conn.execute(
        "select date_trunc('month', now(), 'UTC') - make_interval(months => k) "
        "from generate_series(6, 0, -1) as k").fetchall()]


def run_events(rng: random.Random, owner: str, connector: str, connection: str,
               run_id: str, start: datetime, minutes: int, outcome: str) -> list[tuple[Any, ...]]:
    """One run's events: started, progress, and a terminal event `minutes` later."""
    data: dict[str, Any] = {}
    instance: str | None = connection
    if connector == "shop":  # sibling browser connections: claimed by profile key
        data = {"browser_surface": {"browser_surface_profile_key": f"shopkey:{connection}"}}
        instance = None
    end = start + timedelta(minutes=minutes)
    middle = start + timedelta(minutes=rng.randint(0, minutes))
    terminal = {"succeeded": ("run.completed", "succeeded"),
                "failed": ("run.failed", "failed")}[outcome]
    return [
        (owner, "run.started", "started", connector, run_id, start, instance, json.dumps(data)),
        (owner, "run.progress_reported", None, connector, run_id, middle, instance,
         json.dumps(data)),
        (owner, *terminal, connector, run_id, end, instance,
         json.dumps({**data, "reason": "quota"} if outcome == "failed" else data)),
    ]


def history(conn: Conn) -> list[tuple[Any, ...]]:
    rng = random.Random(20261202)
    month = months(conn)
    rows: list[tuple[Any, ...]] = []
    for owner, connections in OWNERS.items():
        for connector, connection in connections:
            for number, start_month in enumerate(month[:-1]):
                if owner == "o3" and number > 0:
                    break
                for run in range(3):
                    # Late in the month, some runs end in the next one.
                    start = start_month + timedelta(days=rng.choice((3, 12, 27)), hours=run)
                    span = rng.choice((5, 60, 7 * 24 * 60))
                    if owner == "o3":  # a success, then failures: both heads are old
                        outcome = "succeeded" if run == 0 else "failed"
                    elif owner == "o2" and number > 0:  # its last success is the oldest
                        outcome = "failed"
                    else:
                        outcome = rng.choice(("succeeded", "failed"))
                    rows += run_events(rng, owner, connector, connection,
                                       f"{connection}-{number}-{run}", start, span, outcome)
            # This month: one short run that has finished.
            if owner != "o3":
                rows += run_events(rng, owner, connector, connection, f"{connection}-now",
                                   month[-1] + timedelta(minutes=1), 1,
                                   "failed" if owner == "o2" else "succeeded")
    return rows


def write(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    with conn.cursor() as cur, cur.copy(
        "copy connection_summary.spine_events (owner_id, event_type, status, source_id, "
        "run_id, occurred_at, connector_instance_id, data, source_kind) from stdin"
    ) as copy:
        for row in rows:
            copy.write_row((*row, "connector"))


def summaries(conn: Conn, now: datetime) -> dict[str, Any]:
    """Every read of every connection: overview rows, for_route, diagnostics."""
    reads: dict[str, Any] = {}
    for owner, connections in OWNERS.items():
        reads[f"overview {owner}"] = conn.execute(
            "select coalesce(jsonb_agg(to_jsonb(o)), '[]') "
            "from connection_summary.overview(p_owner_id => %s, p_now => %s) as o",
            (owner, now)).fetchone()
        for _, connection in connections:
            reads[f"for_route {connection}"] = conn.execute(
                "select to_jsonb(f) from connection_summary.for_route("
                "p_owner_id => %s, p_route_id => %s, p_now => %s) as f",
                (owner, connection, now)).fetchone()
            reads[f"diagnostics {connection}"] = conn.execute(
                "select connection_summary.diagnostics(p_owner_id => %s, p_route_id => %s, "
                "p_now => %s, p_run_limit => 100)", (owner, connection, now)).fetchone()
    return reads


def without_dropped_events(reads: dict[str, Any], first_kept: int) -> dict[str, Any]:
    """What the reads should be once the events before event_seq `first_kept` are gone."""
    expected: dict[str, Any] = json.loads(json.dumps(reads, default=str))
    for key, value in expected.items():
        if key.startswith("diagnostics "):
            value[0]["latest_run_events"] = [
                e for e in value[0]["latest_run_events"] if e["event_seq"] >= first_kept]
    return expected


def as_json(reads: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(reads, default=str)))


@pytest.fixture
def loaded(conn: Conn) -> tuple[Conn, datetime, list[datetime]]:
    for connector, manifest in (("mail", {}), ("solo", {}),
                                ("shop", {"browser_surface": {"profile_key": "shopkey"}})):
        conn.execute("insert into connection_summary.connectors (connector_id, manifest) "
                     "values (%s, %s::jsonb)", (connector, json.dumps(manifest)))
    for owner, connections in OWNERS.items():
        for connector, connection in connections:
            conn.execute("select cs_test.add_connection(%s, %s, %s)",
                         (owner, connector, connection))
    month = months(conn)
    rows = history(conn)
    # Each month's events are received in its own period (period 0: the oldest month).
    for number, start in enumerate(month):
        if number > 0:
            conn.execute("select connection_summary.open_spine_event_period(p_opened_at => %s)",
                         (start,))
        end = month[number + 1] if number + 1 < len(month) else None
        write(conn, [r for r in rows if r[5] >= start and (end is None or r[5] < end)])
    assert conn.execute("select count(*) from connection_summary.spine_events").fetchone() == (
        len(rows),)
    now = conn.execute("select now() + interval '1 day'").fetchone()[0]  # type: ignore[index]
    return conn, now, month


def test_dropping_old_months_keeps_every_summary(
        loaded: tuple[Conn, datetime, list[datetime]]) -> None:
    conn, now, month = loaded
    before = summaries(conn, now)
    horizon = month[3]
    first_kept = conn.execute("select first_event_seq from connection_summary."
                              "spine_event_partitions() where period = 3").fetchone()
    assert first_kept is not None
    dropped_events = conn.execute("select count(*) from connection_summary.spine_events "
                                  "where event_seq < %s", first_kept).fetchone()

    dropped = [r[0] for r in conn.execute(
        "select connection_summary.drop_spine_events_before(p_before => %s)",
        (horizon,)).fetchall()]

    assert dropped == ["spine_events_p0", "spine_events_p1", "spine_events_p2"]
    assert dropped_events is not None
    assert dropped_events[0] > 0
    assert conn.execute("select count(*) from connection_summary.spine_events "
                        "where event_seq < %s", first_kept).fetchone() == (0,)
    assert conn.execute("select count(*) from connection_summary.spine_events "
                        "where occurred_at < %s", (month[2],)).fetchone() == (0,)
    expected = without_dropped_events(before, first_kept[0])
    assert expected != as_json(before), "no latest_run_events entry was dropped: a weak test"
    after = summaries(conn, now)
    assert as_json(after) == expected
    # o3's only runs were in the oldest month: still its last run and last success.
    assert after["for_route old3"][0]["last_run"] is not None
    assert after["for_route old3"][0]["last_successful_run"] is not None
    assert after["diagnostics old3"][0]["latest_run_events"] == []
    # m2's last success is from the oldest month, whose events are gone.
    success = after["for_route m2"][0]["last_successful_run"]
    assert success is not None
    assert success["run_id"].startswith("m2-0-")
    assert conn.execute("select dropped_before from connection_summary.spine_event_retention"
                        ).fetchone() == (horizon,)

    # A rebuild refolds the runs begun after the horizon and keeps the others.
    refolded = conn.execute("select connection_summary.rebuild_run_evidence()").fetchone()
    runs_after_horizon = conn.execute(
        "select count(*) from connection_summary.run_evidence where first_at >= %s",
        (horizon,)).fetchone()
    assert refolded == runs_after_horizon
    assert as_json(summaries(conn, now)) == expected


def test_events_of_dropped_months_still_land(
        loaded: tuple[Conn, datetime, list[datetime]]) -> None:
    """A late event dated in a dropped month lands in the open period and is folded."""
    conn, _, month = loaded
    conn.execute("select connection_summary.drop_spine_events_before(p_before => %s)",
                 (month[3],))
    conn.execute("insert into connection_summary.spine_events (owner_id, event_type, status, "
                 "source_kind, source_id, run_id, occurred_at, connector_instance_id) values "
                 "('o2', 'run.completed', 'succeeded', 'connector', 'mail', 'late', %s, 'm2')",
                 (month[1] + timedelta(days=2),))
    assert conn.execute(
        "select tableoid::regclass::text from connection_summary.spine_events where run_id = 'late'"
    ).fetchone() == ("connection_summary.spine_events_p6",)  # the open period
    assert conn.execute(
        "select terminal_status from connection_summary.run_evidence where run_id = 'late'"
    ).fetchone() == ("succeeded",)


def test_partition_listing(loaded: tuple[Conn, datetime, list[datetime]]) -> None:
    conn, _, month = loaded
    rows = conn.execute("select period, partition_name, opened_at, closed_at "
                        "from connection_summary.spine_event_partitions()").fetchall()
    assert [r[1] for r in rows] == [f"spine_events_p{k}" for k in range(7)]
    assert [r[2] for r in rows] == [None, *month[1:]]
    assert [r[3] for r in rows] == [*month[1:], None]
    assert conn.execute("select min(event_seq) from connection_summary.spine_events_p6"
                        ).fetchone() == (6 * 2**44,)


@pytest.mark.parametrize(("call", "message"), [
    ("drop_spine_events_before(p_before => now() + interval '1 day')", "not in the future"),
    ("drop_spine_events_before(p_before => null)", "must be a finite time"),
    ("drop_spine_events_before(p_before => '-infinity')", "must be a finite time"),
    ("open_spine_event_period(p_opened_at => 'infinity')", "must be finite"),
    ("open_spine_event_period(p_opened_at => now() + interval '1 day')", "not in the future"),
])
def test_bad_arguments_are_refused(conn: Conn, call: str, message: str) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
        conn.execute(f"select connection_summary.{call}")
