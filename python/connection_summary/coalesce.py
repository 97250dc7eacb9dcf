"""In-process coalescing of overview reads: concurrent equal calls share one execution.

Asyncio waiters await the read's task through `asyncio.shield`, so one cancelled waiter
never cancels it for the others (the last one does). A failure is not remembered;
results are kept only with an opt-in `ttl`; `invalidate` also detaches in-flight reads,
so nobody joins a read older than a change.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from .errors import ConnectionSummaryError

T = TypeVar("T")
# A read in flight serves one event loop (its task is bound to it) or, with None, threads.
Slot = tuple[asyncio.AbstractEventLoop | None, "OverviewKey"]
Done = concurrent.futures.Future[Any] | asyncio.Task[Any]  # how a read in flight ends


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
    slot: Slot
    done: Done
    keep: bool  # cache its result: its starter gave a TTL and nothing detached it since
    callers: int = 0


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Slot, _Flight] = {}
        self._cache: dict[OverviewKey, tuple[float, Any]] = {}

    def _join(self, slot: Slot, ttl: float | None,
              start: Callable[[], Done]) -> tuple[Any] | _Flight:
        """The result cached for the slot's key, or else its read in flight (`start`ed if
        there is none), which gains a caller."""
        with self._lock:
            stored_at, value = self._cache.get(slot[1], (None, None))
            if ttl and ttl > 0 and stored_at is not None and time.monotonic() - stored_at <= ttl:
                return (value,)
            flight = self._flights.get(slot)
            if flight is None:
                flight = self._flights[slot] = _Flight(slot, start(), bool(ttl and ttl > 0))
                flight.done.add_done_callback(functools.partial(self._land, flight))
            flight.callers += 1
            return flight

    def _land(self, flight: _Flight, done: Done) -> None:
        with self._lock:
            if self._flights.get(flight.slot) is flight:
                del self._flights[flight.slot]
            # Retrieving the outcome also keeps a read whose waiters all left from logging
            # "exception was never retrieved".
            if done.cancelled() or done.exception() or not flight.keep:
                return
            now = time.monotonic()
            self._cache[flight.slot[1]] = (now, done.result())
            # An hour outlasts any TTL in practice; a longer one only loses an entry early.
            for old in [k for k, (at, _) in self._cache.items() if now - at > 3600]:
                del self._cache[old]

    def _leave(self, flight: _Flight) -> None:
        with self._lock:
            flight.callers -= 1
            # The last waiter was cancelled (a thread's read ends before its runner leaves):
            # stop the read and let no one join it.
            abandoned = flight.callers == 0 and not flight.done.done()
            if abandoned:
                flight.keep = False
                if self._flights.get(flight.slot) is flight:
                    del self._flights[flight.slot]
        if abandoned:
            flight.done.cancel()

    def invalidate(self, owner_id: str | None = None, *, database: str | None = None) -> None:
        """Drop cached results and detach in-flight reads of one owner (None: everyone) of
        one database (None: every one); a detached read still answers its callers."""
        def hit(key: OverviewKey) -> bool:
            return ((database is None or key.database == database)
                    and (owner_id is None or key.owner_id == owner_id))

        with self._lock:
            for key in [k for k in self._cache if hit(k)]:
                del self._cache[key]
            for slot in [s for s in self._flights if hit(s[1])]:
                self._flights.pop(slot).keep = False

    def call(self, key: OverviewKey, execute: Callable[[], T], *, ttl: float | None = None) -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        flight = self._join((None, key), ttl, lambda: future)
        if isinstance(flight, tuple):
            return flight[0]  # type: ignore[no-any-return]
        if flight.done is future:  # this caller started the flight: it runs the read
            try:
                future.set_result(execute())
            except Exception as exc:
                future.set_exception(exc)
            except BaseException:
                future.set_exception(SharedExecutionInterrupted(
                    "the caller running this shared overview read was interrupted; try again"))
                raise
        try:
            return flight.done.result()  # type: ignore[no-any-return]
        finally:
            self._leave(flight)

    async def call_async(self, key: OverviewKey, execute: Callable[[], Coroutine[Any, Any, T]], *,
                         ttl: float | None = None) -> T:
        loop = asyncio.get_running_loop()
        flight = self._join((loop, key), ttl, lambda: loop.create_task(execute()))
        if isinstance(flight, tuple):
            return flight[0]  # type: ignore[no-any-return]
        assert isinstance(flight.done, asyncio.Task)
        try:
            return await asyncio.shield(flight.done)
        finally:
            self._leave(flight)

    def in_flight(self, key: OverviewKey) -> int:
        """How many callers (threads, and tasks of every loop) wait for `key` right now."""
        with self._lock:
            return sum(f.callers for (_, k), f in self._flights.items() if k == key)


#: The package's only global state.
REGISTRY = Registry()
