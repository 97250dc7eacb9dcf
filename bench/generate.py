"""Seeded, COPY-based generator of a many-owner data set for the benchmark suite.

    python -m bench.generate                    # 2,000 owners x 20 + one of 1,000; ~5M events
    python -m bench.generate --small            # 200 owners x 20 + one of 100; ~200,000 events
    python -m bench.generate --dsn "dbname=x"   # into an existing database (migrated first)

Importable: `generate(conninfo, Scale(...))` loads the main data set into a
migrated database; `OwnerGen` makes one owner (its connections, operational
rows and run events) and can grow the same owner's history later
(`OwnerGen.event_lines`), which bench/suite.py uses for its curves.

Deterministic: every owner's layout and events come from random.Random seeded
with (seed, owner id), so the same seed gives the same rows (only event_seq and
recorded_at, which the database assigns, differ).

The data, per owner (20 connections by default):

* connectors from a catalog of 500 API connectors and 100 browser connectors
  (half of these with a manifest profile key); an owner's connections come in
  groups of one connector: API connectors of 1-3 connections, browser
  connectors of 2-4 sibling connections (`browser_collector`), so an owner has
  several connectors and siblings whose runs only their profile keys tell apart;
* runs going back in time from NOW, one every `interval` (1-24 h) per
  connection, of 2 to 150 events (median 7): run.started, a browser surface
  lease carrying the sibling's profile key (browser runs), progress events, and
  run.completed (85 %) or run.failed (15 %, with a reason); 3 % of browser runs
  are a lone run.browser_surface_failed; the newest run of 8 % of connections
  is still in progress (a live or an expired lease in active_runs). API runs
  carry the connection id, except half of the runs of a connector's sole
  connection, which carry none (attributed by the sole-active rule);
* retained sizes per stream and per connection, a schedule per connection,
  detail gaps (5 % of connections), attention records (3 %), browser surface
  leases (20 % of browser connections); 92 % active, 6 % paused, 2 % revoked.

Loading: one COPY per table per batch of owners (~250,000 events, sorted by
time within the batch so that a connection's events interleave with the other
connections', as in a real log), one transaction per batch; a worker thread
makes the next batch while the server ingests this one. By default the
package's triggers on spine_events are disabled during the load (`alter table
... disable trigger user`) and `connection_summary.rebuild_run_evidence()`, the
package's own repair path, builds the read model once at the end: for 1,000,000
events (400 owners) that took 62 s in all against 87 s through the triggers in
10,000-event transactions (2 cores, shared with other work): 1.4x.
`--with-triggers` loads through the triggers instead. The load
ends with VACUUM ANALYZE and a CHECKPOINT, so that autovacuum has nothing left
to do while the suite measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

Conn = psycopg.Connection[tuple[Any, ...]]

# The read time of every measurement: every generated event is before it.
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
NOW_MS = int(NOW.timestamp() * 1000)
DAY_MS = 86_400_000

API_CONNECTORS = 500
BROWSER_CONNECTORS = 100
STREAMS = ("messages", "labels", "contacts", "calendar", "files", "transactions",
           "accounts", "statements", "orders", "photos")
FAILURE_REASONS = ("timeout", "auth_expired", "rate_limited", "upstream_error")

EVENT_COLUMNS = ("owner_id", "event_type", "status", "source_kind", "source_id", "run_id",
                 "occurred_at", "connector_instance_id", "data")


@dataclass(frozen=True)
class Scale:
    """The main data set: `owners` owners of `connections_per_owner` connections each,
    plus one owner per entry of `large_owners` with that many connections;
    about `events` events over all their connections."""

    owners: int = 2_000
    connections_per_owner: int = 20
    large_owners: tuple[int, ...] = (1_000,)
    events: int = 5_000_000
    seed: int = 1

    @property
    def connections(self) -> int:
        return self.owners * self.connections_per_owner + sum(self.large_owners)

    @property
    def events_per_connection(self) -> float:
        return self.events / self.connections


FULL = Scale()
SMALL = Scale(owners=200, large_owners=(100,), events=200_000)


def typical_owner(index: int) -> str:
    return f"owner-{index:05d}"


def large_owner(index: int) -> str:
    return f"owner-large-{index}"


# --- text formatting for COPY ---------------------------------------------------------------

_day_cache: dict[int, str] = {}
_HMS = [f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60)]


def fmt_ts(ms: int) -> str:
    """Epoch milliseconds as a timestamptz literal (UTC), fast."""
    day, rest = divmod(ms, DAY_MS)
    date = _day_cache.get(day)
    if date is None:
        date = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
        _day_cache[day] = date
    seconds, millis = divmod(rest, 1000)
    return f"{date} {_HMS[seconds]}.{millis:03d}+00"


def _text(value: object) -> str:
    """One COPY text field. The generator's strings never hold tabs, newlines or
    backslashes, so no escaping is needed beyond NULL."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


# --- the catalog ----------------------------------------------------------------------------


def api_connector(index: int) -> str:
    return f"api-{index:03d}"


def browser_connector(index: int) -> str:
    return f"web-{index:03d}"


def catalog(seed: int) -> list[tuple[str, str, str]]:
    """(connector_id, display_name, manifest json) of every connector."""
    rng = random.Random(f"{seed}:catalog")
    rows = []
    for index in range(API_CONNECTORS + BROWSER_CONNECTORS):
        browser = index >= API_CONNECTORS
        cid = browser_connector(index - API_CONNECTORS) if browser else api_connector(index)
        streams = rng.sample(STREAMS, rng.randint(1, 4))
        manifest: dict[str, Any] = {
            "streams": [{"name": s, **({"required": False} if i and rng.random() < 0.3 else {})}
                        for i, s in enumerate(streams)],
        }
        if rng.random() < 0.7:
            manifest["refresh_policy"] = {
                "maximum_staleness_seconds": rng.choice((3600, 21600, 86400, 604800)),
                "background_safe": rng.random() < 0.5,
            }
        if browser and index % 2 == 0:
            manifest["browser_surface"] = {"profile_key": f"profile-{cid}"}
        rows.append((cid, f"Connector {cid}", _dumps(manifest)))
    return rows


def manifest_streams(seed: int) -> dict[str, list[str]]:
    return {cid: [s["name"] for s in json.loads(manifest)["streams"]]
            for cid, _, manifest in catalog(seed)}


def manifest_profile_keys(seed: int) -> dict[str, str]:
    out = {}
    for cid, _, manifest in catalog(seed):
        key = json.loads(manifest).get("browser_surface", {}).get("profile_key")
        if key:
            out[cid] = key
    return out


def load_catalog(conn: Conn, seed: int) -> None:
    """Insert the connector catalog (idempotent)."""
    with conn.transaction():
        conn.execute("create temp table bench_catalog (like connection_summary.connectors) "
                     "on commit drop")
        with conn.cursor() as cur, cur.copy(
                "copy bench_catalog (connector_id, display_name, manifest) from stdin") as copy:
            for row in catalog(seed):
                copy.write_row(row)
        conn.execute("insert into connection_summary.connectors "
                     "(connector_id, display_name, manifest) "
                     "select connector_id, display_name, manifest from bench_catalog "
                     "on conflict (connector_id) do nothing")


# --- one owner ------------------------------------------------------------------------------


@dataclass
class ConnectionPlan:
    instance_id: str
    connector_id: str
    browser: bool
    status: str
    created_ms: int
    profile_key: str
    sole_active: bool
    interval_s: int
    streams: list[str]
    next_run: int = 0                                 # runs generated so far (newest first)
    newest: dict[str, Any] = field(default_factory=dict)  # facts of run 0, for the schedule


@dataclass
class EventCounts:
    events: int = 0
    runs: int = 0


class OwnerGen:
    """One owner: its connections' layout, operational rows and run events.

    `event_lines(mean)` generates about `mean` events per connection (each
    connection between 0.5x and 1.5x of it), as runs older than any generated
    before for that connection: call it again to grow the owner's history
    without changing its newest runs.
    """

    def __init__(self, owner_id: str, connections: int, seed: int,
                 streams: dict[str, list[str]], profile_keys: dict[str, str],
                 rng_key: str | None = None) -> None:
        self.owner_id = owner_id
        # rng_key: owners generated with the same key have the same layout and runs.
        self.rng = random.Random(f"{seed}:owner:{rng_key or owner_id}")
        self.plans: list[ConnectionPlan] = []
        rng = self.rng
        api = list(range(API_CONNECTORS))
        web = list(range(BROWSER_CONNECTORS))
        rng.shuffle(api)
        rng.shuffle(web)
        groups: list[tuple[str, bool, int]] = []
        remaining = connections
        while remaining > 0:
            browser = rng.random() < 0.3
            if browser:
                cid = browser_connector(web[len(groups) % len(web)])
                size = rng.randint(2, 4)
            else:
                cid = api_connector(api[len(groups) % len(api)])
                size = rng.choice((1, 1, 1, 2, 3))
            size = min(size, remaining)
            groups.append((cid, browser, size))
            remaining -= size
        serial = 0
        active_count: dict[str, int] = {}
        for cid, browser, size in groups:
            for _ in range(size):
                roll = rng.random()
                status = "active" if roll < 0.92 else "paused" if roll < 0.98 else "revoked"
                instance = f"{owner_id}.c{serial:05d}"
                serial += 1
                base_key = profile_keys.get(cid, cid)
                self.plans.append(ConnectionPlan(
                    instance_id=instance, connector_id=cid, browser=browser, status=status,
                    created_ms=NOW_MS - rng.randint(30, 900) * DAY_MS,
                    profile_key=f"{base_key}:{instance}", sole_active=False,
                    interval_s=rng.choice((3600, 3600 * 6, 3600 * 12, 86400)),
                    streams=streams[cid]))
                if status == "active":
                    active_count[cid] = active_count.get(cid, 0) + 1
        for plan in self.plans:
            plan.sole_active = plan.status == "active" and active_count[plan.connector_id] == 1

    # -- events --

    def event_lines(self, mean_per_connection: float, counts: EventCounts | None = None,
                    jitter: float = 0.5) -> list[tuple[int, str]]:
        """(occurred_at in ms, COPY line) of the next, older runs of every connection:
        mean_per_connection events each, times a factor in [1 - jitter, 1 + jitter]."""
        out: list[tuple[int, str]] = []
        rng = self.rng
        for plan in self.plans:
            factor = rng.uniform(1 - jitter, 1 + jitter) if jitter else 1.0
            budget = max(2, round(mean_per_connection * factor))
            while budget > 0:
                length = _run_length(rng)
                if length > budget:
                    length = max(2, budget)
                written = self._run(plan, length, out)
                budget -= written
                if counts is not None:
                    counts.events += written
                    counts.runs += 1
        return out

    def _run(self, plan: ConnectionPlan, length: int, out: list[tuple[int, str]]) -> int:
        """Append the events of the connection's next (older) run; returns how many."""
        random_ = self.rng.random
        k = plan.next_run
        plan.next_run += 1
        run_id = f"{plan.instance_id}.r{k:06d}"
        interval_ms = plan.interval_s * 1000
        start = NOW_MS - (k + 1) * interval_ms + int(random_() * interval_ms * 0.75)
        in_progress = k == 0 and random_() < 0.08
        surface_failed = plan.browser and not in_progress and random_() < 0.03
        failed = random_() < 0.15
        if plan.browser:
            explicit = None if random_() < 0.9 else plan.instance_id
        elif plan.sole_active and random_() < 0.5:
            explicit = None
        else:
            explicit = plan.instance_id
        # Every line: owner, type, status, 'connector', source, run, time, instance, data.
        owner = self.owner_id
        middle = f"\tconnector\t{plan.connector_id}\t{run_id}\t"
        tail = f"\t{_text(explicit)}\t"
        lease_id = f"lease.{run_id}"
        append = out.append

        def gap() -> int:  # 1 to 20 s between events
            return 1_000 + int(random_() * 19_000)

        if surface_failed:
            data = _dumps({"browser_surface": {
                "browser_surface_profile_key": plan.profile_key,
                "browser_surface_status": "surface_failed",
                "browser_surface_wait_reason": self.rng.choice(("profile_locked", "no_surface")),
                "browser_surface_lease_id": lease_id}})
            append((start, f"{owner}\trun.browser_surface_failed\tsurface_failed{middle}"
                            f"{fmt_ts(start)}{tail}{data}"))
            if k == 0:
                plan.newest = {"start": start, "end": start, "status": "surface_failed"}
            return 1
        at = start
        append((at, f"{owner}\trun.started\tstarted{middle}{fmt_ts(at)}{tail}{{}}"))
        step = 1
        if plan.browser and length > 2:
            at += gap()
            data = _dumps({"browser_surface": {
                "browser_surface_profile_key": plan.profile_key,
                "browser_surface_status": "leased", "browser_surface_lease_id": lease_id}})
            append((at, f"{owner}\trun.browser_surface_leased\tleased{middle}{fmt_ts(at)}"
                        f"{tail}{data}"))
            step += 1
        last = length - 1 if not in_progress else length
        progress = f"{owner}\trun.progress_reported\trunning{middle}"
        while step < last:
            at += gap()
            append((at, f'{progress}{fmt_ts(at)}{tail}{{"records":{int(random_() * 500)}}}'))
            step += 1
        status = "in_progress"
        if not in_progress:
            at += gap()
            stream = plan.streams[0]
            gaps = [] if random_() < 0.9 else [
                {"stream": stream, "reason": "too_old", "severity": "informational"}]
            if failed:
                status = "failed"
                data = _dumps({"reason": self.rng.choice(FAILURE_REASONS), "known_gaps": gaps})
                append((at, f"{owner}\trun.failed\tfailed{middle}{fmt_ts(at)}{tail}{data}"))
            else:
                status = "succeeded"
                considered = 1 + int(random_() * 1000)
                data = _dumps({"known_gaps": gaps, "collection_facts": {"streams": [{
                    "stream": stream, "collected": int(random_() * (considered + 1)),
                    "considered": considered}]}})
                append((at, f"{owner}\trun.completed\tsucceeded{middle}{fmt_ts(at)}{tail}"
                            f"{data}"))
        if k == 0:
            plan.newest = {"start": start, "end": at, "status": status, "run_id": run_id}
        return length

    # -- the other tables --

    def side_rows(self) -> dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
        """Rows of connections and the operational tables: {table: (columns, rows)}.
        Call after the first event_lines() (schedules and leases follow the newest runs)."""
        rng = random.Random(f"{self.rng.random()}:{self.owner_id}:side")
        owner = self.owner_id
        connections, streams, sizes, schedules = [], [], [], []
        gaps, attention, leases, active = [], [], [], []
        for plan in self.plans:
            revoked = fmt_ts(NOW_MS - rng.randint(1, 20) * DAY_MS) \
                if plan.status == "revoked" else None
            connections.append((plan.instance_id, owner, plan.connector_id,
                                None if rng.random() < 0.5 else f"Connection {plan.instance_id}",
                                plan.status,
                                "browser_collector" if plan.browser else "account",
                                fmt_ts(plan.created_ms), revoked))
            total = [0, 0, 0]
            for stream in plan.streams:
                if rng.random() < 0.1:
                    continue  # a declared stream that has no records yet
                records = rng.randint(0, 100_000)
                current = records * rng.randint(200, 2_000)
                history = current // rng.randint(2, 10)
                blob = 0 if rng.random() < 0.7 else rng.randint(0, 10**9)
                total = [total[0] + current, total[1] + history, total[2] + blob]
                streams.append((plan.instance_id, stream, owner, plan.connector_id, records,
                                current, history, blob,
                                fmt_ts(NOW_MS - rng.randint(0, 30 * DAY_MS)),
                                rng.random() < 0.05))
            sizes.append((plan.instance_id, owner, total[0], total[1], total[2],
                          rng.random() < 0.05))
            newest = plan.newest
            start = int(newest.get("start", NOW_MS - plan.interval_s * 1000))
            end = int(newest.get("end", start))
            state = newest.get("status")
            succeeded_end = end if state == "succeeded" else (
                start - rng.randint(1, 5) * plan.interval_s * 1000)
            failing = state in ("failed", "surface_failed")
            schedules.append((
                plan.instance_id, owner, plan.status == "active" and rng.random() < 0.95,
                plan.interval_s,
                fmt_ts(start + plan.interval_s * 1000),
                fmt_ts(start),
                fmt_ts(end) if state != "in_progress" else None,
                fmt_ts(succeeded_end),
                rng.choice(FAILURE_REASONS) if failing else None,
                newest.get("run_id") if state == "in_progress" else None,
                rng.randint(1, 5) if failing else 0,
                fmt_ts(NOW_MS + 3_600_000) if failing and rng.random() < 0.5 else None,
                "rate_limited" if failing else None))
            if state == "in_progress":
                alive = rng.random() < 0.6
                active.append((newest["run_id"], owner, plan.instance_id,
                               fmt_ts(NOW_MS + (600_000 if alive else -3_600_000))))
            if rng.random() < 0.05:
                for g in range(rng.randint(1, 3)):
                    gaps.append((f"gap.{plan.instance_id}.{g}", owner, plan.instance_id,
                                 plan.streams[0],
                                 rng.choice(("pending", "in_progress", "recovered", "terminal")),
                                 "too_old", fmt_ts(NOW_MS + 3_600_000)))
            if rng.random() < 0.03:
                attention.append((f"att.{plan.instance_id}", owner, plan.instance_id,
                                  rng.choice(("open", "acknowledged", "resolved")),
                                  rng.choice(("reauth_required", "mfa_required")),
                                  rng.random() < 0.7, "add_info",
                                  fmt_ts(NOW_MS + 7 * DAY_MS),
                                  fmt_ts(NOW_MS - rng.randint(1, 7) * DAY_MS)))
            if plan.browser and rng.random() < 0.2:
                leases.append((f"lease.{plan.instance_id}", owner, plan.connector_id,
                               plan.profile_key, newest.get("run_id"),
                               rng.choice(("waiting_for_browser_surface", "leased", "released",
                                           "deferred")),
                               rng.choice((None, "profile_locked")),
                               fmt_ts(NOW_MS - rng.randint(1, 3_600_000))))
        return {
            "connections": (("connector_instance_id", "owner_id", "connector_id",
                             "display_name", "status", "source_kind", "created_at",
                             "revoked_at"), connections),
            "retained_size_streams": (("connector_instance_id", "stream", "owner_id",
                                       "connector_id", "record_count",
                                       "current_record_json_bytes",
                                       "record_history_json_bytes", "blob_bytes",
                                       "last_record_updated_at", "dirty"), streams),
            "retained_size_connections": (("connector_instance_id", "owner_id",
                                           "current_record_json_bytes",
                                           "record_history_json_bytes", "blob_bytes",
                                           "dirty"), sizes),
            "schedules": (("connector_instance_id", "owner_id", "enabled", "interval_seconds",
                           "next_due_at", "last_started_at", "last_finished_at",
                           "last_successful_at", "last_error_code", "active_run_id",
                           "consecutive_failures", "backoff_next_run_at",
                           "backoff_reason_class"), schedules),
            "active_runs": (("run_id", "owner_id", "connector_instance_id",
                             "lease_expires_at"), active),
            "detail_gaps": (("gap_id", "owner_id", "connector_instance_id", "stream", "status",
                             "reason", "next_attempt_at"), gaps),
            "attention_records": (("attention_id", "owner_id", "connector_instance_id",
                                   "lifecycle", "reason_code", "response_required",
                                   "owner_action", "expires_at", "created_at"), attention),
            "browser_surface_leases": (("lease_id", "owner_id", "connector_id", "profile_key",
                                        "run_id", "status", "wait_reason", "requested_at"),
                                       leases),
        }


def _run_length(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.25:
        return 2
    if roll < 0.70:
        return rng.randint(3, 10)
    if roll < 0.95:
        return rng.randint(11, 40)
    return rng.randint(41, 150)


# --- loading --------------------------------------------------------------------------------


class Progress:
    """A progress line on stderr: a bar on a terminal, a line every 10 % otherwise."""

    def __init__(self, total: int, label: str, enabled: bool = True) -> None:
        self.total = max(1, total)
        self.label = label
        self.enabled = enabled
        self.done = 0
        self.started = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self._last_print = 0.0
        self._last_decile = -1

    def advance(self, amount: int) -> None:
        self.done += amount
        if not self.enabled:
            return
        now = time.perf_counter()
        fraction = min(1.0, self.done / self.total)
        if self.tty:
            if now - self._last_print < 0.2 and self.done < self.total:
                return
            self._last_print = now
            elapsed = now - self.started
            rate = self.done / elapsed if elapsed else 0.0
            eta = (self.total - self.done) / rate if rate else 0.0
            bar = "#" * int(fraction * 30)
            sys.stderr.write(f"\r{self.label} [{bar:<30}] {fraction:6.1%} "
                             f"{self.done:,}/{self.total:,} {rate:,.0f}/s eta {eta:4.0f}s ")
            sys.stderr.flush()
        else:
            decile = int(fraction * 10)
            if decile > self._last_decile:
                self._last_decile = decile
                sys.stderr.write(f"{self.label}: {fraction:.0%} ({self.done:,}/{self.total:,}, "
                                 f"{time.perf_counter() - self.started:.0f} s)\n")
                sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def copy_lines(conn: Conn, table: str, columns: Sequence[str], lines: Iterable[str],
               on_chunk: Callable[[int], None] | None = None, chunk: int = 5_000) -> None:
    """COPY pre-formatted text lines (tab-separated fields) into connection_summary.<table>."""
    statement = sql.SQL("copy connection_summary.{} ({}) from stdin").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= chunk:
                copy.write(("\n".join(buffer) + "\n").encode())
                if on_chunk:
                    on_chunk(len(buffer))
                buffer = []
        if buffer:
            copy.write(("\n".join(buffer) + "\n").encode())
            if on_chunk:
                on_chunk(len(buffer))


def copy_rows(conn: Conn, table: str, columns: Sequence[str],
              rows: Iterable[tuple[Any, ...]]) -> None:
    copy_lines(conn, table, columns, ("\t".join(map(_text, row)) for row in rows))


def set_spine_triggers(conn: Conn, enabled: bool) -> None:
    """Enable or disable every user trigger on spine_events (the package's)."""
    verb = "enable" if enabled else "disable"
    conn.execute(f"alter table connection_summary.spine_events {verb} trigger user".encode())


def load_events(conn: Conn, lines: list[tuple[int, str]], transaction_events: int,
                on_chunk: Callable[[int], None] | None = None, presorted: bool = False,
                last: Callable[[], None] | None = None) -> None:
    """COPY events in time order, one transaction per `transaction_events`; `last` runs
    inside the last transaction."""
    if not presorted:
        lines.sort(key=lambda item: item[0])
    step = max(1, transaction_events)
    for start in range(0, max(1, len(lines)), step):
        part = lines[start:start + step]
        with conn.transaction():
            copy_lines(conn, "spine_events", EVENT_COLUMNS, (line for _, line in part),
                       on_chunk)
            if last is not None and start + step >= len(lines):
                last()


@dataclass
class Prepared:
    """A batch of owners made ready for loading: events sorted by time, other rows."""

    lines: list[tuple[int, str]]
    side: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]
    counts: EventCounts


def prepare_owners(owners: Sequence[OwnerGen], mean_per_connection: float,
                   jitter: float = 0.5) -> Prepared:
    counts = EventCounts()
    lines: list[tuple[int, str]] = []
    for owner in owners:
        lines.extend(owner.event_lines(mean_per_connection, counts, jitter))
    lines.sort(key=lambda item: item[0])
    side: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {}
    for owner in owners:
        for table, (columns, rows) in owner.side_rows().items():
            side.setdefault(table, (columns, []))[1].extend(rows)
    return Prepared(lines, side, counts)


def write_prepared(conn: Conn, batch: Prepared, transaction_events: int | None = None,
                   progress: Progress | None = None) -> None:
    """COPY a prepared batch, one transaction per `transaction_events` events (None: one
    for the whole batch); the connections and operational rows go in the last one."""

    def side_tables() -> None:
        for table, (columns, rows) in batch.side.items():
            if rows:
                copy_rows(conn, table, columns, rows)

    load_events(conn, batch.lines, transaction_events or len(batch.lines),
                progress.advance if progress else None, presorted=True, last=side_tables)


def load_owners(conn: Conn, owners: Sequence[OwnerGen], mean_per_connection: float,
                *, transaction_events: int | None = None, progress: Progress | None = None,
                jitter: float = 0.5) -> EventCounts:
    """Load owners: their events (time-sorted) and their other rows."""
    batch = prepare_owners(owners, mean_per_connection, jitter)
    write_prepared(conn, batch, transaction_events, progress)
    return batch.counts


def grow_owners(conn: Conn, owners: Sequence[OwnerGen], mean_per_connection: float,
                *, transaction_events: int = 10_000, jitter: float = 0.5) -> EventCounts:
    """Older runs for the owners' existing connections (events only)."""
    counts = EventCounts()
    lines: list[tuple[int, str]] = []
    for owner in owners:
        lines.extend(owner.event_lines(mean_per_connection, counts, jitter))
    load_events(conn, lines, transaction_events)
    return counts


@dataclass
class GenerateStats:
    owners: int = 0
    connections: int = 0
    events: int = 0
    runs: int = 0
    load_seconds: float = 0.0
    rebuild_seconds: float = 0.0
    vacuum_seconds: float = 0.0
    triggers: bool = False

    @property
    def seconds(self) -> float:
        return self.load_seconds + self.rebuild_seconds + self.vacuum_seconds


def owner_ids(scale: Scale) -> list[tuple[str, int]]:
    """(owner id, connections) of the main data set, in load order."""
    ids = [(typical_owner(i), scale.connections_per_owner) for i in range(scale.owners)]
    ids += [(large_owner(i), n) for i, n in enumerate(scale.large_owners)]
    return ids


def generate(conninfo: str, scale: Scale = FULL, *, triggers: bool = False,
             batch_events: int = 250_000, progress: bool = True) -> GenerateStats:
    """Load the main data set into a migrated database with no data of its own.

    A worker thread makes the next batch of owners (Python) while this one is being
    COPied (the server), so that both cores work."""
    stats = GenerateStats(triggers=triggers)
    streams = manifest_streams(scale.seed)
    keys = manifest_profile_keys(scale.seed)
    mean = scale.events_per_connection
    batches: list[list[tuple[str, int]]] = [[]]
    estimate = 0.0
    for owner_id, n in owner_ids(scale):
        if estimate >= batch_events:
            batches.append([])
            estimate = 0.0
        batches[-1].append((owner_id, n))
        estimate += n * mean
        stats.owners += 1
        stats.connections += n

    def make(batch: list[tuple[str, int]]) -> Prepared:
        return prepare_owners([OwnerGen(owner_id, n, scale.seed, streams, keys)
                               for owner_id, n in batch], mean)

    with psycopg.connect(conninfo, autocommit=True) as conn:
        started = time.perf_counter()
        load_catalog(conn, scale.seed)
        if not triggers:
            set_spine_triggers(conn, False)
        try:
            bar = Progress(round(scale.events), "generate: events", progress)
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(make, batches[0])
                for index in range(len(batches)):
                    prepared = pending.result()
                    if index + 1 < len(batches):
                        pending = pool.submit(make, batches[index + 1])
                    write_prepared(conn, prepared, 10_000 if triggers else None, bar)
                    stats.events += prepared.counts.events
                    stats.runs += prepared.counts.runs
            bar.close()
        finally:
            if not triggers:
                set_spine_triggers(conn, True)
        stats.load_seconds = time.perf_counter() - started
        if not triggers:
            started = time.perf_counter()
            if progress:
                print("generate: rebuild_run_evidence() ...", file=sys.stderr, flush=True)
            conn.execute("select connection_summary.rebuild_run_evidence()")
            stats.rebuild_seconds = time.perf_counter() - started
        started = time.perf_counter()
        if progress:
            print("generate: vacuum analyze ...", file=sys.stderr, flush=True)
        conn.execute("vacuum analyze")
        conn.execute("checkpoint")
        stats.vacuum_seconds = time.perf_counter() - started
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="200 owners, 200,000 events")
    parser.add_argument("--owners", type=int, help="typical owners (default 2,000)")
    parser.add_argument("--events", type=int, help="events in all (default 5,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--with-triggers", action="store_true",
                        help="load through the package's triggers instead of rebuilding once")
    parser.add_argument("--dsn", help="a database to load into (default: DATABASE_URL's "
                        "server or a private one, in a throw-away database)")
    args = parser.parse_args(argv)
    base = SMALL if args.small else FULL
    scale = Scale(owners=args.owners if args.owners is not None else base.owners,
                  connections_per_owner=base.connections_per_owner,
                  large_owners=base.large_owners,
                  events=args.events if args.events is not None else base.events,
                  seed=args.seed)
    from connection_summary import migrate

    if args.dsn:
        migrate(args.dsn)
        stats = generate(args.dsn, scale, triggers=args.with_triggers)
    else:
        from bench.suite import scratch_database

        with scratch_database("cs_bench_generate") as (conninfo, _):
            migrate(conninfo)
            stats = generate(conninfo, scale, triggers=args.with_triggers)
    print(f"{stats.owners:,} owners, {stats.connections:,} connections, {stats.events:,} events, "
          f"{stats.runs:,} runs; load {stats.load_seconds:.1f} s"
          + (" (triggers on)" if stats.triggers else
             f" + rebuild_run_evidence() {stats.rebuild_seconds:.1f} s")
          + f" + vacuum analyze {stats.vacuum_seconds:.1f} s = {stats.seconds:.1f} s"
          + f" on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
