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
from collections.abc import Callable, Coroutine
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
    done: concurrent.futures.Future[Any] | asyncio.Task[Any]
    callers: int = 0
    stale: bool = False  # detached by an invalidation: its result is not cached


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[OverviewKey, _Flight] = {}  # the threads'
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[OverviewKey, _Flight]
        ] = weakref.WeakKeyDictionary()
        self._cache: dict[OverviewKey, tuple[float, Any]] = {}

    def _cached(self, key: OverviewKey, ttl: float | None) -> tuple[Any] | None:
        stored_at, value = self._cache.get(key, (None, None))
        if ttl and ttl > 0 and stored_at is not None and time.monotonic() - stored_at <= ttl:
            return (value,)
        return None

    def _start(self, flights: dict[OverviewKey, _Flight], key: OverviewKey, ttl: float | None,
               done: concurrent.futures.Future[Any] | asyncio.Task[Any]) -> _Flight:
        flight = flights[key] = _Flight(done)
        done.add_done_callback(lambda _: self._land(flights, key, flight, ttl))
        return flight

    def _land(self, flights: dict[OverviewKey, _Flight], key: OverviewKey, flight: _Flight,
              ttl: float | None) -> None:
        with self._lock:
            if flights.get(key) is flight:
                del flights[key]
            # Retrieving the outcome also keeps a read whose waiters all left from logging
            # "exception was never retrieved".
            done = flight.done
            if done.cancelled() or done.exception() or flight.stale or not (ttl and ttl > 0):
                return
            now = time.monotonic()
            self._cache[key] = (now, done.result())
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
            if (cached := self._cached(key, ttl)) is not None:
                return cached[0]  # type: ignore[no-any-return]
            flight = self._flights.get(key)
            lead = flight is None
            if flight is None:
                flight = self._start(self._flights, key, ttl, concurrent.futures.Future())
            flight.callers += 1
        future = flight.done
        assert isinstance(future, concurrent.futures.Future)
        if lead:
            try:
                future.set_result(execute())
            except Exception as exc:
                future.set_exception(exc)
            except BaseException:
                future.set_exception(SharedExecutionInterrupted(
                    "the caller running this shared overview read was interrupted; try again"))
                raise
        try:
            return future.result()  # type: ignore[no-any-return]
        finally:
            with self._lock:
                flight.callers -= 1

    async def call_async(self, key: OverviewKey, execute: Callable[[], Coroutine[Any, Any, T]], *,
                         ttl: float | None = None) -> T:
        loop = asyncio.get_running_loop()
        with self._lock:
            if (cached := self._cached(key, ttl)) is not None:
                return cached[0]  # type: ignore[no-any-return]
            flights = self._loops.setdefault(loop, {})
            flight = flights.get(key) or self._start(flights, key, ttl,
                                                     loop.create_task(execute()))
            flight.callers += 1
        task = flight.done
        assert isinstance(task, asyncio.Task)
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

    def in_flight(self, key: OverviewKey) -> int:
        """How many callers (threads, and tasks of every loop) wait for `key` right now."""
        with self._lock:
            return sum(flights[key].callers
                       for flights in [self._flights, *self._loops.values()] if key in flights)


#: The package's only global state.
REGISTRY = Registry()
