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

import time

import psycopg
from bench.writers import SCENARIOS, read_model_diff, run_writers, setup

SECONDS = 8.0
CONTROL_SECONDS = 15.0  # at most: the control stops at its first deadlock
PAUSE = 0.005  # between the two statements of a transaction
SCENARIO = {scenario.key: scenario for scenario in SCENARIOS}


def _setup(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        setup(conn)


def _read_model(conninfo: str) -> tuple[int, int]:
    """(rows differing from the live fold, both ways; run_evidence rows)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("select count(*) from connection_summary.run_evidence").fetchone()
        assert row is not None
        return read_model_diff(conn), int(row[0])


def test_opposite_order_writers_do_not_deadlock(db: str) -> None:
    _setup(db)
    started = time.monotonic()
    tallies = run_writers(db, SCENARIO["opposite"], SECONDS, PAUSE)
    print(f"\nopposite order, fold at commit, {time.monotonic() - started:.1f} s: {tallies}")

    assert [t.deadlocks for t in tallies] == [0, 0]
    for tally in tallies:
        assert tally.commits >= 50, tally
        assert tally.shared_run_commits >= 10, tally

    differing, runs = _read_model(db)
    assert runs >= 2 * sum(t.commits - t.shared_run_commits for t in tallies)
    assert differing == 0


def test_control_per_statement_fold_deadlocks(db: str) -> None:
    """The same workload folding per statement (the locks held from the first
    statement on, as before the change) deadlocks: the test above can fail."""
    _setup(db)
    started = time.monotonic()
    tallies = run_writers(db, SCENARIO["immediate"], CONTROL_SECONDS, PAUSE,
                          stop_on_deadlock=True)
    print(f"\nopposite order, fold per statement, {time.monotonic() - started:.1f} s: {tallies}")

    assert sum(t.deadlocks for t in tallies) >= 1, tallies
    # The victims rolled back; the survivors' commits kept the read model exact.
    assert _read_model(db)[0] == 0
