"""Coalescing of overview reads, with real concurrency against a real database.

Executions are counted on the database side: the private server runs with
`track_functions = all`, so `pg_stat_user_functions.calls` counts every call of
`connection_summary.overview`. A backend flushes its counters when it exits,
so each test closes its client and waits for its backends to go before reading.

To make 50 callers really concurrent, the test holds an ACCESS EXCLUSIVE lock
on `connection_summary.connections`: the one shared execution waits for it
inside the database while every other caller arrives and joins it.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from connection_summary import (
    REGISTRY,
    AsyncClient,
    Client,
    ConnectionSummaryError,
    OverviewKey,
    Registry,
    SharedExecutionInterrupted,
    Summary,
)

from .seed import ALICE, ALICE_CONNECTIONS, BOB, BOB_CONNECTIONS, NOW, seed

APP = "cs-coalescing-test"
N = 50


@pytest.fixture
def seeded(db: str) -> str:
    seed(db)
    return db


def _app(conninfo: str) -> str:
    """The conninfo with an application_name that marks the client's own backends."""
    return psycopg.conninfo.make_conninfo(conninfo, application_name=APP)


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.01)


async def async_wait_until(predicate: Callable[[], bool], what: str = "") -> None:
    deadline = time.monotonic() + 20.0
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.01)


def _scalar(conninfo: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def backends(conninfo: str, *, waiting_on_lock: bool = False) -> int:
    """The client's backends (by application_name), or those of them waiting on a lock."""
    return int(_scalar(
        conninfo,
        "select count(*) from pg_stat_activity where application_name = %s "
        "and (not %s or wait_event_type = 'Lock')", (APP, waiting_on_lock)))


def calls(conninfo: str, function: str) -> int:
    """Calls of connection_summary.<function>, once every other backend has flushed them."""
    wait_until(lambda: int(_scalar(
        conninfo,
        "select count(*) from pg_stat_activity where datname = current_database() "
        "and pid <> pg_backend_pid() and backend_type = 'client backend'")) == 0,
        what="the other backends of the database to exit")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        row = conn.execute(
            "select coalesce(sum(calls), 0) from pg_stat_user_functions "
            "where schemaname = 'connection_summary' and funcname = %s", (function,)).fetchone()
    assert row is not None
    return int(row[0])


class Blocker:
    """Holds ACCESS EXCLUSIVE on connection_states (every read scans it) until `release()`."""

    def __init__(self, conninfo: str) -> None:
        self.conn = psycopg.connect(conninfo)
        self.conn.execute(
            "lock table connection_summary.connection_states in access exclusive mode")

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.commit()
            self.conn.close()


@contextmanager
def blocked(conninfo: str) -> Iterator[Blocker]:
    blocker = Blocker(conninfo)
    try:
        yield blocker
    finally:
        blocker.release()


def cancel_waiting_backend(conninfo: str) -> None:
    """Cancel the (one) client backend waiting on the lock: a failure inside the execution."""
    assert _scalar(conninfo, "select count(pg_cancel_backend(pid)) from pg_stat_activity "
                   "where application_name = %s and wait_event_type = 'Lock'", (APP,)) == 1


def _ids(rows: list[Summary]) -> list[str]:
    return [r.connection_id for r in rows]


# --- threads ---------------------------------------------------------------------------------


def test_50_threads_share_one_execution(seeded: str) -> None:
    before = calls(seeded, "overview")
    with Client(_app(seeded), max_size=N) as client:
        key = OverviewKey(client.database_identity, ALICE, None, None, None)
        with ThreadPoolExecutor(N) as pool, blocked(seeded):
            futures = [pool.submit(client.overview, ALICE) for _ in range(N)]
            wait_until(lambda: REGISTRY.in_flight(key) == N, what="50 callers in flight")
            wait_until(lambda: backends(seeded, waiting_on_lock=True) == 1)
            time.sleep(0.2)
            assert backends(seeded, waiting_on_lock=True) == 1  # one execution, nobody else
        results = [f.result(timeout=30) for f in futures]
        assert REGISTRY.in_flight(key) == 0
    assert all(_ids(r) == ALICE_CONNECTIONS for r in results)
    assert all(r == results[0] for r in results)
    assert len({id(r) for r in results}) == N  # each caller gets its own list
    assert calls(seeded, "overview") - before == 1


def test_50_scoped_reads_make_50_executions(seeded: str) -> None:
    before = {f: calls(seeded, f) for f in ("for_route", "overview")}
    with Client(_app(seeded), max_size=N) as client:
        with ThreadPoolExecutor(N) as pool, blocked(seeded):
            routes = [pool.submit(client.for_route, ALICE, "mail-a1") for _ in range(N)]
            # All 50 are in the database at once, each its own execution.
            wait_until(lambda: backends(seeded, waiting_on_lock=True) == N,
                       what="50 scoped reads waiting in the database")
        scoped = [f.result(timeout=30) for f in routes]
        assert all(r is not None and r.connection_id == "mail-a1" for r in scoped)
        with ThreadPoolExecutor(N) as pool, blocked(seeded):
            uncoalesced = [pool.submit(client.overview, ALICE, coalesce=False)
                           for _ in range(N)]
            wait_until(lambda: backends(seeded, waiting_on_lock=True) == N,
                       what="50 uncoalesced overviews waiting in the database")
        assert all(_ids(f.result(timeout=30)) == ALICE_CONNECTIONS for f in uncoalesced)
    assert calls(seeded, "for_route") - before["for_route"] == N
    assert calls(seeded, "overview") - before["overview"] == N


def test_50_diagnostics_make_50_executions(seeded: str) -> None:
    before = calls(seeded, "diagnostics")
    with Client(_app(seeded), max_size=N) as client, ThreadPoolExecutor(N) as pool:
        results = list(pool.map(lambda _: client.diagnostics(ALICE, "mail-a1"), range(N)))
    assert all(r is not None and r.summary.connection_id == "mail-a1" for r in results)
    assert calls(seeded, "diagnostics") - before == N


def test_a_failure_reaches_all_50_threads_and_is_not_remembered(seeded: str) -> None:
    before = calls(seeded, "overview")
    with Client(_app(seeded), max_size=N) as client:
        key = OverviewKey(client.database_identity, ALICE, NOW, None, None)
        with ThreadPoolExecutor(N) as pool, blocked(seeded):
            futures = [pool.submit(client.overview, ALICE, now=NOW) for _ in range(N)]
            wait_until(lambda: REGISTRY.in_flight(key) == N, what="50 callers in flight")
            wait_until(lambda: backends(seeded, waiting_on_lock=True) == 1)
            cancel_waiting_backend(seeded)
            errors = [f.exception(timeout=30) for f in futures]
        assert all(isinstance(e, ConnectionSummaryError) for e in errors)
        assert not any(isinstance(e, psycopg.Error) for e in errors)
        assert all("cancel" in str(e) for e in errors)
        assert REGISTRY.in_flight(key) == 0
        # Not remembered: the next call executes again and succeeds.
        assert _ids(client.overview(ALICE, now=NOW)) == ALICE_CONNECTIONS
    assert calls(seeded, "overview") - before == 1  # the cancelled call never completed


def test_different_arguments_never_share(seeded: str) -> None:
    cursor = _scalar(seeded, "select cursor from connection_summary.overview("
                     "p_owner_id => 'alice', p_limit => 2) offset 1")
    before = calls(seeded, "overview")
    with Client(_app(seeded), max_size=N) as client:
        db = client.database_identity
        variants: dict[OverviewKey, dict[str, Any]] = {
            OverviewKey(db, ALICE, None, None, None): {"owner_id": ALICE},
            OverviewKey(db, BOB, None, None, None): {"owner_id": BOB},
            OverviewKey(db, ALICE, None, 2, None): {"owner_id": ALICE, "limit": 2},
            OverviewKey(db, ALICE, NOW, None, None): {"owner_id": ALICE, "now": NOW},
            OverviewKey(db, ALICE, None, None, cursor): {"owner_id": ALICE, "after": cursor},
        }
        with ThreadPoolExecutor(N) as pool, blocked(seeded):
            futures = {key: [pool.submit(functools.partial(client.overview, **kw))
                             for _ in range(5)]
                       for key, kw in variants.items()}
            for key in variants:
                wait_until(functools.partial(lambda k: REGISTRY.in_flight(k) == 5, key))
            wait_until(lambda: backends(seeded, waiting_on_lock=True) == len(variants))
        results = {key: [f.result(timeout=30) for f in fs] for key, fs in futures.items()}
    keys = list(variants)
    assert {tuple(_ids(r)) for r in results[keys[0]]} == {tuple(ALICE_CONNECTIONS)}
    assert {tuple(_ids(r)) for r in results[keys[1]]} == {tuple(BOB_CONNECTIONS)}
    assert {tuple(_ids(r)) for r in results[keys[2]]} == {tuple(ALICE_CONNECTIONS[:2])}
    assert {r[0].observed_at for r in results[keys[3]]} == {NOW}
    assert {tuple(_ids(r)) for r in results[keys[4]]} == {tuple(ALICE_CONNECTIONS[2:])}
    assert calls(seeded, "overview") - before == len(variants)


# --- asyncio ---------------------------------------------------------------------------------


async def test_50_tasks_share_one_execution(seeded: str) -> None:
    before = calls(seeded, "overview")
    async with AsyncClient(_app(seeded), max_size=N) as client:
        assert client.database_identity is not None
        key = OverviewKey(client.database_identity, ALICE, None, None, None)
        blocker = Blocker(seeded)
        try:
            tasks = [asyncio.create_task(client.overview(ALICE)) for _ in range(N)]
            await async_wait_until(lambda: REGISTRY.in_flight(key) == N)
            await async_wait_until(lambda: backends(seeded, waiting_on_lock=True) == 1)
        finally:
            blocker.release()
        results = await asyncio.gather(*tasks)
        assert REGISTRY.in_flight(key) == 0
    assert all(_ids(r) == ALICE_CONNECTIONS for r in results)
    assert len({id(r) for r in results}) == N
    assert calls(seeded, "overview") - before == 1


async def test_50_async_scoped_reads_make_50_executions(seeded: str) -> None:
    before = calls(seeded, "for_route")
    async with AsyncClient(_app(seeded), max_size=N) as client:
        results = await asyncio.gather(*(client.for_route(ALICE, "chase-a1") for _ in range(N)))
    assert all(r is not None and r.connection_id == "chase-a1" for r in results)
    assert calls(seeded, "for_route") - before == N


async def test_a_failure_reaches_all_50_tasks_and_is_not_remembered(seeded: str) -> None:
    async with AsyncClient(_app(seeded), max_size=N) as client:
        assert client.database_identity is not None
        key = OverviewKey(client.database_identity, ALICE, None, 3, None)
        blocker = Blocker(seeded)
        try:
            tasks = [asyncio.create_task(client.overview(ALICE, limit=3)) for _ in range(N)]
            await async_wait_until(lambda: REGISTRY.in_flight(key) == N)
            await async_wait_until(lambda: backends(seeded, waiting_on_lock=True) == 1)
            cancel_waiting_backend(seeded)
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            blocker.release()
        assert all(isinstance(o, ConnectionSummaryError) for o in outcomes)
        assert all("cancel" in str(o) for o in outcomes)
        assert REGISTRY.in_flight(key) == 0
        assert _ids(await client.overview(ALICE, limit=3)) == ALICE_CONNECTIONS[:3]


async def test_a_cancelled_waiter_leaves_the_others_with_results(seeded: str) -> None:
    before = calls(seeded, "overview")
    async with AsyncClient(_app(seeded), max_size=N) as client:
        assert client.database_identity is not None
        key = OverviewKey(client.database_identity, ALICE, None, None, None)
        blocker = Blocker(seeded)
        try:
            tasks = [asyncio.create_task(client.overview(ALICE)) for _ in range(N)]
            await async_wait_until(lambda: REGISTRY.in_flight(key) == N)
            # The first caller started the shared execution; cancel it and another one.
            tasks[0].cancel()
            tasks[17].cancel()
            await async_wait_until(lambda: REGISTRY.in_flight(key) == N - 2)
            await asyncio.sleep(0.1)
            assert backends(seeded, waiting_on_lock=True) == 1  # still running for the others
        finally:
            blocker.release()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    cancelled = [o for o in outcomes if isinstance(o, asyncio.CancelledError)]
    results = [o for o in outcomes if isinstance(o, list)]
    assert len(cancelled) == 2
    assert len(results) == N - 2
    assert all(_ids(r) == ALICE_CONNECTIONS for r in results)
    assert calls(seeded, "overview") - before == 1


async def test_when_every_waiter_is_cancelled_the_execution_stops(seeded: str) -> None:
    async with AsyncClient(_app(seeded), max_size=N) as client:
        assert client.database_identity is not None
        key = OverviewKey(client.database_identity, BOB, None, None, None)
        blocker = Blocker(seeded)
        try:
            tasks = [asyncio.create_task(client.overview(BOB)) for _ in range(5)]
            await async_wait_until(lambda: backends(seeded, waiting_on_lock=True) == 1)
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
            assert REGISTRY.in_flight(key) == 0
            # The query is cancelled in the database too.
            await async_wait_until(lambda: backends(seeded, waiting_on_lock=True) == 0)
        finally:
            blocker.release()
        assert _ids(await client.overview(BOB)) == BOB_CONNECTIONS


# --- TTL cache and LISTEN/NOTIFY -------------------------------------------------------------


def _dropped(client: Client, owner: str, cached: list[Summary]) -> Callable[[], bool]:
    """True once the client reads the owner afresh instead of returning `cached`."""
    return lambda: client.overview(owner)[0] is not cached[0]


def _notify(conninfo: str, payload: str) -> None:
    _scalar(conninfo, "select pg_notify('connection_summary_changed', %s)", (payload,))


def test_without_a_ttl_nothing_is_kept(seeded: str) -> None:
    with Client(seeded) as client:
        first = client.overview(ALICE)
        assert client.overview(ALICE)[0] is not first[0]


def test_a_ttl_keeps_results_for_that_long(seeded: str) -> None:
    with Client(seeded, cache_ttl=0.5) as client, Client(seeded) as no_ttl:
        first = client.overview(ALICE)
        assert client.overview(ALICE)[0] is first[0]
        assert no_ttl.overview(ALICE)[0] is not first[0]  # only callers who opted in
        assert client.overview(ALICE, coalesce=False)[0] is not first[0]
        time.sleep(0.6)
        assert client.overview(ALICE)[0] is not first[0]


def test_invalidate_drops_one_owner_or_everything(seeded: str) -> None:
    with Client(seeded, cache_ttl=60) as client:
        alice, bob = client.overview(ALICE), client.overview(BOB)
        client.invalidate(BOB)
        assert client.overview(ALICE)[0] is alice[0]
        bob2 = client.overview(BOB)
        assert bob2[0] is not bob[0]
        client.invalidate()
        assert client.overview(ALICE)[0] is not alice[0]
        assert client.overview(BOB)[0] is not bob2[0]


def test_notify_drops_the_cache_of_that_owner(seeded: str) -> None:
    with Client(seeded, cache_ttl=600, listen=True) as client:
        alice, bob = client.overview(ALICE), client.overview(BOB)
        _notify(seeded, BOB)
        wait_until(lambda: client.overview(BOB)[0] is not bob[0], what="bob's cache dropped")
        assert client.overview(ALICE)[0] is alice[0]
        # New data shows once the change is notified (by the SQL triggers, or here by hand).
        with psycopg.connect(seeded) as conn:
            conn.execute("insert into connection_summary.connections (connector_instance_id, "
                         "owner_id, connector_id, status) values ('zz-new', 'alice', 'mail', "
                         "'active')")
        _notify(seeded, ALICE)
        wait_until(lambda: "zz-new" in _ids(client.overview(ALICE)), what="the new connection")
        # '*' (the connector catalog changed) and an empty payload mean everyone.
        for payload in ("*", ""):
            alice, bob = client.overview(ALICE), client.overview(BOB)
            _notify(seeded, payload)
            wait_until(_dropped(client, BOB, bob), what="everything dropped")
            assert client.overview(ALICE)[0] is not alice[0]


def test_the_sql_triggers_notify_input_changes(seeded: str) -> None:
    _scalar(seeded, "select connection_summary.set_change_notifications(p_enabled => true)")
    with Client(seeded, cache_ttl=600, listen=True) as client:
        bob = client.overview(BOB)
        assert "zz-new" not in _ids(client.overview(ALICE))
        with psycopg.connect(seeded) as conn:
            conn.execute("insert into connection_summary.connections (connector_instance_id, "
                         "owner_id, connector_id, status) values ('zz-new', 'alice', 'mail', "
                         "'active')")
        wait_until(lambda: "zz-new" in _ids(client.overview(ALICE)), what="the new connection")
        assert client.overview(BOB)[0] is bob[0]  # only alice's inputs moved


def test_the_listener_reconnects(seeded: str) -> None:
    with Client(_app(seeded), cache_ttl=600, listen=True) as client:
        alice = client.overview(ALICE)
        listening = ("from pg_stat_activity where application_name = %s "
                     "and pid <> pg_backend_pid() "
                     "and query like '%%listen connection_summary_changed%%'")
        assert _scalar(seeded, f"select count(pg_terminate_backend(pid)) {listening}",
                       (APP,)) == 1
        # After a reconnect every cached result of the database is dropped (a
        # notification may have been missed), and notifications work again.
        wait_until(lambda: client.overview(ALICE)[0] is not alice[0], what="reconnect")
        wait_until(lambda: _scalar(seeded, f"select count(*) {listening}", (APP,)) == 1,
                   what="a new listening backend")
        alice = client.overview(ALICE)
        _notify(seeded, ALICE)
        wait_until(lambda: client.overview(ALICE)[0] is not alice[0], what="notify after reconnect")


async def test_async_notify_drops_the_cache_of_that_owner(seeded: str) -> None:
    async with AsyncClient(seeded, cache_ttl=600, listen=True) as client:
        alice, bob = await client.overview(ALICE), await client.overview(BOB)
        assert (await client.overview(ALICE))[0] is alice[0]
        await asyncio.to_thread(_notify, seeded, ALICE)
        deadline = time.monotonic() + 20
        while (await client.overview(ALICE))[0] is alice[0]:
            assert time.monotonic() < deadline, "alice's cache was not dropped"
            await asyncio.sleep(0.01)
        assert (await client.overview(BOB))[0] is bob[0]


# --- the registry on its own (no database) ---------------------------------------------------

KEY = OverviewKey("db", "owner", None, None, None)


def test_registry_threads_share_and_failures_are_not_remembered() -> None:
    registry = Registry()
    release = threading.Event()
    executions = 0

    def execute() -> str:
        nonlocal executions
        executions += 1
        release.wait(10)
        if executions == 1:
            raise RuntimeError("boom")
        return "ok"

    with ThreadPoolExecutor(N) as pool:
        futures = [pool.submit(registry.call, KEY, execute) for _ in range(N)]
        wait_until(lambda: registry.in_flight(KEY) == N)
        release.set()
    errors = [f.exception() for f in futures]
    assert all(isinstance(e, RuntimeError) and str(e) == "boom" for e in errors)
    assert registry.call(KEY, execute) == "ok"
    assert executions == 2


def test_registry_interrupted_leader_gives_waiters_a_clear_error() -> None:
    registry = Registry()
    release = threading.Event()

    def execute() -> str:
        release.wait(10)
        raise KeyboardInterrupt

    leader_outcome: list[BaseException] = []

    def leader() -> None:
        try:
            registry.call(KEY, execute)
        except BaseException as exc:
            leader_outcome.append(exc)

    thread = threading.Thread(target=leader)
    thread.start()
    wait_until(lambda: registry.in_flight(KEY) == 1)
    with ThreadPoolExecutor(1) as pool:
        waiter: Future[str] = pool.submit(registry.call, KEY, lambda: "never")
        wait_until(lambda: registry.in_flight(KEY) == 2)
        release.set()
        assert isinstance(waiter.exception(), SharedExecutionInterrupted)
    thread.join()
    assert isinstance(leader_outcome[0], KeyboardInterrupt)


def test_registry_invalidation_detaches_a_read_in_flight() -> None:
    registry = Registry()
    release = threading.Event()
    executions = 0

    def execute() -> int:
        nonlocal executions
        executions += 1
        n = executions
        if n == 1:
            release.wait(10)
        return n

    with ThreadPoolExecutor(2) as pool:
        old = pool.submit(registry.call, KEY, execute, ttl=60)
        wait_until(lambda: registry.in_flight(KEY) == 1)
        registry.invalidate("owner")
        # A caller arriving after the invalidation does not join the old read ...
        assert registry.call(KEY, execute, ttl=60) == 2
        release.set()
        assert old.result() == 1
    # ... and the old read's result was not cached over the newer one.
    assert registry.call(KEY, execute, ttl=60) == 2
    registry.invalidate("someone else")
    assert registry.call(KEY, execute, ttl=60) == 2
    registry.invalidate(database="another db")
    assert registry.call(KEY, execute, ttl=60) == 2
    registry.invalidate(database="db")
    assert registry.call(KEY, execute, ttl=60) == 3


async def test_registry_async_cancellation_and_failure() -> None:
    registry = Registry()
    release = asyncio.Event()
    started = 0

    async def execute() -> int:
        nonlocal started
        started += 1
        await release.wait()
        if started == 1:
            raise RuntimeError("boom")
        return started

    tasks = [asyncio.create_task(registry.call_async(KEY, execute)) for _ in range(N)]
    await async_wait_until(lambda: registry.in_flight(KEY) == N)
    tasks[0].cancel()
    await async_wait_until(lambda: registry.in_flight(KEY) == N - 1)
    release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outcomes[0], asyncio.CancelledError)
    assert all(isinstance(o, RuntimeError) for o in outcomes[1:])
    assert await registry.call_async(KEY, execute) == 2
    assert started == 2


def test_registry_is_per_event_loop() -> None:
    registry = Registry()
    gate = threading.Barrier(2)
    results: list[int] = []

    async def execute() -> int:
        await asyncio.to_thread(gate.wait, 10)  # both loops are in flight at once
        return threading.get_ident()

    def run() -> None:
        results.append(asyncio.run(registry.call_async(KEY, execute)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(set(results)) == 2


def test_now_is_part_of_the_key() -> None:
    a = OverviewKey("db", "o", datetime(2026, 1, 1, tzinfo=UTC), None, None)
    b = OverviewKey("db", "o", datetime(2026, 1, 1, 1, tzinfo=UTC), None, None)
    assert a != b
    assert a == OverviewKey("db", "o", datetime(2026, 1, 1, tzinfo=UTC), None, None)
