"""In-process coalescing of overview reads: concurrent equal calls share one execution.

Asyncio waiters await the read's task through `asyncio.shield`, so one cancelled waiter
never cancels it for the others (the last one does). A failure is not remembered;
results are kept only with an opt-in `ttl`; `invalidate` also detaches in-flight reads,
so nobody joins a read older than a change.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from .errors import ConnectionSummaryError

T = TypeVar("T")


@dataclass(frozen=True)
class OverviewKey:
    database: str  # the client's database identity (see client.database_identity)
    owner_id: str
    now: datetime | None  # None: the database's now(), shared by concurrent callers
    limit: int | None
    after: str | None


class SharedExecutionInterrupted(ConnectionSummaryError):
    """The caller that ran a shared read was interrupted (KeyboardInterrupt, SystemExit)."""


@dataclass
class _Flight:
    future: concurrent.futures.Future[Any] | None = None
    task: asyncio.Task[Any] | None = None
    callers: int = 0
    stale: bool = False  # detached by an invalidation: its result is not cached


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[OverviewKey, _Flight] = {}
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[OverviewKey, _Flight]
        ] = weakref.WeakKeyDictionary()
        self._cache: dict[OverviewKey, tuple[float, Any]] = {}

    def _cached(self, key: OverviewKey, ttl: float | None) -> tuple[bool, Any]:
        stored_at, value = self._cache.get(key, (None, None))
        fresh = bool(ttl and ttl > 0 and stored_at is not None
                     and time.monotonic() - stored_at <= ttl)
        return fresh, value if fresh else None

    def _land(self, flights: dict[OverviewKey, _Flight] | None, key: OverviewKey,
              flight: _Flight, ttl: float | None, value: Any = None, ok: bool = False) -> None:
        if flights is not None and flights.get(key) is flight:
            del flights[key]
        if not ok or flight.stale or ttl is None or ttl <= 0:
            return
        now = time.monotonic()
        self._cache[key] = (now, value)
        # An hour outlasts any TTL in practice; a longer one only loses an entry early.
        for old in [k for k, (at, _) in self._cache.items() if now - at > 3600]:
            del self._cache[old]

    def invalidate(self, owner_id: str | None = None, *, database: str | None = None) -> None:
        """Drop cached results and detach in-flight reads of one owner (None: everyone) of
        one database (None: every one); a detached read still answers its callers."""
        def hit(key: OverviewKey) -> bool:
            return ((database is None or key.database == database)
                    and (owner_id is None or key.owner_id == owner_id))

        with self._lock:
            for key in [k for k in self._cache if hit(k)]:
                del self._cache[key]
            for flights in [self._flights, *self._loops.values()]:
                for key in [k for k in flights if hit(k)]:
                    flights.pop(key).stale = True

    def call(self, key: OverviewKey, execute: Callable[[], T], *, ttl: float | None = None) -> T:
        with self._lock:
            found, value = self._cached(key, ttl)
            if found:
                return value  # type: ignore[no-any-return]
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = _Flight(future=concurrent.futures.Future())
                self._flights[key] = flight
            flight.callers += 1
        future = flight.future
        assert future is not None
        if not leader:
            try:
                return future.result()  # type: ignore[no-any-return]
            finally:
                with self._lock:
                    flight.callers -= 1
        try:
            result = execute()
        except BaseException as exc:
            with self._lock:
                self._land(self._flights, key, flight, ttl)
            future.set_exception(exc if isinstance(exc, Exception) else SharedExecutionInterrupted(
                "the caller running this shared overview read was interrupted; try again"))
            raise
        with self._lock:
            self._land(self._flights, key, flight, ttl, result, ok=True)
            flight.callers -= 1
        future.set_result(result)
        return result

    async def call_async(self, key: OverviewKey, execute: Callable[[], Awaitable[T]], *,
                         ttl: float | None = None) -> T:
        loop = asyncio.get_running_loop()
        with self._lock:
            found, value = self._cached(key, ttl)
            if found:
                return value  # type: ignore[no-any-return]
            flights = self._loops.setdefault(loop, {})
            flight = flights.get(key)
            if flight is None:
                flight = _Flight()
                flight.task = loop.create_task(self._lead(flights, key, flight, execute, ttl))
                # Retrieve the outcome: a read whose waiters all left logs no "never retrieved".
                flight.task.add_done_callback(lambda t: t.cancelled() or t.exception())
                flights[key] = flight
            flight.callers += 1
        task = flight.task
        assert task is not None
        try:
            return await asyncio.shield(task)
        finally:
            with self._lock:
                flight.callers -= 1
                # The last waiter was cancelled: stop the read and let no one join it.
                abandoned = flight.callers == 0 and not task.done()
                if abandoned:
                    flight.stale = True
                    if flights.get(key) is flight:
                        del flights[key]
            if abandoned:
                task.cancel()

    async def _lead(self, flights: dict[OverviewKey, _Flight], key: OverviewKey,
                    flight: _Flight, execute: Callable[[], Awaitable[T]],
                    ttl: float | None) -> T:
        result, ok = None, False
        try:
            result, ok = await execute(), True
            return result
        finally:
            with self._lock:
                self._land(flights, key, flight, ttl, result, ok)

    def in_flight(self, key: OverviewKey) -> int:
        """How many callers (threads, and tasks of every loop) wait for `key` right now."""
        with self._lock:
            return sum(flights[key].callers
                       for flights in [self._flights, *self._loops.values()] if key in flights)


#: The package's only global state.
REGISTRY = Registry()
