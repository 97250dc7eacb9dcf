"""`Client` (sync) and `AsyncClient` (asyncio): one statement of queries.sql per method.

Both share `_Reader` (state, checks, statements, decoding) and differ only in I/O. After
a server restart every idle pooled connection is dead, so each call checks the connection
it takes and, finding it dead, has the pool check its idle ones and retries once.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from .coalesce import REGISTRY, OverviewKey
from .errors import ConnectionSummaryError, InvalidArgument, map_database_error
from .migrations import QUERIES, check_schema
from .models import Diagnostics, Summary, json_loads

#: The largest `limit` / `run_limit` the SQL accepts (it enforces the same bound).
MAX_LIMIT = 1000

__all__ = ["MAX_LIMIT", "AsyncClient", "Client"]

T = TypeVar("T")
P = TypeVar("P", ConnectionPool[Any], AsyncConnectionPool[Any])
Rows = list[dict[str, Any]]
# A call but its I/O: the statement, its parameters and how to read its rows.
Call = tuple[str, dict[str, Any], Callable[[Rows], T]]


# Input checks; the SQL checks again and is the source of truth.
def _check_text(value: object, name: str, *, empty: bool = True) -> str:
    if not isinstance(value, str) or not (empty or value):
        raise InvalidArgument(f"{name} must be a non-empty string, got {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(f"{name} is not valid Unicode text: {value!r}") from exc
    if "\x00" in value:
        raise InvalidArgument(f"{name} must not contain NUL characters: {value!r}")
    return value


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer, got {value!r}")
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidArgument(f"{name} must be between 1 and {MAX_LIMIT}, got {value}")
    return value


def _params(owner_id: object, now: object, **more: object) -> dict[str, Any]:
    if now is not None and (not isinstance(now, datetime) or now.utcoffset() is None):
        raise InvalidArgument(f"now must be a timezone-aware datetime, got {now!r}")
    return {"owner_id": _check_text(owner_id, "owner_id", empty=False), "now": now, **more}


def _overview(owner_id: object, now: object, limit: object,
              after: object) -> Call[tuple[Summary, ...]]:
    if after is not None and not isinstance(after, str):
        raise InvalidArgument(f"after must be a cursor string, got {after!r}")
    params = _params(owner_id, now, limit=None if limit is None else _check_count(limit, "limit"),
                     after=None if after is None else _check_text(after, "after"))
    return QUERIES["overview"], params, lambda rows: tuple(map(Summary.from_row, rows))


def _for_route(owner_id: object, route_id: object, now: object) -> Call[Summary | None]:
    params = _params(owner_id, now, route_id=_check_text(route_id, "route_id", empty=False))
    return QUERIES["for_route"], params, lambda rows: Summary.from_row(rows[0]) if rows else None


def _diagnostics(owner_id: object, route_id: object, now: object,
                 run_limit: object) -> Call[Diagnostics | None]:
    params = {**_for_route(owner_id, route_id, now)[1],
              "run_limit": _check_count(run_limit, "run_limit")}
    return QUERIES["diagnostics"], params, lambda rows: (
        None if not rows or rows[0]["diagnostics"] is None
        else Diagnostics.from_json(rows[0]["diagnostics"]))


def _next_page(page: list[Summary], size: int,
               pinned: datetime | None) -> tuple[datetime, str] | None:
    """Where the next page of `iter_overview` starts; `now` stays pinned across pages."""
    return None if len(page) < size else (pinned or page[0].observed_at, page[-1].cursor)


def _merge_conninfo(conninfo: object, kwargs: object) -> str:
    """A pool's conninfo plus its connection keywords (for the listener and the check)."""
    keywords = {o.keyword.decode() for o in psycopg.pq.Conninfo.get_defaults()}
    extra = ({k: v for k, v in kwargs.items() if k in keywords}
             if isinstance(kwargs, Mapping) else {})
    return psycopg.conninfo.make_conninfo(str(conninfo or ""), **extra)


def _connect_and_start(conninfo: str, timeout: float) -> str:
    """Check the schema on a plain connection, whose errors say why the database is
    unreachable; return the database identity, part of every coalescing key."""
    try:
        with psycopg.connect(conninfo, connect_timeout=max(1, round(timeout)),
                             row_factory=tuple_row) as conn:
            check_schema(conn, strict_routines=False)
            info = conn.info
            return (f"host={info.host} port={info.port} dbname={info.dbname} "
                    f"user={info.user} options={info.get_parameters().get('options', '')}")
    except psycopg.Error as exc:
        raise map_database_error(exc) from exc


class _Listener:
    """A thread LISTENing on connection_summary_changed, for both clients (invalidation
    is thread-safe and no event loop has to outlive it). After a lost connection every
    cached result of the database is dropped: notifications may have been missed."""

    def __init__(self, conninfo: str, database: str, timeout: float) -> None:
        self._conninfo, self._database, self._timeout = conninfo, database, timeout
        self._stop = threading.Event()
        self._conn = self._connect()  # fails the client's start
        self._thread = threading.Thread(target=self._run, name="connection-summary-listen",
                                        daemon=True)
        self._thread.start()

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self._conninfo, autocommit=True,
                               connect_timeout=max(1, round(self._timeout)))
        conn.execute(QUERIES["listen_changes"])
        return conn

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                if self._conn.closed:
                    self._conn = self._connect()
                    REGISTRY.invalidate(database=self._database)
                    backoff = 0.1
                for notify in self._conn.notifies(timeout=0.2):
                    # An owner id; '*' (the shared connector catalog) or '' means everyone.
                    owner = None if notify.payload in ("", "*") else notify.payload
                    REGISTRY.invalidate(owner, database=self._database)
            except psycopg.Error:
                self._conn.close()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        self._conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class _Reader(Generic[P]):
    """State and rules of a client; the subclasses add only the I/O."""

    _pool_type: type[P]

    def __init__(self, conninfo: str | P = "", *, cache_ttl: float | None = None,
                 listen: bool = False, timeout: float = 30.0, max_size: int = 10) -> None:
        self._cache_ttl, self._listen, self._timeout = cache_ttl, listen, timeout
        self._listener: _Listener | None = None
        self._database: str | None = None
        self._closed = False
        self._owns_pool = not isinstance(conninfo, self._pool_type)
        # A caller's pool keeps its own timeout; the conninfo is read from it.
        self._conninfo = str(conninfo) if self._owns_pool else None
        # No `check=` callback: psycopg_pool sleeps 1 s, 2 s, 4 s... after each dead
        # connection it finds, outlasting `timeout` after a restart; `_read` checks.
        self._pool: P = conninfo if isinstance(conninfo, self._pool_type) else self._pool_type(
            str(conninfo), min_size=1, max_size=max_size, open=False, timeout=timeout,
            name="connection-summary")

    def _pool_settings(self) -> list[object]:
        return [v() if callable(v) else v for v in (self._pool.conninfo, self._pool.kwargs)]

    def _start_listener(self, database: str) -> None:
        if self._listen and self._conninfo is not None:
            self._listener = _Listener(self._conninfo, database, self._timeout)

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionSummaryError("the client is closed")

    def invalidate(self, owner_id: str | None = None) -> None:
        """Drop cached overview results of this database (of one owner, or all)."""
        if self._database is not None:
            REGISTRY.invalidate(owner_id, database=self._database)


class Client(_Reader[ConnectionPool[Any]]):
    """Reads connection summaries through a psycopg_pool ConnectionPool.

    `Client(conninfo)` makes (and `close()` closes) a pool of its own; `Client(pool)`
    uses the caller's open pool, which should have no `check=` callback. `cache_ttl`
    (seconds) lets overview results be reused that long; `listen=True` drops them when
    the database NOTIFYs a change. `timeout` bounds connecting and waiting for a connection.
    """

    _pool_type = ConnectionPool

    def __init__(self, conninfo: str | ConnectionPool[Any] = "", *,
                 cache_ttl: float | None = None, listen: bool = False, timeout: float = 30.0,
                 max_size: int = 10) -> None:
        super().__init__(conninfo, cache_ttl=cache_ttl, listen=listen, timeout=timeout,
                         max_size=max_size)
        self._conninfo = self._conninfo or _merge_conninfo(*self._pool_settings())
        self._database = _connect_and_start(self._conninfo, timeout)
        try:
            if self._owns_pool:
                self._pool.open(wait=True, timeout=timeout)
            self._start_listener(self._database)
        except psycopg.Error as exc:
            self.close()
            raise map_database_error(exc) from exc

    @property
    def database_identity(self) -> str:
        """Which database this client reads: part of every coalescing key."""
        assert self._database is not None
        return self._database

    def _read(self, query: str, params: Mapping[str, Any], decode: Callable[[Rows], T]) -> T:
        self._check_open()
        try:
            for retry in (False, True):  # only the check runs on a dead connection
                if retry:
                    self._pool.check()
                with self._pool.connection() as conn:
                    try:
                        ConnectionPool.check_connection(conn)
                    except psycopg.Error:
                        if retry or not conn.closed:  # alive, or dead again: the server is going
                            raise
                        continue
                    with conn.cursor(row_factory=dict_row) as cur:
                        set_json_loads(json_loads, cur)  # any integer jsonb holds
                        cur.execute(query, params)
                        return decode(cur.fetchall())
        except psycopg.Error as exc:
            raise map_database_error(exc) from exc
        raise AssertionError("unreachable: the retry re-raises")

    def overview(self, owner_id: str, *, now: datetime | None = None, limit: int | None = None,
                 after: str | None = None, coalesce: bool = True) -> list[Summary]:
        """The owner's non-draft connections in overview order; `limit` (1..1000) and
        `after` (a row's `cursor`) page. Equal concurrent calls share one execution."""
        call = _overview(owner_id, now, limit, after)
        read = functools.partial(self._read, *call)
        key = OverviewKey(self.database_identity, **call[1])  # the parameters name its fields
        return list(REGISTRY.call(key, read, ttl=self._cache_ttl) if coalesce else read())

    def iter_overview(self, owner_id: str, *, now: datetime | None = None,
                      page_size: int = 100, coalesce: bool = True) -> Iterator[Summary]:
        """Every overview row, fetched `page_size` at a time."""
        _overview(owner_id, now, page_size, None)  # bad arguments fail now, not at next()

        def pages() -> Iterator[Summary]:
            at: tuple[datetime | None, str | None] | None = (now, None)
            while at is not None:
                page = self.overview(owner_id, now=at[0], limit=page_size, after=at[1],
                                     coalesce=coalesce)
                yield from page
                at = _next_page(page, page_size, at[0])

        return pages()

    def for_route(self, owner_id: str, route_id: str, *,
                  now: datetime | None = None) -> Summary | None:
        """The deep summary of one connection (instance id, or a connector id with one
        non-draft connection), or None when the route names none of the owner's."""
        return self._read(*_for_route(owner_id, route_id, now))

    def diagnostics(self, owner_id: str, route_id: str, *, now: datetime | None = None,
                    run_limit: int = 20) -> Diagnostics | None:
        """The deep summary plus recent runs and the latest run's events, or None."""
        return self._read(*_diagnostics(owner_id, route_id, now, run_limit))

    def close(self) -> None:
        """Stop the listener and close the pool if the client created it."""
        if not self._closed:
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


class AsyncClient(_Reader[AsyncConnectionPool[Any]]):
    """The asyncio client over an AsyncConnectionPool; arguments as `Client`'s.

    `async with AsyncClient(conninfo) as client:`, or `await client.open()`; else the
    first call opens it.
    """

    _pool_type = AsyncConnectionPool
    _opening: asyncio.Task[str] | None = None  # the first opening, shared by concurrent callers

    async def open(self) -> Self:
        """Check the schema, open the pool (if the client owns it), start the listener."""
        await self._started()
        return self

    async def _started(self) -> str:
        self._check_open()
        if self._database is not None:
            return self._database
        # Concurrent first callers wait for one opening; a failed one is retried by the next.
        opening = self._opening
        if opening is None or (opening.done()
                               and (opening.cancelled() or opening.exception() is not None)):
            opening = self._opening = asyncio.get_running_loop().create_task(self._open())
        return await asyncio.shield(opening)

    async def _open(self) -> str:
        if self._conninfo is None:
            self._conninfo = _merge_conninfo(*[await v if inspect.isawaitable(v) else v
                                               for v in self._pool_settings()])
        database = await asyncio.to_thread(_connect_and_start, self._conninfo, self._timeout)
        try:
            if self._owns_pool:
                await self._pool.open(wait=True, timeout=self._timeout)
            await asyncio.to_thread(self._start_listener, database)
        except psycopg.Error as exc:
            await self.close()
            raise map_database_error(exc) from exc
        self._database = database
        return database

    @property
    def database_identity(self) -> str | None:
        """Which database this client reads (None until it is open)."""
        return self._database

    async def _read(self, query: str, params: Mapping[str, Any],
                    decode: Callable[[Rows], T]) -> T:
        await self._started()
        try:
            for retry in (False, True):  # as Client._read
                if retry:
                    await self._pool.check()
                async with self._pool.connection() as conn:
                    try:
                        await AsyncConnectionPool.check_connection(conn)
                    except psycopg.Error:
                        if retry or not conn.closed:
                            raise
                        continue
                    async with conn.cursor(row_factory=dict_row) as cur:
                        set_json_loads(json_loads, cur)
                        await cur.execute(query, params)
                        return decode(await cur.fetchall())
        except psycopg.Error as exc:
            raise map_database_error(exc) from exc
        raise AssertionError("unreachable: the retry re-raises")

    async def overview(self, owner_id: str, *, now: datetime | None = None,
                       limit: int | None = None, after: str | None = None,
                       coalesce: bool = True) -> list[Summary]:
        call = _overview(owner_id, now, limit, after)
        read = functools.partial(self._read, *call)
        key = OverviewKey(await self._started(), **call[1])
        return list(await REGISTRY.call_async(key, read, ttl=self._cache_ttl)
                    if coalesce else await read())

    def iter_overview(self, owner_id: str, *, now: datetime | None = None,
                      page_size: int = 100, coalesce: bool = True) -> AsyncIterator[Summary]:
        _overview(owner_id, now, page_size, None)

        async def pages() -> AsyncIterator[Summary]:
            at: tuple[datetime | None, str | None] | None = (now, None)
            while at is not None:
                page = await self.overview(owner_id, now=at[0], limit=page_size, after=at[1],
                                           coalesce=coalesce)
                for row in page:
                    yield row
                at = _next_page(page, page_size, at[0])

        return pages()

    async def for_route(self, owner_id: str, route_id: str, *,
                        now: datetime | None = None) -> Summary | None:
        return await self._read(*_for_route(owner_id, route_id, now))

    async def diagnostics(self, owner_id: str, route_id: str, *, now: datetime | None = None,
                          run_limit: int = 20) -> Diagnostics | None:
        return await self._read(*_diagnostics(owner_id, route_id, now, run_limit))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._listener is not None:
                await asyncio.to_thread(self._listener.close)
            if self._owns_pool:
                await self._pool.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
