"""Client and AsyncClient after `pg_ctl restart -m fast` and `-m immediate`.

Each test warms a pool of 8 connections (8 concurrent scoped reads, held in the
database by a table lock so that each needs a connection of its own), restarts
the server, which cuts all 8, and times the first call: it must succeed, with
the demo rows, in under 2 s (the requirement; the measured seconds are printed).

These tests restart their server, so they always start a private one of their
own, even when DATABASE_URL is set: a server they did not start is never
restarted, and a missing server is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from connection_summary import REGISTRY, AsyncClient, Client, OverviewKey, Summary, migrate
from connection_summary.cli import DEMO_OWNER, DEMO_ROUTE, DEMO_SQL
from connection_summary.localpg import LocalServer, start_local_server

T = TypeVar("T")

APP = "cs-restart-test"
POOL_SIZE = 8
WAITERS = 20
#: The requirement: the first call after a restart succeeds within this many seconds.
FIRST_CALL_BOUND = 2.0
MODES = ["fast", "immediate"]


# --- a private server that may be restarted, with the demo data ------------------------------


@pytest.fixture(scope="module")
def restartable() -> Iterator[LocalServer]:
    server = start_local_server()  # never DATABASE_URL: we restart this server
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def demo_db(restartable: LocalServer) -> str:
    """A database migrated to head with demo.sql loaded (as `connection-summary demo` does)."""
    with psycopg.connect(restartable.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier("cs_restart")))
    conninfo = restartable.conninfo("cs_restart")
    migrate(conninfo)
    with psycopg.connect(conninfo) as conn:
        conn.execute(DEMO_SQL.read_text().encode())
    return conninfo


@pytest.fixture(scope="module")
def demo_ids(demo_db: str) -> list[str]:
    """The demo owner's overview, read straight from SQL."""
    with psycopg.connect(demo_db) as conn:
        rows = conn.execute("select connection_id from connection_summary.overview("
                            "p_owner_id => %s)", (DEMO_OWNER,)).fetchall()
    ids = [str(r[0]) for r in rows]
    assert DEMO_ROUTE in ids
    return ids


def _app(conninfo: str) -> str:
    """The conninfo with an application_name that marks the client's own backends."""
    return psycopg.conninfo.make_conninfo(conninfo, application_name=APP)


# --- helpers: counting backends and executions, holding a lock -------------------------------


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


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


async def async_wait_until(predicate: Callable[[], bool], what: str) -> None:
    """`wait_until` for a predicate that queries the database: run in a thread."""
    deadline = time.monotonic() + 20.0
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def overview_calls(conninfo: str) -> int:
    """Calls of connection_summary.overview, once every other backend has flushed them.

    The server runs with track_functions = all; a backend flushes its counters
    when it exits, so the clients are closed before this is read.
    """
    wait_until(lambda: int(_scalar(
        conninfo,
        "select count(*) from pg_stat_activity where datname = current_database() "
        "and pid <> pg_backend_pid() and backend_type = 'client backend'")) == 0,
        what="the other backends of the database to exit")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        row = conn.execute(
            "select coalesce(sum(calls), 0) from pg_stat_user_functions "
            "where schemaname = 'connection_summary' and funcname = 'overview'").fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def locked(conninfo: str) -> Iterator[None]:
    """Hold ACCESS EXCLUSIVE on connection_states: every read waits inside the database."""
    with psycopg.connect(conninfo) as conn:
        conn.execute("lock table connection_summary.connection_states in access exclusive mode")
        yield


@asynccontextmanager
async def async_locked(conninfo: str) -> AsyncIterator[None]:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        await conn.execute(
            "lock table connection_summary.connection_states in access exclusive mode")
        yield


def _ids(rows: list[Summary]) -> list[str]:
    return [r.connection_id for r in rows]


# --- warming and timing ----------------------------------------------------------------------


def warm(client: Client, conninfo: str) -> None:
    """Make the client's pool hold POOL_SIZE open connections."""
    with ThreadPoolExecutor(POOL_SIZE) as threads:
        with locked(conninfo):
            futures = [threads.submit(client.for_route, DEMO_OWNER, DEMO_ROUTE)
                       for _ in range(POOL_SIZE)]
            wait_until(lambda: backends(conninfo, waiting_on_lock=True) == POOL_SIZE,
                       what=f"{POOL_SIZE} scoped reads waiting in the database")
        assert all(f.result(timeout=30) is not None for f in futures)
    assert backends(conninfo) == POOL_SIZE


async def async_warm(client: AsyncClient, conninfo: str) -> None:
    async with async_locked(conninfo):
        tasks = [asyncio.create_task(client.for_route(DEMO_OWNER, DEMO_ROUTE))
                 for _ in range(POOL_SIZE)]
        await async_wait_until(
            lambda: backends(conninfo, waiting_on_lock=True) == POOL_SIZE,
            what=f"{POOL_SIZE} scoped reads waiting in the database")
    assert all(r is not None for r in await asyncio.gather(*tasks))
    assert await asyncio.to_thread(backends, conninfo) == POOL_SIZE


def _report(what: str, mode: str, started: float, outcome: object) -> float:
    elapsed = time.monotonic() - started
    verdict = "ok" if isinstance(outcome, list) else f"{type(outcome).__name__}: {outcome}"
    print(f"\nfirst call after `pg_ctl restart -m {mode}` ({what}): {elapsed:.3f} s, {verdict}")
    return elapsed


def first_call(what: str, mode: str, call: Callable[[], T]) -> tuple[T, float]:
    started = time.monotonic()
    try:
        result = call()
    except Exception as exc:
        _report(what, mode, started, exc)
        raise
    return result, _report(what, mode, started, result)


async def async_first_call(what: str, mode: str,
                           call: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    started = time.monotonic()
    try:
        result = await call()
    except Exception as exc:
        _report(what, mode, started, exc)
        raise
    return result, _report(what, mode, started, result)


# --- the first call after a restart ----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_sync_client_first_call_after_restart(restartable: LocalServer, demo_db: str,
                                              demo_ids: list[str], mode: str) -> None:
    with Client(_app(demo_db), max_size=POOL_SIZE) as client:
        warm(client, demo_db)
        restartable.restart(mode)
        rows, elapsed = first_call("Client, its own pool", mode,
                                   lambda: client.overview(DEMO_OWNER))
        assert _ids(rows) == demo_ids
        assert elapsed < FIRST_CALL_BOUND
        # The pool is whole again: every later call works too.
        assert _ids(client.overview(DEMO_OWNER, coalesce=False)) == demo_ids
        warm(client, demo_db)


@pytest.mark.parametrize("mode", MODES)
async def test_async_client_first_call_after_restart(restartable: LocalServer, demo_db: str,
                                                     demo_ids: list[str], mode: str) -> None:
    async with AsyncClient(_app(demo_db), max_size=POOL_SIZE) as client:
        await async_warm(client, demo_db)
        await asyncio.to_thread(restartable.restart, mode)
        rows, elapsed = await async_first_call("AsyncClient, its own pool", mode,
                                               lambda: client.overview(DEMO_OWNER))
        assert _ids(rows) == demo_ids
        assert elapsed < FIRST_CALL_BOUND
        assert _ids(await client.overview(DEMO_OWNER, coalesce=False)) == demo_ids
        await async_warm(client, demo_db)


@pytest.mark.parametrize("mode", MODES)
def test_sync_client_with_the_callers_pool_after_restart(
        restartable: LocalServer, demo_db: str, demo_ids: list[str], mode: str) -> None:
    # The caller's pool as docs/python-client.md asks for it: no `check` callback.
    with ConnectionPool(_app(demo_db), min_size=POOL_SIZE, max_size=POOL_SIZE,
                        open=False) as pool:
        pool.open(wait=True, timeout=30)
        with Client(pool) as client:
            wait_until(lambda: backends(demo_db) == POOL_SIZE, what="the caller's pool full")
            restartable.restart(mode)
            rows, elapsed = first_call("Client, the caller's pool", mode,
                                       lambda: client.overview(DEMO_OWNER))
            assert _ids(rows) == demo_ids
            assert elapsed < FIRST_CALL_BOUND
            for _ in range(POOL_SIZE):
                assert client.for_route(DEMO_OWNER, DEMO_ROUTE) is not None


@pytest.mark.parametrize("mode", MODES)
async def test_async_client_with_the_callers_pool_after_restart(
        restartable: LocalServer, demo_db: str, demo_ids: list[str], mode: str) -> None:
    async with AsyncConnectionPool(_app(demo_db), min_size=POOL_SIZE, max_size=POOL_SIZE,
                                   open=False) as pool:
        await pool.open(wait=True, timeout=30)
        async with AsyncClient(pool) as client:
            await async_wait_until(lambda: backends(demo_db) == POOL_SIZE,
                                   what="the caller's pool full")
            await asyncio.to_thread(restartable.restart, mode)
            rows, elapsed = await async_first_call("AsyncClient, the caller's pool", mode,
                                                   lambda: client.overview(DEMO_OWNER))
            assert _ids(rows) == demo_ids
            assert elapsed < FIRST_CALL_BOUND
            for _ in range(POOL_SIZE):
                assert await client.for_route(DEMO_OWNER, DEMO_ROUTE) is not None


# --- coalesced waiters right after a restart -------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_coalesced_waiters_after_restart_share_one_successful_read(
        restartable: LocalServer, demo_db: str, demo_ids: list[str], mode: str) -> None:
    with Client(_app(demo_db), max_size=POOL_SIZE) as client:
        warm(client, demo_db)
        restartable.restart(mode)
        before = overview_calls(demo_db)  # an immediate restart resets the counters
        key = OverviewKey(client.database_identity, DEMO_OWNER, None, None, None)
        with ThreadPoolExecutor(WAITERS) as threads:
            with locked(demo_db):
                futures = [threads.submit(client.overview, DEMO_OWNER) for _ in range(WAITERS)]
                wait_until(lambda: REGISTRY.in_flight(key) == WAITERS,
                           what=f"{WAITERS} callers in flight")
                # The shared read got past the dead connections and waits on the lock.
                wait_until(lambda: backends(demo_db, waiting_on_lock=True) == 1,
                           what="the shared read waiting in the database")
            outcomes = [f.exception(timeout=30) or f.result() for f in futures]
    assert all(isinstance(o, list) for o in outcomes), outcomes
    results: list[list[Summary]] = [o for o in outcomes if isinstance(o, list)]
    assert all(r == results[0] for r in results)
    assert _ids(results[0]) == demo_ids
    assert overview_calls(demo_db) - before == 1


@pytest.mark.parametrize("mode", MODES)
async def test_async_coalesced_waiters_after_restart_share_one_successful_read(
        restartable: LocalServer, demo_db: str, demo_ids: list[str], mode: str) -> None:
    async with AsyncClient(_app(demo_db), max_size=POOL_SIZE) as client:
        await async_warm(client, demo_db)
        await asyncio.to_thread(restartable.restart, mode)
        before = await asyncio.to_thread(overview_calls, demo_db)
        assert client.database_identity is not None
        key = OverviewKey(client.database_identity, DEMO_OWNER, None, None, None)
        async with async_locked(demo_db):
            tasks = [asyncio.create_task(client.overview(DEMO_OWNER)) for _ in range(WAITERS)]
            await async_wait_until(lambda: REGISTRY.in_flight(key) == WAITERS,
                                   what=f"{WAITERS} callers in flight")
            await async_wait_until(lambda: backends(demo_db, waiting_on_lock=True) == 1,
                                   what="the shared read waiting in the database")
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, list) for o in outcomes), outcomes
    results: list[list[Summary]] = [o for o in outcomes if isinstance(o, list)]
    assert all(r == results[0] for r in results)
    assert _ids(results[0]) == demo_ids
    assert await asyncio.to_thread(overview_calls, demo_db) - before == 1
