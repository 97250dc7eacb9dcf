"""The accepted input domain (sql/045_accepted_domain.sql), end to end, on real PostgreSQL.

The input tables say what they accept with named CHECK constraints: ids of 1
to 255 bytes (browser-lease profile keys up to 511), timestamps between
0001-01-02 and 9999-12-30 UTC, byte totals that fit a bigint, manifests that
are JSON objects. Everything else is open: event types, statuses, free text,
and `data` of any JSON shape and size. Two properties over that whole domain
and just beyond it:

1. A write the tables accept always lands. Every batch goes to two clones of
   the template: one as migrated (change notifications switched on as well),
   one with every trigger of the schema disabled. Both get the same batch by
   the same method (a multi-row INSERT in a transaction or on its own,
   single-row INSERTs in one transaction or each on its own, COPY; folding
   at commit or, with SET CONSTRAINTS ... IMMEDIATE, at each statement),
   written as connection_summary_writer and committed. They must agree: both
   land, or both refuse with the same SQLSTATE and constraint; afterwards
   they hold the same rows, and the stored run read model equals its live
   fold. The generator also knows which rows it drew outside the domain: a
   batch with such a row is refused, and a batch without one lands, unless it
   repeats a key (23505) or names a connector that did not land (23503).
2. Every accepted value can be read back. For every owner the landed rows
   name, at one read time per example (either bound of the accepted range,
   an ordinary time or the real time) and in one of several session time
   zones: overview_json succeeds as connection_summary_reader, and its rows
   parse (`Summary.from_json`) and write back unchanged; the Python Client's
   overview, and for_route and diagnostics of every connection id (each one
   SQL call of those functions), return parsed results equal to the JSON
   forms. In a third of the examples, for_route_json and diagnostics are read
   as JSON too (parsed, written back unchanged), and the overview is paged
   one row at a time by its cursor (the same rows). Client failures are
   collected over all examples and reported together.

Values are random hex or random code points of 1 to 4 UTF-8 bytes (never
compressible runs), of lengths at and around the byte limits.

Plus focused tests: a producer whose clock is far ahead cannot freeze a
verdict, and overview paging is exact at both bounds of the range.
"""

from __future__ import annotations

import functools
import json
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from psycopg import sql

from connection_summary import Client, Diagnostics, Summary
from connection_summary.models import json_loads

from .conftest import Server, create_database, drop_database

Conn = psycopg.Connection[tuple[Any, ...]]
#: ("landed",) or ("refused", sqlstate or exception class, constraint, table, column).
Outcome = tuple[str, ...]

#: CONNECTION_SUMMARY_DOMAIN_EXAMPLES changes the count (1000 by default).
EXAMPLES = int(os.environ.get("CONNECTION_SUMMARY_DOMAIN_EXAMPLES", "1000"))
LOWER = datetime(1, 1, 2, tzinfo=UTC)
UPPER = datetime(9999, 12, 30, tzinfo=UTC)
ORDINARY = datetime(2024, 6, 1, tzinfo=UTC)
REAL_NOW = datetime.now(UTC).replace(microsecond=0)
MICROSECOND = timedelta(microseconds=1)
MAX_BIGINT = 2**63 - 1
MAX_INT = 2**31 - 1
SCHEMA = "connection_summary"

#: Read times: both bounds of the accepted range, an ordinary time, the real time.
READ_TIMES = (LOWER, UPPER, ORDINARY + timedelta(days=1), REAL_NOW)
#: Session time zones of the readers: offsets with seconds (local mean time in
#: year 1), half hours, and the extremes.
ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "Etc/GMT+12",
         "America/St_Johns")

# --- random text -----------------------------------------------------------------------------

_SPECIAL = ("\\", "\t", "\n", "\r", '"', "'", ",", "\\N", "\u0301", "\u202e", "\ufeff", "\uffff",
            "\U0010ffff", "\u00a0", "%s", "{}", "[", ":", "\x7f", "\x1b", "é", "€", "😀", " ")


def _code_point(rnd: random.Random, width: int) -> str:
    """A random code point of `width` UTF-8 bytes: never NUL, never a surrogate."""
    if width == 1:
        return chr(rnd.randint(1, 0x7F))
    if width == 2:
        return chr(rnd.randint(0x80, 0x7FF))
    if width == 3:
        while True:
            code = rnd.randint(0x800, 0xFFFF)
            if not 0xD800 <= code <= 0xDFFF:
                return chr(code)
    return chr(rnd.randint(0x10000, 0x10FFFF))


_POOL_CHARS = 320_000


_WIDTHS = {
    1: range(1, 0x80),
    2: range(0x80, 0x800),
    3: [*range(0x800, 0xD800), *range(0xE000, 0x10000)],
    4: range(0x10000, 0x110000),
}


@functools.cache
def _pool(style: str) -> str:
    """A fixed random string of `style` to take slices of (building per value is slow)."""
    rnd = random.Random(f"connection_summary.{style}")
    if style == "wide":
        return "".join(map(chr, rnd.choices(_WIDTHS[4], k=_POOL_CHARS)))
    chars = [chr(code) for width in (1, 2, 3, 4)
             for code in rnd.choices(_WIDTHS[width], k=_POOL_CHARS // 4)]
    if style == "special":
        chars += rnd.choices(_SPECIAL, k=_POOL_CHARS // 3)
    rnd.shuffle(chars)
    return "".join(chars)


def random_text(rnd: random.Random, nbytes: int, style: str | None = None) -> str:
    """Incompressible text of exactly `nbytes` UTF-8 bytes.

    hex: random hex digits; mixed: code points of 1 to 4 bytes; wide: 4-byte
    code points (so 64 characters are 256 bytes); special: mixed, with
    characters that quoting, COPY and JSON escaping must get right. Never NUL,
    never a surrogate.
    """
    style = style or rnd.choice(("hex", "hex", "mixed", "wide", "special"))
    if style == "hex":
        return rnd.randbytes(nbytes // 2 + 1).hex()[:nbytes]
    pool = _pool(style)
    start = rnd.randrange(len(pool) - min(nbytes, len(pool) - 1))
    head = pool[start:start + nbytes].encode()[:nbytes].decode(errors="ignore")
    pad = nbytes - len(head.encode())  # a partial last character was dropped: < 4 bytes
    return head + "".join(_code_point(rnd, 1) for _ in range(pad))


def _with_nul(rnd: random.Random, text: str) -> str:
    at = rnd.randrange(len(text) + 1)
    return text[:at] + "\x00" + text[at:]


# --- the world of one example: owners, connectors, connections, runs --------------------------


@dataclass(frozen=True)
class Connector:
    connector_id: str
    profile_key: str | None  # manifest.browser_surface.profile_key, a string or absent


@dataclass(frozen=True)
class Connection:
    connection_id: str
    owner_id: str
    connector: Connector

    @property
    def profile_key(self) -> str:
        """The key its runs are stamped with (connection_summary.expected_profile_key)."""
        base = self.connector.profile_key
        if base is None:
            base = self.connector.connector_id
        if self.connection_id == self.connector.connector_id:
            return base
        return f"{base}:{self.connection_id}"


@dataclass(frozen=True)
class World:
    owners: tuple[str, ...]
    connectors: tuple[Connector, ...]
    connections: tuple[Connection, ...]
    run_ids: tuple[str, ...]


EVENT_TYPES = ("run.started", "run.progress_reported", "run.completed", "run.failed",
               "run.cancelled", "run.abandoned", "run.browser_surface_waiting",
               "run.browser_surface_leased", "run.browser_surface_failed",
               "run.browser_surface_released")
RUN_STATUSES = ("started", "succeeded", "failed", "cancelled", "abandoned", "rejected",
                "waiting_for_browser_surface", "starting_surface", "leased", "released",
                "expired", "deferred", "surface_failed", "in_progress")
CONNECTION_STATUSES = ("draft", "active", "paused", "revoked")
SOURCE_KINDS = ("account", "local_device", "browser_collector", "manual")
GAP_STATUSES = ("pending", "in_progress", "recovered", "terminal")
LIFECYCLES = ("open", "acknowledged", "in_progress", "resolved", "dismissed", "expired")
LEASE_STATUSES = ("waiting_for_browser_surface", "starting_surface", "leased", "released",
                  "expired", "deferred", "cancelled", "surface_failed")
SEVERITIES = ("informational", "recoverable", "transient", "actionable")

# --- values: the accepted domain (bad=False) and just beyond it (bad=True) --------------------

_OFFSETS = (0, 0, 0, 330, 345, -300, -720, 840, 525, -210)  # minutes
_RAW_NUMBERS = ("0", "-0", "0.0", "1", "-1", "1e308", "-1e308", "1e400", "-1E+400", "1e-400",
                "2.5e-5000", "1e1000", "123456789012345678901234567890.0123456789",
                "9223372036854775807", "9223372036854775808", "-9223372036854775809",
                "2147483648", "1.0", "1e5000", "-1e4300", "1e131071")
_BAD_JSON = ('{"a": }', '{"a": "\\u0000"}', '"\\ud800"', "NaN", "Infinity", '{"n": 1e200000}',
             "", "{} x", "[1, 2", "{'a': 1}", "\"\\x41\"")


class Values:
    """Random values of one example, drawn from `rnd` (a seed hypothesis chose)."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.world = World((), (), (), ())

    def chance(self, p: float) -> bool:
        return self.rnd.random() < p

    # -- scalars ------------------------------------------------------------------------------

    def id(self, limit: int = 255, *, bad: bool = False) -> str:
        """An indexed id: 1..limit bytes; beyond: empty, over the limit, or with a NUL."""
        r = self.rnd
        if bad:
            kind = r.randrange(6)
            if kind == 0:
                return ""
            if kind == 1:
                return _with_nul(r, random_text(r, r.randint(1, limit - 1)))
            if kind == 2:
                return random_text(r, limit + 1, "wide")  # few characters, many bytes
            return random_text(r, r.choice((limit + 1, limit + 2, limit + r.randint(1, 3 * limit))))
        size = r.choice((1, 2, r.randint(1, 16), r.randint(1, limit), limit - 1, limit, limit))
        return random_text(r, size)

    def text(self, *, nullable: bool = True, bad: bool = False) -> str | None:
        """Open text: any length; beyond: a NUL (or NULL where it is required)."""
        r = self.rnd
        if bad:
            return None if not nullable and self.chance(0.5) else _with_nul(r, self.text() or "")
        if nullable and self.chance(0.25):
            return None
        size = r.choice((0, 1, r.randint(1, 40), r.randint(1, 600), 255, 256, 511, 512,
                         r.randint(600, 4000)))
        if self.chance(0.002):
            size = 300_000
        return random_text(r, size)

    def _render(self, moment: datetime) -> str:
        zone = timezone(timedelta(minutes=self.rnd.choice(_OFFSETS)))
        sep = self.rnd.choice(" T")
        try:
            return moment.astimezone(zone).isoformat(sep=sep)
        except OverflowError:  # the local date would be in year 0 or 10000
            return moment.isoformat(sep=sep)

    def ts(self, *, nullable: bool = True, bad: bool = False) -> str | None:
        """A timestamptz literal within 0001-01-02 .. 9999-12-30 UTC, or just outside."""
        r = self.rnd
        if bad:
            kind = r.randrange(6)
            step = MICROSECOND * r.choice((1, 1, 2, r.randint(1, 86_400_000_000)))
            if kind == 0:
                return self._render(LOWER - step)
            if kind == 1:
                return self._render(UPPER + step)
            if kind == 5:
                return r.choice(("infinity", "-infinity"))
            if kind == 2:
                return r.choice(("10000-01-01 00:00:00+00",
                                 "4713-01-01 00:00:00+00 BC", "0001-01-01 00:00:00+00",
                                 "0001-01-01 23:59:59.999999+00", "9999-12-30 00:00:00.000001+00",
                                 "294276-12-31 23:59:59+00", "4714-11-24 00:00:00+00 BC",
                                 "0001-01-02 00:00:00+00 BC", "9999-12-30 00:00:00-00:01"))
            if kind == 3 and not nullable:
                return None
            return r.choice(("2024-02-30 00:00:00+00", "soon", "0000-01-01 00:00:00+00"))
        if nullable and self.chance(0.2):
            return None
        kind = r.randrange(10)
        if kind == 0:
            return r.choice(("0001-01-02 00:00:00+00", "0001-01-02 05:30:00+05:30",
                             "0001-01-01 12:00:00-12", "0001-01-02T00:00:00Z"))
        if kind == 1:
            return r.choice(("9999-12-30 00:00:00+00", "9999-12-29 19:00:00-05",
                             "9999-12-30 14:00:00+14", "9999-12-30T00:00:00Z"))
        step = MICROSECOND * r.choice((1, 2, r.randint(1, 1_000_000), r.randint(1, 10**11)))
        if kind == 2:
            return self._render(LOWER + step)
        if kind == 3:
            return self._render(UPPER - step)
        if kind == 4:
            span = (UPPER - LOWER) // MICROSECOND
            return self._render(LOWER + MICROSECOND * r.randint(0, span))
        if kind == 8:
            return self._render(REAL_NOW + timedelta(seconds=r.randint(-7200, 7200)))
        if kind == 9:  # a producer whose clock is far ahead
            return self._render(UPPER - timedelta(days=1, seconds=r.randint(0, 86400)))
        return self._render(ORDINARY + timedelta(seconds=r.randint(-3 * 86400, 3 * 86400),
                                                 microseconds=r.randint(0, 999_999)))

    def bigint(self, *, bad: bool = False) -> int | None:
        """A nullable non-negative bigint; beyond: negative or past 2^63 - 1."""
        r = self.rnd
        if bad:
            return r.choice((-1, -MAX_BIGINT - 1, MAX_BIGINT + 1, 2**64, -r.randint(1, 10**6)))
        return r.choice((None, 0, 1, r.randint(0, 10**6), r.randint(0, MAX_BIGINT), 2**62,
                         MAX_BIGINT - 1, MAX_BIGINT))

    def boolean(self, *, bad: bool = False) -> bool | None:
        return None if bad else self.chance(0.5)

    def choice(self, allowed: Sequence[str], *, bad: bool = False,
               nullable: bool = False) -> str | None:
        """One of `allowed`; beyond: any other text (or NULL where it is required)."""
        if bad:
            if not nullable and self.chance(0.3):
                return None
            other = self.rnd.choice((self.text(nullable=False) or "x", "ACTIVE", "active ", ""))
            return other if other not in allowed else other + "?"
        return self.rnd.choice(allowed)

    # -- JSON -------------------------------------------------------------------------------

    def jstr(self, text: str | None = None) -> str:
        if text is None:
            text = self.text(nullable=False) or ""
        return json.dumps(text, ensure_ascii=self.chance(0.3))

    def jnumber(self) -> str:
        r = self.rnd
        kind = r.randrange(4)
        if kind == 0:
            return str(r.randint(-10, 10))
        if kind == 1:
            return str(r.getrandbits(r.choice((31, 63, 64, 200, 1000))) * r.choice((1, -1)))
        if kind == 2:
            return repr(r.uniform(-1e6, 1e6))
        return r.choice(_RAW_NUMBERS)

    def jvalue(self, depth: int = 3) -> str:
        """Any JSON value, as text."""
        r = self.rnd
        kind = r.randrange(9 if depth > 0 else 5)
        if kind == 0:
            return "null"
        if kind == 1:
            return r.choice(("true", "false"))
        if kind == 2:
            return self.jnumber()
        if kind in (3, 4):
            return self.jstr()
        if kind == 5 and self.chance(0.05):  # deep nesting
            levels = r.randint(50, 600)
            return "[" * levels + self.jnumber() + "]" * levels
        if kind in (5, 6):
            return "[" + ", ".join(self.jvalue(depth - 1) for _ in range(r.randint(0, 4))) + "]"
        return self.jobject({self.text(nullable=False) or "": self.jvalue(depth - 1)
                             for _ in range(r.randint(0, 4))})

    def jobject(self, members: dict[str, str]) -> str:
        """An object from (key, JSON text) pairs; sometimes a key twice (jsonb keeps the last)."""
        items = [(json.dumps(k, ensure_ascii=self.chance(0.3)), v) for k, v in members.items()]
        self.rnd.shuffle(items)
        if items and self.chance(0.05):  # an earlier duplicate: the value drawn still wins
            at = self.rnd.randrange(len(items))
            items.insert(at, (items[at][0], self.jvalue(1)))
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"

    def bad_json(self) -> str | None:
        r = self.rnd
        if self.chance(0.15):
            return None
        if self.chance(0.15):
            return self.jobject({"a": self.jstr(_with_nul(r, "text"))})  # a NUL in the text
        return r.choice(_BAD_JSON)

    def long_key(self, limit: int) -> str:
        """Text just within, at or beyond a key limit: those runs claim 'unmatchable'."""
        r = self.rnd
        return random_text(r, r.choice((limit - 1, limit, limit + 1, limit + 2,
                                        r.randint(limit, 4 * limit), 20_000)))

    def event_data(self) -> str:
        """`data` of an event: usually an object with the keys the fold reads, any shape."""
        r = self.rnd
        w = self.world
        if self.chance(0.15):
            return self.jvalue()  # an array, a string, a number, null, ...
        members: dict[str, str] = {}
        if self.chance(0.4):
            members["reason"] = (self.jstr(r.choice(("credentials_rejected", "timeout",
                                                     "auth_failed", "quota")))
                                 if self.chance(0.5) else self.jvalue(1))
        if self.chance(0.4):
            if self.chance(0.1):
                members["browser_surface"] = self.jvalue()
            else:
                surface: dict[str, str] = {}
                if self.chance(0.8):
                    key_kind = r.randrange(5)
                    if key_kind <= 1 and w.connections:
                        surface["browser_surface_profile_key"] = self.jstr(
                            r.choice(w.connections).profile_key)
                    elif key_kind == 2:
                        surface["browser_surface_profile_key"] = self.jstr(self.long_key(511))
                    elif key_kind == 3:
                        surface["browser_surface_profile_key"] = self.jvalue(1)
                    else:
                        surface["browser_surface_profile_key"] = self.jstr()
                for name, values in (("browser_surface_status", RUN_STATUSES),
                                     ("browser_surface_wait_reason", ("queue", "no_display")),
                                     ("browser_surface_lease_id", ("l1", "l2"))):
                    if self.chance(0.4):
                        members_value = (self.jstr(r.choice(values)) if self.chance(0.7)
                                         else self.jvalue(1))
                        surface[name] = members_value
                members["browser_surface"] = self.jobject(surface)
        if self.chance(0.3):
            key = r.choice(("connector_instance_id", "connection_id"))
            kind = r.randrange(4)
            if kind <= 1 and w.connections:
                members[key] = self.jstr(r.choice(w.connections).connection_id)
            elif kind == 2:
                members[key] = self.jstr(self.long_key(255))
            else:
                members[key] = self.jvalue(1)
        if self.chance(0.3):
            if self.chance(0.7):
                members["known_gaps"] = "[" + ", ".join(
                    self.jobject({"stream": self.jstr(), "reason": self.jstr(),
                                  "severity": self.jstr(r.choice(SEVERITIES))})
                    for _ in range(r.randint(0, 3))) + "]"
            else:
                members["known_gaps"] = self.jvalue()
        if self.chance(0.3):
            if self.chance(0.7):
                members["collection_facts"] = self.jobject({"streams": "[" + ", ".join(
                    self.jobject({"stream": self.jstr(), "collected": self.jnumber(),
                                  "considered": self.jnumber(), "covered": self.jnumber()})
                    for _ in range(r.randint(0, 3))) + "]"})
            else:
                members["collection_facts"] = self.jvalue()
        if self.chance(0.2):
            members[self.text(nullable=False) or ""] = self.jvalue()
        if self.chance(0.002):
            members["blob"] = self.jstr(random_text(r, 400_000, "hex"))
        return self.jobject(members)

    def manifest(self, profile_key: str | None, *, bad: bool = False) -> str | None:
        """A connector manifest: a JSON object whose profile key is at most 255 bytes."""
        r = self.rnd
        if bad:
            kind = r.randrange(4)
            if kind == 0:
                return r.choice(("[]", '"{}"', "1", "null", "true", self.jvalue(0)))
            if kind == 1:
                return self.jobject({"browser_surface": self.jobject(
                    {"profile_key": self.jstr(random_text(r, r.choice((256, 257, 1000))))})})
            if kind == 2:
                return None
            return self.bad_json()
        members: dict[str, str] = {}
        surface: dict[str, str] = {}
        if profile_key is not None:
            surface["profile_key"] = self.jstr(profile_key)
        elif self.chance(0.2):
            surface["profile_key"] = r.choice(("null", "1", "[]", "{}", "true"))
        if surface or self.chance(0.2):
            members["browser_surface"] = (self.jobject(surface) if surface or self.chance(0.5)
                                          else self.jvalue(1))
        if self.chance(0.6):
            members["streams"] = "[" + ", ".join(
                self.jobject({"name": self.jstr() if self.chance(0.8) else self.jvalue(0)})
                if self.chance(0.9) else self.jvalue(1)
                for _ in range(r.randint(0, 4))) + "]" if self.chance(0.9) else self.jvalue(1)
        if self.chance(0.6):
            members["refresh_policy"] = self.jobject({"maximum_staleness_seconds": (
                r.choice(("86400", "0", "-1", "1")) if self.chance(0.6) else self.jvalue(0))})
        if self.chance(0.2):
            members[self.text(nullable=False) or ""] = self.jvalue()
        return self.jobject(members)

    # -- world ids ------------------------------------------------------------------------------

    def owner(self, *, bad: bool = False) -> str:
        if bad or not self.world.owners or self.chance(0.04):
            return self.id(bad=bad)
        return self.rnd.choice(self.world.owners)

    def instance_id(self, *, bad: bool = False) -> str:
        """An id column naming a connection: mostly one of the world's."""
        if bad or not self.world.connections or self.chance(0.2):
            return self.id(bad=bad)
        return self.rnd.choice(self.world.connections).connection_id

    def run_id(self, *, bad: bool = False) -> str:
        if bad or not self.world.run_ids or self.chance(0.2):
            return self.id(bad=bad)
        return self.rnd.choice(self.world.run_ids)

    def loose_id(self, *, bad: bool = False) -> str | None:
        """An unconstrained column that may name a connection: any length."""
        r = self.rnd
        if bad:
            return _with_nul(r, "x")
        kind = r.randrange(5)
        if kind <= 1 and self.world.connections:
            return r.choice(self.world.connections).connection_id
        if kind == 2:
            return self.long_key(255)
        return self.text()

    def make_world(self, owners: int, connectors: int, connections: int, runs: int) -> World:
        r = self.rnd

        def distinct(count: int, make: Callable[[], str]) -> tuple[str, ...]:
            found: list[str] = []
            while len(found) < count:
                value = make()
                if value not in found:
                    found.append(value)
            return tuple(found)

        owner_ids = distinct(owners, self.id)
        made_connectors = tuple(
            Connector(connector_id, random_text(r, r.choice((0, 1, 8, 254, 255)))
                      if self.chance(0.5) else None)
            for connector_id in distinct(connectors, self.id))
        ids = distinct(connections, self.id)
        made_connections = []
        for number, connection_id in enumerate(ids):
            connector = r.choice(made_connectors)
            # A legacy default connection: its id is its connector's.
            if number == 0 and self.chance(0.2) and connector.connector_id not in ids:
                connection_id = connector.connector_id
            made_connections.append(Connection(connection_id, r.choice(owner_ids), connector))
        self.world = World(owner_ids, made_connectors, tuple(made_connections),
                           distinct(runs, self.id))
        return self.world


# --- tables ----------------------------------------------------------------------------------

COLUMNS: dict[str, dict[str, str]] = {
    "connectors": {"connector_id": "text", "display_name": "text", "manifest": "jsonb"},
    "connections": {
        "connector_instance_id": "text", "owner_id": "text", "connector_id": "text",
        "display_name": "text", "status": "text", "source_kind": "text",
        "created_at": "timestamptz", "revoked_at": "timestamptz"},
    "spine_events": {
        "owner_id": "text", "event_type": "text", "status": "text", "source_kind": "text",
        "source_id": "text", "run_id": "text", "occurred_at": "timestamptz",
        "connector_instance_id": "text", "connection_id": "text", "data": "jsonb"},
    "active_runs": {"run_id": "text", "owner_id": "text", "connector_instance_id": "text",
                    "lease_expires_at": "timestamptz"},
    "retained_size_streams": {
        "connector_instance_id": "text", "stream": "text", "owner_id": "text",
        "connector_id": "text", "record_count": "bigint", "current_record_json_bytes": "bigint",
        "record_history_json_bytes": "bigint", "blob_bytes": "bigint",
        "last_record_updated_at": "timestamptz", "dirty": "boolean"},
    "retained_size_connections": {
        "connector_instance_id": "text", "owner_id": "text",
        "current_record_json_bytes": "bigint", "record_history_json_bytes": "bigint",
        "blob_bytes": "bigint", "dirty": "boolean"},
    "schedules": {
        "connector_instance_id": "text", "owner_id": "text", "enabled": "boolean",
        "interval_seconds": "int", "next_due_at": "timestamptz",
        "last_started_at": "timestamptz", "last_finished_at": "timestamptz",
        "last_successful_at": "timestamptz", "last_error_code": "text",
        "active_run_id": "text", "consecutive_failures": "int",
        "backoff_next_run_at": "timestamptz", "backoff_reason_class": "text"},
    "detail_gaps": {
        "gap_id": "text", "owner_id": "text", "connector_instance_id": "text", "stream": "text",
        "status": "text", "reason": "text", "next_attempt_at": "timestamptz"},
    "attention_records": {
        "attention_id": "text", "owner_id": "text", "connector_instance_id": "text",
        "lifecycle": "text", "reason_code": "text", "response_required": "boolean",
        "owner_action": "text", "expires_at": "timestamptz", "created_at": "timestamptz"},
    "browser_surface_leases": {
        "lease_id": "text", "owner_id": "text", "connector_id": "text", "profile_key": "text",
        "run_id": "text", "status": "text", "wait_reason": "text",
        "requested_at": "timestamptz"},
}
TABLES = tuple(COLUMNS)

#: The columns each table can be given a value outside the accepted domain in.
BAD_FIELDS: dict[str, tuple[str, ...]] = {
    "connectors": ("connector_id", "display_name", "manifest"),
    "connections": ("connector_instance_id", "owner_id", "display_name", "status",
                    "source_kind", "created_at", "revoked_at"),
    "spine_events": ("owner_id", "event_type", "status", "source_kind", "source_id", "run_id",
                     "occurred_at", "connector_instance_id", "connection_id", "data"),
    "active_runs": ("run_id", "owner_id", "connector_instance_id", "lease_expires_at"),
    "retained_size_streams": ("connector_instance_id", "stream", "owner_id", "connector_id",
                              "record_count", "current_record_json_bytes",
                              "record_history_json_bytes", "blob_bytes",
                              "last_record_updated_at", "dirty"),
    "retained_size_connections": ("connector_instance_id", "owner_id", "bytes", "dirty"),
    "schedules": ("connector_instance_id", "owner_id", "enabled", "interval_seconds",
                  "next_due_at", "last_started_at", "last_finished_at", "last_successful_at",
                  "last_error_code", "consecutive_failures", "backoff_next_run_at"),
    "detail_gaps": ("gap_id", "owner_id", "connector_instance_id", "status", "reason",
                    "next_attempt_at"),
    "attention_records": ("attention_id", "owner_id", "connector_instance_id", "lifecycle",
                          "response_required", "expires_at", "created_at"),
    "browser_surface_leases": ("lease_id", "owner_id", "profile_key", "status",
                               "requested_at", "wait_reason"),
}


def _sum_fitting_bigint(v: Values) -> tuple[int | None, int | None, int | None]:
    r = v.rnd
    left = MAX_BIGINT
    parts: list[int | None] = []
    for _ in range(3):
        if v.chance(0.1):
            parts.append(None)
            continue
        part = min(left, r.choice((0, 1, r.randint(0, 10**9), left, left // 2,
                                   r.randint(0, left))))
        parts.append(part)
        left -= part
    r.shuffle(parts)
    return parts[0], parts[1], parts[2]


def _bytes_beyond(v: Values) -> tuple[int | None, int | None, int | None]:
    r = v.rnd
    if v.chance(0.5):  # each fits, the sum does not
        first = r.randint(1, MAX_BIGINT)
        parts = [first, MAX_BIGINT - first + r.randint(1, 10), r.choice((0, 1, None))]
        if parts[2] is None:
            parts[2] = 0
    else:
        parts = [r.choice((-1, -MAX_BIGINT - 1, MAX_BIGINT + 1)), r.choice((0, 5)), None]
    r.shuffle(parts)
    return parts[0], parts[1], parts[2]


def make_row(v: Values, table: str, bad_field: str | None = None) -> dict[str, object]:
    """One row of `table`; at most `bad_field` is outside the accepted domain."""
    r = v.rnd
    w = v.world

    def bad(name: str) -> bool:
        return bad_field == name

    connection = r.choice(w.connections) if w.connections else None
    if table == "connectors":
        return {"connector_id": v.id(bad=bad("connector_id")),
                "display_name": v.text(bad=bad("display_name")),
                "manifest": v.manifest(None, bad=bad("manifest"))}
    if table == "connections":
        connector_id = (r.choice(w.connectors).connector_id if w.connectors
                        else v.id())
        return {"connector_instance_id": v.id(bad=bad("connector_instance_id")),
                "owner_id": v.owner(bad=bad("owner_id")),
                "connector_id": connector_id,
                "display_name": v.text(bad=bad("display_name")),
                "status": v.choice(CONNECTION_STATUSES, bad=bad("status")),
                "source_kind": v.choice(SOURCE_KINDS, bad=bad("source_kind")),
                "created_at": v.ts(nullable=False, bad=bad("created_at")),
                "revoked_at": v.ts(bad=bad("revoked_at"))}
    if table == "spine_events":
        good_source = connection is not None and v.chance(0.85)
        event_type = (v.text(nullable=False, bad=True) if bad("event_type")
                      else r.choice(EVENT_TYPES) if v.chance(0.8) else v.text(nullable=False))
        status = (v.text(bad=True) if bad("status")
                  else None if v.chance(0.3) else r.choice(RUN_STATUSES) if v.chance(0.8)
                  else v.text())
        return {
            "owner_id": (connection.owner_id if good_source and connection and v.chance(0.9)
                         and not bad("owner_id") else v.owner(bad=bad("owner_id"))),
            "event_type": event_type,
            "status": status,
            "source_kind": ("connector" if v.chance(0.85) and not bad("source_kind")
                            else v.id(bad=bad("source_kind"))),
            "source_id": (connection.connector.connector_id
                          if good_source and connection and not bad("source_id")
                          else v.id(bad=bad("source_id"))),
            "run_id": (None if v.chance(0.08) and not bad("run_id")
                       else v.run_id(bad=bad("run_id"))),
            "occurred_at": v.ts(nullable=False, bad=bad("occurred_at")),
            "connector_instance_id": (v.loose_id(bad=True) if bad("connector_instance_id")
                                      else v.loose_id() if v.chance(0.25) else None),
            "connection_id": (v.loose_id(bad=True) if bad("connection_id")
                              else v.loose_id() if v.chance(0.15) else None),
            "data": v.bad_json() if bad("data") else v.event_data(),
        }
    if table == "active_runs":
        return {"run_id": v.run_id(bad=bad("run_id")),
                "owner_id": v.owner(bad=bad("owner_id")),
                "connector_instance_id": (v.loose_id(bad=True) if bad("connector_instance_id")
                                          else v.loose_id()),
                "lease_expires_at": v.ts(nullable=False, bad=bad("lease_expires_at"))}
    if table == "retained_size_streams":
        return {"connector_instance_id": v.instance_id(bad=bad("connector_instance_id")),
                "stream": v.id(bad=bad("stream")),
                "owner_id": v.owner(bad=bad("owner_id")),
                "connector_id": v.text(bad=bad("connector_id")),
                "record_count": v.bigint(bad=bad("record_count")),
                "current_record_json_bytes": v.bigint(bad=bad("current_record_json_bytes")),
                "record_history_json_bytes": v.bigint(bad=bad("record_history_json_bytes")),
                "blob_bytes": v.bigint(bad=bad("blob_bytes")),
                "last_record_updated_at": v.ts(bad=bad("last_record_updated_at")),
                "dirty": v.boolean(bad=bad("dirty"))}
    if table == "retained_size_connections":
        current, history, blob = _bytes_beyond(v) if bad("bytes") else _sum_fitting_bigint(v)
        return {"connector_instance_id": v.instance_id(bad=bad("connector_instance_id")),
                "owner_id": v.owner(bad=bad("owner_id")),
                "current_record_json_bytes": current, "record_history_json_bytes": history,
                "blob_bytes": blob, "dirty": v.boolean(bad=bad("dirty"))}
    if table == "schedules":
        interval = (r.choice((0, -1, MAX_INT + 1)) if bad("interval_seconds")
                    else r.choice((None, 1, 3600, MAX_INT)))
        failures = (r.choice((-1, None, MAX_INT + 1)) if bad("consecutive_failures")
                    else r.choice((0, 1, 6, 7, r.randint(0, MAX_INT), MAX_INT)))
        return {"connector_instance_id": v.instance_id(bad=bad("connector_instance_id")),
                "owner_id": v.owner(bad=bad("owner_id")),
                "enabled": v.boolean(bad=bad("enabled")),
                "interval_seconds": interval,
                "next_due_at": v.ts(bad=bad("next_due_at")),
                "last_started_at": v.ts(bad=bad("last_started_at")),
                "last_finished_at": v.ts(bad=bad("last_finished_at")),
                "last_successful_at": v.ts(bad=bad("last_successful_at")),
                "last_error_code": v.text(bad=bad("last_error_code")),
                "active_run_id": v.run_id() if v.chance(0.3) else None,
                "consecutive_failures": failures,
                "backoff_next_run_at": v.ts(bad=bad("backoff_next_run_at")),
                "backoff_reason_class": v.text()}
    if table == "detail_gaps":
        return {"gap_id": v.id(bad=bad("gap_id")),
                "owner_id": v.owner(bad=bad("owner_id")),
                "connector_instance_id": v.instance_id(bad=bad("connector_instance_id")),
                "stream": v.text(),
                "status": v.choice(GAP_STATUSES, bad=bad("status")),
                "reason": v.text(bad=bad("reason")),
                "next_attempt_at": v.ts(bad=bad("next_attempt_at"))}
    if table == "attention_records":
        return {"attention_id": v.id(bad=bad("attention_id")),
                "owner_id": v.owner(bad=bad("owner_id")),
                "connector_instance_id": v.instance_id(bad=bad("connector_instance_id")),
                "lifecycle": v.choice(LIFECYCLES, bad=bad("lifecycle")),
                "reason_code": v.text(),
                "response_required": v.boolean(bad=bad("response_required")),
                "owner_action": v.text(),
                "expires_at": v.ts(bad=bad("expires_at")),
                "created_at": v.ts(nullable=False, bad=bad("created_at"))}
    if table == "browser_surface_leases":
        if bad("profile_key"):
            profile_key: str | None = (None if v.chance(0.2) else v.id(511, bad=True))
        elif connection is not None and connection.profile_key and v.chance(0.7):
            # (A legacy default connection of a connector whose key is '' expects ''.)
            profile_key = connection.profile_key
        else:
            profile_key = v.id(511)
        return {"lease_id": v.id(bad=bad("lease_id")),
                "owner_id": v.owner(bad=bad("owner_id")),
                "connector_id": v.text(),
                "profile_key": profile_key,
                "run_id": v.run_id() if v.chance(0.5) else v.text(),
                "status": v.choice(LEASE_STATUSES, bad=bad("status")),
                "wait_reason": v.text(bad=bad("wait_reason")),
                "requested_at": v.ts(nullable=False, bad=bad("requested_at"))}
    raise AssertionError(table)  # pragma: no cover


# --- batches ---------------------------------------------------------------------------------

METHODS = ("multi", "multi_autocommit", "single", "transaction", "copy")


@dataclass(frozen=True)
class Batch:
    table: str
    method: str
    immediate: bool  # SET CONSTRAINTS ... IMMEDIATE first (transactional methods)
    rows: tuple[tuple[object, ...], ...]
    bad_rows: frozenset[int]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(COLUMNS[self.table])

    def describe(self) -> str:
        def short(value: object) -> str:
            text = repr(value)
            return text if len(text) <= 90 else f"{text[:60]}...({len(text)} chars)"

        rows = "\n    ".join(
            ("BAD " if i in self.bad_rows else "    ") + ", ".join(map(short, row))
            for i, row in enumerate(self.rows))
        return (f"{self.table} by {self.method}{' immediate' if self.immediate else ''}, "
                f"{len(self.rows)} rows:\n    {rows}")


@dataclass(frozen=True)
class Example:
    world: World
    batches: tuple[Batch, ...]
    read_time: datetime
    zone: str
    connector_routes: bool  # read connector ids as routes too
    page: bool  # page through the overview one row at a time
    scoped_json: bool  # read for_route_json too

    def __repr__(self) -> str:  # the batches are note()d one by one
        return (f"Example({len(self.batches)} batches: "
                + ", ".join(f"{b.table}/{b.method}/{len(b.rows)}" for b in self.batches)
                + f"; read at {self.read_time} in {self.zone})")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))


#: Primary keys: a batch mostly names each key once (a repeated key is refused, 23505).
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "connectors": ("connector_id",), "connections": ("owner_id", "connector_instance_id"),
    "spine_events": (), "active_runs": ("owner_id", "run_id"),
    "retained_size_streams": ("owner_id", "connector_instance_id", "stream"),
    "retained_size_connections": ("owner_id", "connector_instance_id"),
    "schedules": ("owner_id", "connector_instance_id"), "detail_gaps": ("owner_id", "gap_id"),
    "attention_records": ("owner_id", "attention_id"),
    "browser_surface_leases": ("owner_id", "lease_id"),
}


def _batch(draw: st.DrawFn, v: Values, table: str, rows: list[dict[str, object]],
           bad_chance: int) -> Batch:
    """`rows` plus, with chance bad_chance/10, one row outside the domain at a random place."""
    seen: set[tuple[object, ...]] = set()
    unique: list[dict[str, object]] = []
    for row in rows:
        key = tuple(row[c] for c in PRIMARY_KEYS[table])
        if key and key in seen and not v.chance(0.25):
            continue
        seen.add(key)
        unique.append(row)
    bad_rows: set[int] = set()
    if draw(st.integers(0, 9)) < bad_chance:
        at = draw(st.integers(0, len(unique)))
        unique.insert(at, make_row(v, table, v.rnd.choice(BAD_FIELDS[table])))
        bad_rows.add(at)
    method = draw(st.sampled_from(METHODS))
    return Batch(table, method, method in ("multi", "transaction", "copy") and draw(st.booleans()),
                 tuple(tuple(row[c] for c in COLUMNS[table]) for row in unique),
                 frozenset(bad_rows))


#: spine_events half of the time, the other input tables share the rest.
_TABLE_CHOICES = ("spine_events",) * 8 + tuple(t for t in TABLES if t != "spine_events")


@st.composite
def examples(draw: st.DrawFn) -> Example:
    v = Values(random.Random(draw(st.integers(0, 2**64 - 1))))
    world = v.make_world(draw(st.integers(1, 2)), draw(st.integers(1, 2)),
                         draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    connectors: list[dict[str, object]] = [
        {"connector_id": c.connector_id, "display_name": v.text(),
         "manifest": v.manifest(c.profile_key)} for c in world.connectors]
    connections: list[dict[str, object]] = [{
        "connector_instance_id": c.connection_id, "owner_id": c.owner_id,
        "connector_id": c.connector.connector_id, "display_name": v.text(),
        "status": v.rnd.choice(("active", "active", "paused", "revoked", "draft")),
        "source_kind": v.rnd.choice(SOURCE_KINDS), "created_at": v.ts(nullable=False),
        "revoked_at": v.ts()} for c in world.connections]
    batches = [_batch(draw, v, "connectors", connectors, 1),
               _batch(draw, v, "connections", connections, 1)]
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from(_TABLE_CHOICES))
        big = table == "spine_events" and draw(st.integers(0, 29)) == 0
        size = 200 if big else draw(st.integers(1, 6))
        rows = [make_row(v, table) for _ in range(size)]
        batches.append(_batch(draw, v, table, rows, 5 if big else 3))
    return Example(world, tuple(batches), draw(st.sampled_from(READ_TIMES)),
                   draw(st.sampled_from(ZONES)), draw(st.integers(0, 3)) == 0,
                   draw(st.integers(0, 2)) == 0, draw(st.integers(0, 2)) == 0)


# --- writing ---------------------------------------------------------------------------------

_IMMEDIATE = b"set constraints connection_summary.run_maintenance_on_commit immediate"


def _insert(table: str, rows: int) -> bytes:
    types = COLUMNS[table]
    one = "(" + ", ".join(f"%s::{t}" for t in types.values()) + ")"
    return (f"insert into {SCHEMA}.{table} ({', '.join(types)}) values "
            + ", ".join([one] * rows)).encode()


def _refused(exc: psycopg.Error) -> Outcome:
    diag = exc.diag
    return ("refused", exc.sqlstate or type(exc).__name__, diag.constraint_name or "",
            diag.table_name or "", diag.column_name or "")


def _attempt(action: Callable[[], object]) -> Outcome:
    try:
        action()
    except psycopg.Error as exc:
        return _refused(exc)
    return ("landed",)


def write(conn: Conn, batch: Batch) -> list[Outcome]:
    """Apply `batch` by its method and commit; one outcome (per row for 'single')."""
    table = batch.table
    if batch.method == "single":
        return [_attempt(functools.partial(conn.execute, _insert(table, 1), row))
                for row in batch.rows]
    params = [value for row in batch.rows for value in row]
    if batch.method == "multi_autocommit":
        return [_attempt(functools.partial(conn.execute, _insert(table, len(batch.rows)), params))]

    def in_transaction() -> None:
        with conn.transaction():
            if batch.immediate:
                conn.execute(_IMMEDIATE)
            if batch.method == "multi":
                conn.execute(_insert(table, len(batch.rows)), params)
            elif batch.method == "transaction":
                for row in batch.rows:
                    conn.execute(_insert(table, 1), row)
            else:
                copy_sql = f"copy {SCHEMA}.{table} ({', '.join(batch.columns)}) from stdin"
                with conn.cursor() as cur, cur.copy(copy_sql.encode()) as copy:
                    for row in batch.rows:
                        copy.write_row(row)

    return [_attempt(in_transaction)]


#: A batch without a row outside the domain may still repeat a key or name a
#: connector that did not land; nothing else may refuse it.
ALLOWED_FOR_GOOD_ROWS = {"23505", "23503"}


def check_against_labels(batch: Batch, outcomes: list[Outcome]) -> None:
    """Rows outside the domain are refused; rows within it land (but for 23505/23503)."""
    groups = ([frozenset([i]) for i in range(len(batch.rows))] if batch.method == "single"
              else [frozenset(range(len(batch.rows)))])
    for rows, outcome in zip(groups, outcomes, strict=True):
        if rows & batch.bad_rows:
            assert outcome[0] == "refused", (
                f"a value outside the accepted domain was stored: {batch.describe()}")
        elif outcome[0] == "refused":
            assert outcome[1] in ALLOWED_FOR_GOOD_ROWS, (
                f"a batch within the accepted domain was refused with {outcome}: "
                f"{batch.describe()}")


# --- the two databases -----------------------------------------------------------------------

_CLEAN = "; ".join(
    [f"delete from {SCHEMA}.{t}" for t in (*TABLES, "run_evidence", "run_heads",
                                            "run_maintenance_queue", "connection_states",
                                            "connection_state_queue")]
)
#: Every input table's rows as text (spine_events without event_seq and recorded_at,
#: which only the database chooses), hashed: equal hashes, equal contents.
_FINGERPRINT = " union all ".join(
    f"select '{t}', count(*), md5(coalesce(string_agg(x, E'\\n' order by x collate \"C\"), ''))"
    f" from (select ({', '.join(COLUMNS[t])})::text as x from {SCHEMA}.{t}) as r"
    if t == "spine_events" else
    f"select '{t}', count(*), md5(coalesce(string_agg(x, E'\\n' order by x collate \"C\"), ''))"
    f" from (select r::text as x from {SCHEMA}.{t} as r) as r"
    for t in TABLES
)


@dataclass
class Database:
    name: str
    admin: Conn  # the migrating superuser: cleaning, fingerprints
    writer: Conn  # SET ROLE connection_summary_writer

    def clean(self) -> None:
        # session_replication_role = replica: no trigger fires, not even append-only's.
        self.admin.execute(f"set session_replication_role = replica; {_CLEAN}; "
                           "reset session_replication_role".encode())

    def fingerprint(self) -> list[tuple[Any, ...]]:
        return self.admin.execute(_FINGERPRINT.encode()).fetchall()


@dataclass
class Stats:
    examples: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    divergent: int = 0
    reads: Counter[str] = field(default_factory=Counter)
    client_failures: list[str] = field(default_factory=list)


@dataclass
class Pair:
    on: Database  # as migrated, change notifications on
    off: Database  # every trigger of the schema disabled
    reader: Conn  # on `on`, SET ROLE connection_summary_reader
    clients: dict[str, Client]  # on `on`, one per session time zone
    worker: ThreadPoolExecutor  # writes `off`, and reads through the client, meanwhile
    stats: Stats


def _open(server: Server, name: str) -> Database:
    admin: Conn = psycopg.connect(server.conninfo(name), autocommit=True)
    writer: Conn = psycopg.connect(server.conninfo(name), autocommit=True)
    writer.execute("set role connection_summary_writer")
    return Database(name, admin, writer)


@pytest.fixture(scope="module")
def pair(server: Server, template_db: str) -> Iterator[Pair]:
    names = [create_database(server, template=template_db, prefix="cs_domain")
             for _ in range(2)]
    opened: list[Database] = []
    clients: dict[str, Client] = {}
    try:
        on, off = (_open(server, name) for name in names)
        opened = [on, off]
        on.admin.execute("select connection_summary.set_change_notifications(true)")
        for (table,) in off.admin.execute(
                "select c.oid::regclass::text from pg_class as c "
                "join pg_namespace as n on n.oid = c.relnamespace "
                "where n.nspname = %s and c.relkind in ('r', 'p')", (SCHEMA,)).fetchall():
            off.admin.execute(f"alter table {table} disable trigger user".encode())
        left = off.admin.execute(
            "select count(*) from pg_trigger as g join pg_class as c on c.oid = g.tgrelid "
            "join pg_namespace as n on n.oid = c.relnamespace "
            "where n.nspname = %s and not g.tgisinternal and g.tgenabled <> 'D'",
            (SCHEMA,)).fetchone()
        assert left == (0,), "a trigger of the schema is still enabled in the 'off' database"
        reader: Conn = psycopg.connect(server.conninfo(names[0]), autocommit=True)
        reader.execute("set role connection_summary_reader")
        for zone in ZONES:
            clients[zone] = Client(psycopg.conninfo.make_conninfo(
                server.conninfo(names[0]), options=f"-c TimeZone={zone}"), timeout=10)
        with ThreadPoolExecutor(max_workers=2) as worker:
            yield Pair(on, off, reader, clients, worker, Stats())
        reader.close()
    finally:
        for client in clients.values():
            client.close()
        for database in opened:
            database.writer.close()
            database.admin.close()
        for name in names:
            drop_database(server, name)


# --- reading ---------------------------------------------------------------------------------

_OWNERS = " union ".join(f"select owner_id from {SCHEMA}.{t}" for t in TABLES
                         if t != "connectors")

# The JSON forms as text: json_loads reads every number jsonb holds.
_OVERVIEW_JSON = """
select o.owner_id,
    connection_summary.overview_json(p_owner_id => o.owner_id, p_now => %(at)s)::text
from unnest(%(owners)s::text[]) as o (owner_id)
"""

# The overview one row at a time, each page after the previous page's cursor.
_PAGED = """
with recursive pages (owner_id, n, connection_id, cursor) as (
    select o.owner_id, 1, s.connection_id, s.cursor
    from unnest(%(owners)s::text[]) as o (owner_id)
    cross join lateral connection_summary.overview(
        p_owner_id => o.owner_id, p_now => %(at)s, p_limit => 1) as s
    union all
    select pages.owner_id, pages.n + 1, s.connection_id, s.cursor
    from pages
    cross join lateral connection_summary.overview(
        p_owner_id => pages.owner_id, p_now => %(at)s, p_limit => 1, p_after => pages.cursor
    ) as s
    where pages.n < 64
)
select owner_id, array_agg(connection_id order by n) from pages group by owner_id
"""

_ROUTES_JSON = """
select r.owner_id, r.route_id,
    connection_summary.for_route_json(
        p_owner_id => r.owner_id, p_route_id => r.route_id, p_now => %(at)s)::text,
    connection_summary.diagnostics(
        p_owner_id => r.owner_id, p_route_id => r.route_id, p_now => %(at)s)::text
from unnest(%(owners)s::text[], %(routes)s::text[]) as r (owner_id, route_id)
"""


@dataclass(frozen=True)
class Landed:
    connection_id: str
    owner_id: str
    connector_id: str
    status: str


def expected_route(connections: list[Landed], owner: str, route: str) -> str | None:
    """connection_summary.resolve_route, restated."""
    visible = [c for c in connections if c.owner_id == owner and c.status != "draft"]
    if any(c.connection_id == route for c in visible):
        return route
    by_connector = [c.connection_id for c in visible if c.connector_id == route]
    return by_connector[0] if len(by_connector) == 1 else None


def round_trips(model: Summary | Diagnostics, value: object, zone: str) -> bool:
    """to_json writes timestamps in UTC: the very JSON read in a UTC session, and in
    another session time zone JSON that reads back to an equal object."""
    written = model.to_json()
    return written == value if zone == "UTC" else type(model).from_json(written) == model


def _surface_keys(runs: Sequence[Any]) -> list[str]:
    return [run.browser_surface.profile_key for run in runs
            if run is not None and run.browser_surface is not None
            and run.browser_surface.profile_key is not None]


ClientResult = tuple[str, object]  # ("ok", value) or ("raised", "Type: message")


def _call(read: Callable[[], object]) -> ClientResult:
    try:
        return ("ok", read())
    except Exception as exc:  # every failure to read back is reported
        return ("raised", f"{type(exc).__name__}: {exc!s:.300}")


def client_reads(client: Client, owners: list[str], routes: list[tuple[str, str]],
                 at: datetime, kinds: tuple[str, ...]) -> dict[tuple[str, ...], ClientResult]:
    """Reads of the Python client: overview per owner, for_route and diagnostics per route."""
    results: dict[tuple[str, ...], ClientResult] = {}
    if "overview" in kinds:
        for owner in owners:
            results[("overview", owner)] = _call(
                functools.partial(client.overview, owner, now=at, coalesce=False))
    for owner, route in routes:
        if "for_route" in kinds:
            results[("for_route", owner, route)] = _call(
                functools.partial(client.for_route, owner, route, now=at))
        if "diagnostics" in kinds:
            results[("diagnostics", owner, route)] = _call(
                functools.partial(client.diagnostics, owner, route, now=at))
    return results


def read_back(pair: Pair, example: Example) -> None:
    """Invariant 2: every landed owner reads back, in SQL and through the Python client.

    The client's calls are SQL reads of overview and for_route (it sends
    `select * from connection_summary.overview(...)`, ...); the JSON forms,
    read here in the client's time zone, must parse to equal objects and
    write back unchanged.
    """
    on = pair.on.admin
    owners = sorted(row[0] for row in on.execute(_OWNERS.encode()).fetchall())
    if not owners:
        return
    landed = [Landed(*row) for row in on.execute(
        "select connector_instance_id, owner_id, connector_id, status "
        "from connection_summary.connections").fetchall()]
    routes = sorted({(c.owner_id, c.connection_id) for c in landed}
                    | {(c.owner_id, c.connector_id) for c in landed if example.connector_routes})
    at = example.read_time
    # The client reads meanwhile, in two more threads.
    client_futures = [pair.worker.submit(client_reads, pair.clients[example.zone], owners,
                                         routes, at, kinds)
                      for kinds in (("overview", "for_route"), ("diagnostics",))]
    reader = pair.reader
    reader.execute(sql.SQL("set timezone = {}").format(sql.Literal(example.zone)))

    expected: dict[tuple[str, ...], object] = {}
    overview: dict[str, list[str]] = {}
    for owner, text in reader.execute(
            _OVERVIEW_JSON.encode(), {"owners": owners, "at": at}).fetchall():
        value = json_loads(text)
        assert isinstance(value, list)
        rows = [Summary.from_json(item) for item in value]
        assert all(round_trips(row, item, example.zone) for row, item in
                   zip(rows, value, strict=True)), "overview_json does not round-trip"
        overview[owner] = [row.connection_id for row in rows]
        visible = {c.connection_id for c in landed if c.owner_id == owner and c.status != "draft"}
        assert sorted(overview[owner]) == sorted(visible), (owner, overview[owner], visible)
        expected[("overview", owner)] = rows
        pair.stats.reads[f"overview at {READ_TIMES.index(at)}"] += 1

    if example.page:
        several = [owner for owner, ids in overview.items() if len(ids) > 1]
        for owner, paged in reader.execute(
                _PAGED.encode(), {"owners": several, "at": at}).fetchall():
            assert paged == overview[owner], f"paging by cursor: {paged} != {overview[owner]}"
            pair.stats.reads["paged"] += 1

    if example.scoped_json:
        for owner, route, summary_text, diagnostics_text in reader.execute(
                _ROUTES_JSON.encode(), {"owners": [owner for owner, _ in routes],
                                        "routes": [route for _, route in routes], "at": at}
        ).fetchall():
            resolved = expected_route(landed, owner, route)
            assert (summary_text is None) == (resolved is None), (owner, route)
            assert (diagnostics_text is None) == (resolved is None), (owner, route)
            summary = diagnostics = None
            if summary_text is not None and diagnostics_text is not None:
                summary_json = json_loads(summary_text)
                summary = Summary.from_json(summary_json)
                assert round_trips(summary, summary_json, example.zone), \
                    "for_route_json does not round-trip"
                assert summary.connection_id == resolved, (owner, route)
                diagnostics_json = json_loads(diagnostics_text)
                diagnostics = Diagnostics.from_json(diagnostics_json)
                assert round_trips(diagnostics, diagnostics_json, example.zone), \
                    "diagnostics does not round-trip"
                assert diagnostics.summary == summary
            expected[("for_route", owner, route)] = summary
            expected[("diagnostics", owner, route)] = diagnostics
            pair.stats.reads["route_json"] += 1

    client = {key: result for future in client_futures for key, result in future.result().items()}
    for key, (result, got) in client.items():
        what = " ".join(f"{part!r:.40}" for part in key)
        if result == "raised":
            pair.stats.client_failures.append(
                f"Client.{what} at {at} in {example.zone}: {got}")
            continue
        if key in expected:
            assert got == expected[key], f"Client.{what} at {at} != the JSON form"
        runs: list[Any] = []
        if isinstance(got, list):
            runs = [run for s in got for run in (s.last_run, s.last_successful_run)]
        elif key[0] == "for_route":
            assert got is None or isinstance(got, Summary)
            resolved = expected_route(landed, key[1], key[2])
            assert (got and got.connection_id) == resolved, what
            if got is not None:
                runs = [got.last_run, got.last_successful_run]
            status, diagnosed = client[("diagnostics", key[1], key[2])]
            if status == "ok":
                assert diagnosed is None or isinstance(diagnosed, Diagnostics)
                assert (diagnosed and diagnosed.summary) == got, what
        elif isinstance(got, Diagnostics):
            assert Diagnostics.from_json(got.to_json()) == got, what
            runs = list(got.recent_runs)
        # A run whose profile key is longer than any connection's belongs to none.
        assert all(len(k.encode()) <= 511 for k in _surface_keys(runs)), what
        pair.stats.reads[f"client {key[0]}"] += 1


# --- the properties --------------------------------------------------------------------------


def run_example(pair: Pair, example: Example) -> None:
    for database in (pair.on, pair.off):
        database.clean()
    for number, batch in enumerate(example.batches, 1):
        note(f"batch {number}: {batch.describe()}")
        off = pair.worker.submit(write, pair.off.writer, batch)
        with_triggers = write(pair.on.writer, batch)
        without = off.result()
        if with_triggers != without:
            pair.stats.divergent += 1
        assert with_triggers == without, (
            f"triggers on: {with_triggers}, off: {without}\n{batch.describe()}")
        check_against_labels(batch, with_triggers)
        if len(batch.rows) > 100:
            pair.stats.outcomes[f"big batch {with_triggers[0][0]}"] += 1
        for outcome in with_triggers:
            pair.stats.outcomes[f"{batch.table} {batch.method} {outcome[0]}"] += 1
            pair.stats.outcomes[" ".join(outcome[:2])] += 1
    off_rows = pair.worker.submit(pair.off.fingerprint)
    assert pair.on.fingerprint() == off_rows.result(), "the two databases hold other rows"
    diverging = pair.on.admin.execute(
        "select 'run_evidence', * from cs_test.run_evidence_diff() "
        "union all select 'run_heads', * from cs_test.run_heads_diff()").fetchall()
    assert not diverging, f"stored read model != live fold: {diverging}"
    read_back(pair, example)
    pair.stats.examples += 1


def test_accepted_writes_land_and_read_back(pair: Pair) -> None:
    # No shrinking: the values come from a seed, which shrinks poorly, and every
    # batch of a failing example is printed (note) as it was written.
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.reuse, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(example=examples())
    def check(example: Example) -> None:
        note(f"read at {example.read_time} in {example.zone}; world {example.world}")
        run_example(pair, example)

    check()
    stats = pair.stats
    print(f"\n{stats.examples} examples; {stats.divergent} outcomes differed between triggers "
          f"on and off; outcomes: {dict(sorted(stats.outcomes.items()))}; "
          f"reads: {dict(sorted(stats.reads.items()))}; "
          f"client failures: {len(stats.client_failures)}")
    assert stats.examples >= EXAMPLES, stats.examples
    assert stats.divergent == 0
    assert not stats.client_failures, (
        f"the Python client failed to read back {len(stats.client_failures)} accepted "
        "value(s):\n" + "\n".join(stats.client_failures[:20]))
    if EXAMPLES < 1000:  # a quick run (CONNECTION_SUMMARY_DOMAIN_EXAMPLES) need not reach all
        return
    # The generator reached what it is for: every table landed and was refused
    # by every method, and every kind of read ran.
    for table in TABLES:
        for method in METHODS:
            for result in ("landed", "refused"):
                assert stats.outcomes[f"{table} {method} {result}"] > 0, (
                    f"no {table} batch by {method} was {result}")
    assert stats.outcomes["big batch landed"] > 0
    assert stats.outcomes["big batch refused"] > 0
    for sqlstate in ("23514", "23502", "22008", "22007", "22P02", "22003", "23505", "23503"):
        assert stats.outcomes[f"refused {sqlstate}"] > 0, f"nothing was refused with {sqlstate}"
    for kind in ("route_json", "paged", "client overview", "client for_route",
                 "client diagnostics", *(f"overview at {n}" for n in range(len(READ_TIMES)))):
        assert stats.reads[kind] > EXAMPLES // 20, (kind, stats.reads)


# --- focused tests ---------------------------------------------------------------------------


def _as_writer(conn: Conn) -> None:
    conn.execute("set role connection_summary_writer")


def test_clock_skewed_producer_cannot_freeze_a_verdict(db: str) -> None:
    """A run dated 9999-12-29 arrives first; a later real run fails on credentials.

    The future run counts as happening when it arrived, so the real run is the
    connection's last run and the verdict is blocked (red), not Healthy.
    """
    with psycopg.connect(db, autocommit=True) as conn:
        _as_writer(conn)
        conn.execute(
            "insert into connection_summary.connectors (connector_id, manifest) values "
            "('mail', '{\"refresh_policy\": {\"maximum_staleness_seconds\": 86400}}')")
        conn.execute(
            "insert into connection_summary.connections "
            "(connector_instance_id, owner_id, connector_id, status, created_at) "
            "values ('mail-1', 'alice', 'mail', 'active', now() - interval '10 days')")
        event = ("insert into connection_summary.spine_events (owner_id, event_type, status, "
                 "source_kind, source_id, run_id, occurred_at, data) values "
                 "('alice', %s, %s, 'connector', 'mail', %s, {}, %s::jsonb)")
        (before,) = conn.execute("select clock_timestamp()").fetchone() or (None,)
        with conn.transaction():
            # 'z-future' sorts after 'a-real': only its time can put it first.
            conn.execute(event.format("timestamptz '9999-12-29 00:00:00+00'"),
                         ("run.started", "started", "z-future", "{}"))
            conn.execute(event.format("timestamptz '9999-12-29 01:00:00+00'"),
                         ("run.completed", "succeeded", "z-future", "{}"))
        (after,) = conn.execute("select clock_timestamp()").fetchone() or (None,)
        with conn.transaction():
            conn.execute(event.format("now()"), ("run.started", "started", "a-real", "{}"))
            conn.execute(event.format("now()"), ("run.failed", "failed", "a-real",
                                                 '{"reason": "credentials_rejected"}'))
        conn.execute("reset role")
        (now,) = conn.execute("select now()").fetchone() or (None,)
        overview = conn.execute(
            "select to_jsonb(s) from connection_summary.overview(p_owner_id => 'alice') as s"
        ).fetchall()
        route = conn.execute(
            "select to_jsonb(s) from connection_summary.for_route("
            "p_owner_id => 'alice', p_route_id => 'mail-1') as s").fetchall()
        diagnostics = conn.execute(
            "select connection_summary.diagnostics(p_owner_id => 'alice', p_route_id => 'mail-1')"
        ).fetchone()
    assert before is not None
    assert after is not None
    assert now is not None
    assert len(overview) == 1
    assert len(route) == 1
    for (row,) in (*overview, *route):
        assert row["last_run"]["run_id"] == "a-real", row["last_run"]
        assert row["last_run"]["status"] == "failed"
        assert row["last_run"]["failure_reason"] == "credentials_rejected"
        health = row["connection_health"]
        assert (health["state"], health["reason_code"]) == ("blocked", "credentials_rejected")
        assert row["rendered_verdict"]["pill"] == {"tone": "red", "label": "Can't collect"}
        future = row["last_successful_run"]
        assert future["run_id"] == "z-future"
        last_at = datetime.fromisoformat(future["last_at"])
        assert before <= last_at <= after <= now, (before, last_at, after)
    assert diagnostics is not None
    recent = {run["run_id"]: run for run in diagnostics[0]["recent_runs"]}
    assert list(recent) == ["a-real", "z-future"]
    assert datetime.fromisoformat(recent["z-future"]["started_at"]) <= after

    with Client(db, timeout=10) as client:
        summaries = client.overview("alice", coalesce=False)
        scoped = client.for_route("alice", "mail-1")
        assert scoped is not None
        for summary in (*summaries, scoped):
            assert summary.last_run is not None
            assert summary.last_run.run_id == "a-real"
            assert summary.connection_health.state == "blocked"
            assert summary.rendered_verdict.pill is not None
            assert summary.rendered_verdict.pill.tone == "red"
            assert summary.last_successful_run is not None
            assert summary.last_successful_run.last_at is not None
            assert summary.last_successful_run.last_at <= datetime.now(UTC)


def test_overview_pages_exactly_at_the_bounds(db: str) -> None:
    """Keyset paging never skips or repeats a connection created near 0001 or 9999.

    The cursor carries created_at as microseconds since 1970; so far from it a
    float product is no longer exact, and a cursor that decoded one microsecond
    late would skip the next connection.
    """
    created = [UPPER - 10 * MICROSECOND, UPPER - MICROSECOND, UPPER, LOWER,
               LOWER + MICROSECOND, LOWER + 7 * MICROSECOND, ORDINARY + 333 * MICROSECOND,
               UPPER - timedelta(seconds=1, microseconds=17)]
    with psycopg.connect(db, autocommit=True) as conn:
        _as_writer(conn)
        conn.execute("insert into connection_summary.connectors (connector_id) values ('k')")
        for number, at in enumerate(created):
            conn.execute(
                "insert into connection_summary.connections "
                "(connector_instance_id, owner_id, connector_id, status, created_at) "
                "values (%s, 'o', 'k', 'active', %s)", (f"c{number}", at))
        conn.execute("reset role")
        for now in READ_TIMES:
            full = [row[0] for row in conn.execute(
                "select connection_id from connection_summary.overview("
                "p_owner_id => 'o', p_now => %s)", (now,)).fetchall()]
            assert len(full) == len(created)
            for size in (1, 2, 3):
                paged: list[str] = []
                after = None
                while len(paged) <= len(created):
                    page = conn.execute(
                        "select connection_id, cursor from connection_summary.overview("
                        "p_owner_id => 'o', p_now => %s, p_limit => %s, p_after => %s)",
                        (now, size, after)).fetchall()
                    paged += [row[0] for row in page]
                    if len(page) < size:
                        break
                    after = page[-1][1]
                assert paged == full, f"pages of {size}: {paged} != {full}"


def test_generator_reaches_the_domain_edges() -> None:
    """Guards the generator: it draws the limits, the bounds and every JSON shape."""
    seen: set[str] = set()
    limits = {1, 255, 256, 511, 512}

    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(example=examples())
    def collect(example: Example) -> None:
        for batch in example.batches:
            seen.add(f"method:{batch.method}")
            seen.add(f"table:{batch.table}")
            if len(batch.rows) > 100:
                seen.add("big batch")
            for row in batch.rows:
                for value in row:
                    if isinstance(value, str):
                        size = len(value.encode("utf-8", "surrogatepass"))
                        if size in limits:
                            seen.add(f"bytes:{size}")
                        if len(value) < size and size in (255, 256):
                            seen.add(f"multibyte:{size}")
                        if value in ("infinity", "-infinity") or value.startswith(
                                ("0001-01-02 00:00:00+00", "9999-12-30 00:00:00+00")):
                            seen.add(f"time:{value[:10]}")
                if batch.table == "spine_events":
                    data = row[-1]
                    if isinstance(data, str):
                        try:
                            seen.add("data:" + type(json.loads(data)).__name__)
                        except ValueError:
                            seen.add("data:invalid")

    collect()
    wanted = ({f"method:{m}" for m in METHODS} | {f"table:{t}" for t in TABLES}
              | {f"bytes:{n}" for n in limits} | {"multibyte:255", "multibyte:256"}
              | {"time:infinity", "time:-infinity", "time:0001-01-02", "time:9999-12-30"}
              | {"data:dict", "data:list", "data:str", "data:int", "data:float",
                 "data:NoneType", "data:bool", "data:invalid"}
              | {"big batch"})
    assert wanted <= seen, f"never generated: {sorted(wanted - seen)}"
