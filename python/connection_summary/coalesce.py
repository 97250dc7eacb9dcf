"""In-process coalescing of overview reads, written once for both clients.

Concurrent `overview` calls with an equal `OverviewKey` (database, owner,
now-or-default, limit, cursor) share one in-flight database execution:

* threads (`Registry.call`): the first caller runs the read in its own thread,
  the others wait on a `concurrent.futures.Future`;
* asyncio (`Registry.call_async`): per event loop, the read runs in a task of
  its own; each caller awaits it through `asyncio.shield`, so cancelling one
  waiter never cancels the read for the others (when the last waiter is
  cancelled the read is cancelled too: nobody wants it any more).

A failure reaches every caller of that execution and is not remembered: the
next call executes again. Nothing is kept once an execution completes unless
the caller opts into a TTL (`ttl` seconds); cached results are dropped by
`invalidate(owner_id)`, which the clients call from a Postgres LISTEN on
`connection_summary_changed` (payload: the owner id) and from `invalidate()`.
An invalidation also detaches in-flight executions of that owner, so a caller
who arrives after the data moved never joins a read that started before.

`REGISTRY`, the instance both clients use, is the package's only global state.
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

#: The NOTIFY channel whose payload (an owner id, or empty for "everything")
#: says that an owner's input rows changed.
CHANGES_CHANNEL = "connection_summary_changed"


@dataclass(frozen=True)
class OverviewKey:
    """What makes two overview calls the same call."""

    database: str  # the client's database identity (see client.database_identity)
    owner_id: str
    now: datetime | None  # None: the database's now(), shared by concurrent callers
    limit: int | None
    after: str | None


class SharedExecutionInterrupted(ConnectionSummaryError):
    """The caller that ran a shared read was interrupted (KeyboardInterrupt, SystemExit)."""


@dataclass
class _Flight:
    """One in-flight execution: a thread future or an event loop's task."""

    future: concurrent.futures.Future[Any] | None = None
    task: asyncio.Task[Any] | None = None
    callers: int = 0
    # Set when an invalidation detached this flight: its result is not cached.
    stale: bool = False


class Registry:
    """Thread-safe registry of in-flight overview reads and (opt-in) TTL results."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[OverviewKey, _Flight] = {}
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[OverviewKey, _Flight]
        ] = weakref.WeakKeyDictionary()
        self._cache: dict[OverviewKey, tuple[float, Any]] = {}

    # -- the TTL cache ----------------------------------------------------------------------

    def _cached(self, key: OverviewKey, ttl: float | None) -> tuple[bool, Any]:
        """Under the lock: a result stored at most `ttl` seconds ago, if any."""
        if ttl is None or ttl <= 0:
            return False, None
        entry = self._cache.get(key)
        if entry is None:
            return False, None
        stored_at, value = entry
        if time.monotonic() - stored_at > ttl:
            return False, None
        return True, value

    def _land(self, flights: dict[OverviewKey, _Flight] | None, key: OverviewKey,
              flight: _Flight, ttl: float | None, value: Any = None, ok: bool = False) -> None:
        """Under the lock: the flight is over; keep its result for TTL callers if wanted."""
        if flights is not None and flights.get(key) is flight:
            del flights[key]
        if not ok or flight.stale or ttl is None or ttl <= 0:
            return
        now = time.monotonic()
        self._cache[key] = (now, value)
        # Forget entries older than an hour: no caller keeps a TTL that long in practice,
        # and one who does only loses a cache entry early.
        for old in [k for k, (at, _) in self._cache.items() if now - at > 3600]:
            del self._cache[old]

    def invalidate(self, owner_id: str | None = None, *, database: str | None = None) -> None:
        """Drop cached results and detach in-flight reads of one owner, or of everyone.

        `database` narrows it to one database identity; `None` means every database.
        A detached read still answers the callers already waiting for it, but
        nobody joins it any more and its result is not cached.
        """

        def hit(key: OverviewKey) -> bool:
            return ((database is None or key.database == database)
                    and (owner_id is None or key.owner_id == owner_id))

        with self._lock:
            for key in [k for k in self._cache if hit(k)]:
                del self._cache[key]
            for flights in [self._flights, *self._loops.values()]:
                for key in [k for k in flights if hit(k)]:
                    flights.pop(key).stale = True

    # -- threads ----------------------------------------------------------------------------

    def call(self, key: OverviewKey, execute: Callable[[], T], *, ttl: float | None = None) -> T:
        """Run `execute()` once for all concurrent callers with an equal key (threads)."""
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
        except Exception as exc:
            with self._lock:
                self._land(self._flights, key, flight, ttl)
            future.set_exception(exc)
            raise
        except BaseException:
            with self._lock:
                self._land(self._flights, key, flight, ttl)
            future.set_exception(SharedExecutionInterrupted(
                "the caller running this shared overview read was interrupted; try again"))
            raise
        with self._lock:
            self._land(self._flights, key, flight, ttl, result, ok=True)
            flight.callers -= 1
        future.set_result(result)
        return result

    # -- asyncio ----------------------------------------------------------------------------

    async def call_async(self, key: OverviewKey, execute: Callable[[], Awaitable[T]], *,
                         ttl: float | None = None) -> T:
        """Run `await execute()` once for all concurrent callers with an equal key (asyncio)."""
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
                flight.task.add_done_callback(_consume_outcome)
                flights[key] = flight
            flight.callers += 1
        task = flight.task
        assert task is not None
        try:
            return await asyncio.shield(task)
        finally:
            with self._lock:
                flight.callers -= 1
                # The last waiter left before the read finished (it was cancelled):
                # nobody wants the read any more, so stop it and let no one join it.
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
        try:
            result = await execute()
        except BaseException:
            with self._lock:
                self._land(flights, key, flight, ttl)
            raise
        with self._lock:
            self._land(flights, key, flight, ttl, result, ok=True)
        return result

    # -- introspection ----------------------------------------------------------------------

    def in_flight(self, key: OverviewKey) -> int:
        """How many callers (threads, and tasks of every loop) wait for `key` right now."""
        with self._lock:
            return sum(flights[key].callers
                       for flights in [self._flights, *self._loops.values()] if key in flights)


def _consume_outcome(task: asyncio.Task[Any]) -> None:
    """Retrieve the outcome so a read whose waiters all left logs no 'never retrieved'."""
    if not task.cancelled():
        task.exception()


#: The registry both clients use: the package's only global state.
REGISTRY = Registry()
