"""`Client` (sync) and `AsyncClient` (asyncio): the thin wrapper around the read functions.

Each method sends one statement from queries.sql over a psycopg_pool pool and
returns typed results (models.py). A pool the caller passes in is used and
never closed; otherwise the client creates its own from a conninfo and closes
it in `close()`. The schema is checked once, at start, against the migration
ledger (SchemaTooOld / SchemaTooNew). Every psycopg error is mapped to the
package's own types (errors.map_database_error).

`overview` calls go through the coalescing registry (coalesce.py): concurrent
equal calls share one execution; `coalesce=False` bypasses it, and
`for_route`/`diagnostics` never use it. `cache_ttl` opts into keeping overview
results that long; with `listen=True` the client LISTENs on
`connection_summary_changed` and drops cached results of the owner named in
each notification.

After a server restart every idle pooled connection is dead. Each call checks
the connection it takes (an empty query); when that finds it dead, the client
has the pool check its other idle connections (`pool.check()` replaces the dead
ones) and takes a fresh connection, once. So the first call after a restart
succeeds, whatever the pool size, for client-made and callers' pools alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from . import queries
from .coalesce import REGISTRY, OverviewKey
from .errors import ConnectionSummaryError, InvalidArgument, map_database_error
from .migrations import check_schema
from .models import Diagnostics, Summary, json_loads

#: The largest `limit` / `run_limit` the SQL accepts (it enforces the same bound).
MAX_LIMIT = 1000

__all__ = ["MAX_LIMIT", "AsyncClient", "Client"]


# --- input checks (the SQL checks again and is the source of truth) ---------------------------


def _check_text(value: str, name: str) -> str:
    """Text the database can hold: valid UTF-8 (no lone surrogates), no NUL."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(f"{name} is not valid Unicode text: {value!r}") from exc
    if "\x00" in value:
        raise InvalidArgument(f"{name} must not contain NUL characters: {value!r}")
    return value


def _check_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{name} must be a non-empty string, got {value!r}")
    return _check_text(value, name)


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer, got {value!r}")
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidArgument(f"{name} must be between 1 and {MAX_LIMIT}, got {value}")
    return value


def _check_now(now: object) -> datetime | None:
    if now is None:
        return None
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise InvalidArgument(f"now must be a timezone-aware datetime, got {now!r}")
    return now


def _overview_params(owner_id: object, now: object, limit: object,
                     after: object) -> dict[str, Any]:
    if after is not None and not isinstance(after, str):
        raise InvalidArgument(f"after must be a cursor string, got {after!r}")
    return {
        "owner_id": _check_id(owner_id, "owner_id"),
        "now": _check_now(now),
        "limit": None if limit is None else _check_count(limit, "limit"),
        "after": None if after is None else _check_text(after, "after"),
    }


def _route_params(owner_id: object, route_id: object, now: object) -> dict[str, Any]:
    return {
        "owner_id": _check_id(owner_id, "owner_id"),
        "route_id": _check_id(route_id, "route_id"),
        "now": _check_now(now),
    }


def _overview_key(database: str, params: Mapping[str, Any]) -> OverviewKey:
    return OverviewKey(database, params["owner_id"], params["now"], params["limit"],
                       params["after"])


def _summaries(rows: list[dict[str, Any]]) -> tuple[Summary, ...]:
    return tuple(Summary.from_row(row) for row in rows)


def _diagnostics(rows: list[dict[str, Any]]) -> Diagnostics | None:
    value = rows[0]["diagnostics"] if rows else None
    return None if value is None else Diagnostics.from_json(value)


def _next_page(page: list[Summary], page_size: int) -> str | None:
    """The cursor to continue after `page`, or None when it was the last page."""
    if len(page) < page_size:
        return None
    return page[-1].cursor


# --- connections: schema check, database identity, conninfo of a pool -------------------------


def _conninfo_keywords() -> frozenset[str]:
    return frozenset(o.keyword.decode() for o in psycopg.pq.Conninfo.get_defaults())


def _merge_conninfo(conninfo: object, kwargs: object) -> str:
    """A conninfo reaching a pool's database: its conninfo plus its connection keywords."""
    keywords = _conninfo_keywords()
    extra = ({k: v for k, v in kwargs.items() if k in keywords}
             if isinstance(kwargs, Mapping) else {})
    return psycopg.conninfo.make_conninfo(str(conninfo or ""), **extra)


def _sync_pool_conninfo(pool: ConnectionPool[Any]) -> str:
    """The conninfo of a caller's pool (which may give it, or its kwargs, by a callable)."""
    conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
    kwargs = pool.kwargs() if callable(pool.kwargs) else pool.kwargs
    return _merge_conninfo(conninfo, kwargs)


async def _async_pool_conninfo(pool: AsyncConnectionPool[Any]) -> str:
    """The conninfo of a caller's async pool (callables may be sync or async)."""
    conninfo: object = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
    if inspect.isawaitable(conninfo):
        conninfo = await conninfo
    kwargs: object = pool.kwargs() if callable(pool.kwargs) else pool.kwargs
    if inspect.isawaitable(kwargs):
        kwargs = await kwargs
    return _merge_conninfo(conninfo, kwargs)


def _start(conn: psycopg.Connection[Any]) -> str:
    """Check the schema against the ledger; return the database identity for coalescing."""
    saved = conn.row_factory
    conn.row_factory = tuple_row
    try:
        check_schema(conn, strict_routines=False)
    finally:
        conn.row_factory = saved
    info = conn.info
    options = info.get_parameters().get("options", "")
    return (f"host={info.host} port={info.port} dbname={info.dbname} user={info.user} "
            f"options={options}")


def _alive(conn: psycopg.Connection[Any]) -> bool:
    """Whether a pool connection answers an empty query; False when it is gone."""
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        if conn.closed:  # the server restarted, or the backend was terminated
            return False
        raise
    return True


async def _async_alive(conn: psycopg.AsyncConnection[Any]) -> bool:
    """The asyncio counterpart of `_alive`."""
    try:
        await AsyncConnectionPool.check_connection(conn)
    except psycopg.Error:
        if conn.closed:
            return False
        raise
    return True


def _connect_and_start(conninfo: str, timeout: float) -> str:
    try:
        with psycopg.connect(conninfo, connect_timeout=max(1, round(timeout))) as conn:
            return _start(conn)
    except psycopg.Error as exc:
        raise map_database_error(exc) from exc


# --- LISTEN for changes ----------------------------------------------------------------------


def _on_notify(database: str, payload: str) -> None:
    # The payload is an owner id; '*' (the shared connector catalog changed) or
    # an empty payload means every owner.
    REGISTRY.invalidate(None if payload in ("", "*") else payload, database=database)


class _Listener:
    """A thread with its own connection, LISTENing on connection_summary_changed.

    The first connection is made by the constructor (so a bad conninfo fails
    the client's start); after a lost connection it reconnects with backoff
    and drops every cached result of the database, since notifications may
    have been missed meanwhile.
    """

    def __init__(self, conninfo: str, database: str, timeout: float) -> None:
        self._conninfo = conninfo
        self._database = database
        self._timeout = timeout
        self._stop = threading.Event()
        self._conn: psycopg.Connection[Any] | None = self._connect()
        self._thread = threading.Thread(target=self._run, name="connection-summary-listen",
                                        daemon=True)
        self._thread.start()

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self._conninfo, autocommit=True,
                               connect_timeout=max(1, round(self._timeout)))
        conn.execute(queries.LISTEN_CHANGES)
        return conn

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                if self._conn is None:
                    self._conn = self._connect()
                    REGISTRY.invalidate(database=self._database)
                    backoff = 0.1
                for notify in self._conn.notifies(timeout=0.2):
                    _on_notify(self._database, notify.payload)
            except psycopg.Error:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        if self._conn is not None:
            self._conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class _AsyncListener:
    """The asyncio counterpart of `_Listener`: a task with its own connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], conninfo: str, database: str,
                 connect_timeout: float) -> None:
        self._conn: psycopg.AsyncConnection[Any] | None = conn
        self._conninfo = conninfo
        self._database = database
        self._timeout = connect_timeout
        self._task = asyncio.get_running_loop().create_task(self._run())

    @classmethod
    async def start(cls, conninfo: str, database: str, connect_timeout: float) -> _AsyncListener:
        conn = await cls._connect(conninfo, connect_timeout)
        return cls(conn, conninfo, database, connect_timeout)

    @staticmethod
    async def _connect(conninfo: str, connect_timeout: float) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, connect_timeout=max(1, round(connect_timeout)))
        await conn.execute(queries.LISTEN_CHANGES)
        return conn

    async def _run(self) -> None:
        backoff = 0.1
        try:
            while True:
                try:
                    if self._conn is None:
                        self._conn = await self._connect(self._conninfo, self._timeout)
                        REGISTRY.invalidate(database=self._database)
                        backoff = 0.1
                    async for notify in self._conn.notifies():
                        _on_notify(self._database, notify.payload)
                except psycopg.Error:
                    if self._conn is not None:
                        await self._conn.close()
                        self._conn = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            if self._conn is not None:
                await self._conn.close()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


# --- the sync client -------------------------------------------------------------------------


class Client:
    """Reads connection summaries through a psycopg_pool ConnectionPool.

    `Client(conninfo)` creates (and in `close()` closes) a pool of its own;
    `Client(pool)` uses the caller's open pool and never closes it; make that pool
    without a `check=` callback (the client checks connections itself, see
    `_connection`; the pool's check sleeps after each dead connection it finds).
    `cache_ttl` (seconds) lets overview results be reused that long;
    `listen=True` drops them when the database NOTIFYs a change.
    `timeout` bounds connecting and waiting for a pool connection.
    """

    def __init__(
        self,
        conninfo: str | ConnectionPool[Any] = "",
        *,
        cache_ttl: float | None = None,
        listen: bool = False,
        timeout: float = 30.0,
        max_size: int = 10,
    ) -> None:
        self._cache_ttl = cache_ttl
        self._listener: _Listener | None = None
        self._closed = False
        if isinstance(conninfo, ConnectionPool):
            self._pool: ConnectionPool[Any] = conninfo
            self._owns_pool = False
            self._timeout: float | None = None
            self._conninfo = _sync_pool_conninfo(conninfo)
            try:
                with self._connection() as conn:
                    self._database = _start(conn)
            except psycopg.Error as exc:
                raise map_database_error(exc) from exc
        else:
            self._owns_pool = True
            self._timeout = timeout
            self._conninfo = conninfo
            # One plain connection first: its errors say why the database is unreachable.
            self._database = _connect_and_start(conninfo, timeout)
            # No `check=` callback: psycopg_pool sleeps 1 s, 2 s, 4 s... after each
            # connection its check finds dead, so after a restart a pool of idle
            # connections would outlast `timeout`. `_connection` checks instead.
            self._pool = ConnectionPool(
                conninfo, min_size=1, max_size=max_size, open=False, timeout=timeout,
                name="connection-summary")
            try:
                self._pool.open(wait=True, timeout=timeout)
            except psycopg.Error as exc:
                self._pool.close()
                raise map_database_error(exc) from exc
        if listen:
            try:
                self._listener = _Listener(self._conninfo, self._database, timeout)
            except psycopg.Error as exc:
                self.close()
                raise map_database_error(exc) from exc

    @property
    def database_identity(self) -> str:
        """Which database this client reads: part of every coalescing key."""
        return self._database

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pool connection that has just answered a check.

        A connection found dead (after a server restart every idle one is) is
        given back, the pool checks its other idle connections and replaces the
        dead ones, and a fresh connection is taken: one retry. Only the check
        ran on the dead connection, never the statement; the statements are
        side-effect-free reads anyway, so running one on a fresh connection is
        always safe.
        """
        with self._pool.connection(timeout=self._timeout) as conn:
            if _alive(conn):
                yield conn
                return
        self._pool.check()
        with self._pool.connection(timeout=self._timeout) as conn:
            ConnectionPool.check_connection(conn)  # dead again: the server is going away
            yield conn

    def _fetch(self, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self._closed:
            raise ConnectionSummaryError("the client is closed")
        try:
            with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                set_json_loads(json_loads, cur)  # any integer jsonb holds
                cur.execute(query, params)
                rows: list[dict[str, Any]] = cur.fetchall()
                return rows
        except psycopg.Error as exc:
            raise map_database_error(exc) from exc

    def _overview(self, params: Mapping[str, Any]) -> tuple[Summary, ...]:
        return _summaries(self._fetch(queries.OVERVIEW, params))

    def overview(
        self,
        owner_id: str,
        *,
        now: datetime | None = None,
        limit: int | None = None,
        after: str | None = None,
        coalesce: bool = True,
    ) -> list[Summary]:
        """The owner's non-draft connections, in overview order (CONTRACT §3).

        `limit` (1..1000) and `after` (a row's `cursor`) page through them.
        Concurrent equal calls share one execution unless `coalesce=False`.
        """
        params = _overview_params(owner_id, now, limit, after)
        if not coalesce:
            return list(self._overview(params))
        key = _overview_key(self._database, params)
        return list(REGISTRY.call(key, lambda: self._overview(params), ttl=self._cache_ttl))

    def iter_overview(
        self,
        owner_id: str,
        *,
        now: datetime | None = None,
        page_size: int = 100,
        coalesce: bool = True,
    ) -> Iterator[Summary]:
        """Every overview row, fetched `page_size` at a time; `now` is pinned across pages."""
        _overview_params(owner_id, now, page_size, None)

        def pages() -> Iterator[Summary]:
            pinned, after = now, None
            while True:
                page = self.overview(owner_id, now=pinned, limit=page_size, after=after,
                                     coalesce=coalesce)
                yield from page
                after = _next_page(page, page_size)
                if after is None:
                    return
                pinned = pinned or page[0].observed_at

        return pages()

    def for_route(self, owner_id: str, route_id: str, *,
                  now: datetime | None = None) -> Summary | None:
        """The deep summary of one connection (instance id, or a connector id with one
        non-draft connection), or None when the route names none of the owner's."""
        rows = self._fetch(queries.FOR_ROUTE, _route_params(owner_id, route_id, now))
        return Summary.from_row(rows[0]) if rows else None

    def diagnostics(self, owner_id: str, route_id: str, *, now: datetime | None = None,
                    run_limit: int = 20) -> Diagnostics | None:
        """The deep summary plus recent runs and the latest run's events, or None."""
        params = {**_route_params(owner_id, route_id, now),
                  "run_limit": _check_count(run_limit, "run_limit")}
        return _diagnostics(self._fetch(queries.DIAGNOSTICS, params))

    def invalidate(self, owner_id: str | None = None) -> None:
        """Drop cached overview results of this database (of one owner, or all)."""
        REGISTRY.invalidate(owner_id, database=self._database)

    def close(self) -> None:
        """Stop the listener and close the pool if the client created it."""
        if self._closed:
            return
        self._closed = True
        if self._listener is not None:
            self._listener.close()
        if self._owns_pool:
            self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# --- the async client ------------------------------------------------------------------------


class AsyncClient:
    """The asyncio client, over a psycopg_pool AsyncConnectionPool.

    Use `async with AsyncClient(conninfo) as client:` or `await client.open()`;
    the first call opens it otherwise. Arguments are those of `Client`.
    """

    def __init__(
        self,
        conninfo: str | AsyncConnectionPool[Any] = "",
        *,
        cache_ttl: float | None = None,
        listen: bool = False,
        timeout: float = 30.0,
        max_size: int = 10,
    ) -> None:
        self._cache_ttl = cache_ttl
        self._listen = listen
        self._timeout_setting = timeout
        self._listener: _AsyncListener | None = None
        self._database: str | None = None
        self._opening: asyncio.Future[str] | None = None
        self._closed = False
        if isinstance(conninfo, AsyncConnectionPool):
            self._pool: AsyncConnectionPool[Any] = conninfo
            self._owns_pool = False
            self._timeout: float | None = None
            self._conninfo: str | None = None  # resolved by open()
        else:
            # No `check=` callback: see Client; `_connection` checks instead.
            self._pool = AsyncConnectionPool(
                conninfo, min_size=1, max_size=max_size, open=False, timeout=timeout,
                name="connection-summary")
            self._owns_pool = True
            self._timeout = timeout
            self._conninfo = conninfo

    async def open(self) -> Self:
        """Check the schema, open the pool (if the client owns it), start the listener."""
        await self._started()
        return self

    async def _started(self) -> str:
        if self._closed:
            raise ConnectionSummaryError("the client is closed")
        if self._database is not None:
            return self._database
        # The first caller opens; concurrent first callers wait for it.
        opening = self._opening
        if opening is None or (opening.done()
                               and (opening.cancelled() or opening.exception() is not None)):
            opening = self._opening = asyncio.get_running_loop().create_task(self._open())
        return await asyncio.shield(opening)

    async def _open(self) -> str:
        timeout = self._timeout_setting
        if self._conninfo is None:
            self._conninfo = await _async_pool_conninfo(self._pool)
        conninfo = self._conninfo
        # The schema check is the sync one (migrations.check_schema), on a plain
        # connection in a worker thread; its errors say why the database is unreachable.
        database = await asyncio.to_thread(_connect_and_start, conninfo, timeout)
        if self._owns_pool:
            try:
                await self._pool.open(wait=True, timeout=timeout)
            except psycopg.Error as exc:
                await self.close()
                raise map_database_error(exc) from exc
        if self._listen:
            try:
                self._listener = await _AsyncListener.start(conninfo, database, timeout)
            except psycopg.Error as exc:
                await self.close()
                raise map_database_error(exc) from exc
        self._database = database
        return database

    @property
    def database_identity(self) -> str | None:
        """Which database this client reads (None until it is open)."""
        return self._database

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """See `Client._connection`: one retry when the connection is found dead."""
        async with self._pool.connection(timeout=self._timeout) as conn:
            if await _async_alive(conn):
                yield conn
                return
        await self._pool.check()
        async with self._pool.connection(timeout=self._timeout) as conn:
            await AsyncConnectionPool.check_connection(conn)
            yield conn

    async def _fetch(self, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        await self._started()
        try:
            async with (self._connection() as conn,
                        conn.cursor(row_factory=dict_row) as cur):
                set_json_loads(json_loads, cur)  # any integer jsonb holds
                await cur.execute(query, params)
                rows: list[dict[str, Any]] = await cur.fetchall()
                return rows
        except psycopg.Error as exc:
            raise map_database_error(exc) from exc

    async def _overview(self, params: Mapping[str, Any]) -> tuple[Summary, ...]:
        return _summaries(await self._fetch(queries.OVERVIEW, params))

    async def overview(
        self,
        owner_id: str,
        *,
        now: datetime | None = None,
        limit: int | None = None,
        after: str | None = None,
        coalesce: bool = True,
    ) -> list[Summary]:
        """See `Client.overview`."""
        params = _overview_params(owner_id, now, limit, after)
        database = await self._started()
        if not coalesce:
            return list(await self._overview(params))
        key = _overview_key(database, params)
        return list(await REGISTRY.call_async(key, lambda: self._overview(params),
                                              ttl=self._cache_ttl))

    def iter_overview(
        self,
        owner_id: str,
        *,
        now: datetime | None = None,
        page_size: int = 100,
        coalesce: bool = True,
    ) -> AsyncIterator[Summary]:
        """See `Client.iter_overview`: `async for row in client.iter_overview(owner)`."""
        _overview_params(owner_id, now, page_size, None)

        async def pages() -> AsyncIterator[Summary]:
            pinned, after = now, None
            while True:
                page = await self.overview(owner_id, now=pinned, limit=page_size, after=after,
                                           coalesce=coalesce)
                for row in page:
                    yield row
                after = _next_page(page, page_size)
                if after is None:
                    return
                pinned = pinned or page[0].observed_at

        return pages()

    async def for_route(self, owner_id: str, route_id: str, *,
                        now: datetime | None = None) -> Summary | None:
        """See `Client.for_route`."""
        rows = await self._fetch(queries.FOR_ROUTE, _route_params(owner_id, route_id, now))
        return Summary.from_row(rows[0]) if rows else None

    async def diagnostics(self, owner_id: str, route_id: str, *, now: datetime | None = None,
                          run_limit: int = 20) -> Diagnostics | None:
        """See `Client.diagnostics`."""
        params = {**_route_params(owner_id, route_id, now),
                  "run_limit": _check_count(run_limit, "run_limit")}
        return _diagnostics(await self._fetch(queries.DIAGNOSTICS, params))

    def invalidate(self, owner_id: str | None = None) -> None:
        """Drop cached overview results of this database (of one owner, or all)."""
        if self._database is not None:
            REGISTRY.invalidate(owner_id, database=self._database)

    async def close(self) -> None:
        """Stop the listener and close the pool if the client created it."""
        if self._closed:
            return
        self._closed = True
        if self._listener is not None:
            await self._listener.close()
        if self._owns_pool:
            await self._pool.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
