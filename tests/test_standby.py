"""Reads on a hot standby (issue 11, item 1; docs/scale-out.md).

A real streaming replica of the session's test server, on this machine: a
physical base backup (`pg_basebackup -R -X stream`) started as a hot standby
with the primary's own binaries (the `BINDIR` of the running server, so the
embedded PostgreSQL 18 copy localpg made, or CONNECTION_SUMMARY_PG_BIN's) and
as the user that owns the primary's data directory (localpg runs the server as
an unprivileged user when we are root; otherwise as ourselves). It listens
only on a socket in its own temporary directory, on a port found free, and is
stopped and deleted when the module ends, whatever happened.

On the primary: a database migrated and loaded with the demo data after the
replica is up, then new events, a schedule change, a new connection. Once the
standby has replayed them (pg_last_wal_replay_lsn() on the standby reaches the
primary's pg_current_wal_lsn(), with a timeout), every read function and both
Python clients return on the standby exactly what they return on the primary.
A standby raises 25006 on any write, so reads that succeed there wrote nothing.

A missing pg_basebackup, a remote server (DATABASE_URL on another machine) or a
primary not configured for replication fails these tests; they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bench.scale import Standby, catch_up, flushed_lsn, hot_standby, replayed_past, wait_for

import connection_summary
from connection_summary import AsyncClient, Client, ConnectionSummaryError, migrate

from .conftest import Server, create_database, drop_database

pytestmark = pytest.mark.slow

DEMO_SQL = Path(connection_summary.__file__).with_name("demo.sql")
OWNERS = ("alice", "bob")
UTC_SESSION = "-c TimeZone=UTC"

Conn = psycopg.Connection[tuple[Any, ...]]


def _one(conninfo: str, query: str, params: Any = None) -> Any:
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture(scope="module")
def standby(server: Server) -> Iterator[Standby]:
    """A streaming hot standby of the test server (bench.scale.hot_standby: the primary's
    BINDIR, as its data directory's owner, on a private socket), stopped and deleted
    afterwards."""
    with hot_standby(server.conninfo("postgres")) as (replica, _):
        yield replica


@dataclass(frozen=True)
class Replicated:
    """One demo database, reached on the primary and on the standby."""

    primary: str
    standby: str


@pytest.fixture(scope="module")
def replicated(server: Server, standby: Standby) -> Iterator[Replicated]:
    """A database created, migrated and loaded with the demo data on the primary after
    the standby started, replayed there."""
    name = create_database(server, prefix="cs_standby")
    primary_db = psycopg.conninfo.make_conninfo(server.conninfo(name), options=UTC_SESSION)
    try:
        migrate(primary_db)
        with psycopg.connect(primary_db, autocommit=True) as conn:
            conn.execute(DEMO_SQL.read_text().encode())
        both = Replicated(primary_db, standby.conninfo(primary_db))
        catch_up(both.primary, both.standby)
        yield both
    finally:
        drop_database(server, name)


# --- every read, as JSON -------------------------------------------------------------------------


def routes(conninfo: str, owner: str) -> list[str]:
    """Every connection id of the owner (drafts too: for_route must agree on them)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return [str(r[0]) for r in conn.execute(
            "select connector_instance_id from connection_summary.connections "
            "where owner_id = %s order by 1", [owner]).fetchall()]


def sql_reads(conninfo: str, now: datetime) -> dict[str, Any]:
    """What every read function returns, for every owner and connection, at `now`."""
    out: dict[str, Any] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        def value(query: str, **params: Any) -> Any:
            row = conn.execute(query, {"now": now, **params}).fetchone()
            assert row is not None
            return row[0]

        for owner in OWNERS:
            out[f"overview_json/{owner}"] = value(
                "select connection_summary.overview_json(p_owner_id => %(owner)s, "
                "p_now => %(now)s)", owner=owner)
            out[f"overview/{owner}"] = value(
                "select coalesce(jsonb_agg(to_jsonb(o) order by ordinality), '[]') "
                "from connection_summary.overview(p_owner_id => %(owner)s, p_now => %(now)s) "
                "with ordinality as o", owner=owner)
            pages, after = [], None
            while True:  # keyset paging, two rows a page
                page = value(
                    "select connection_summary.overview_json(p_owner_id => %(owner)s, "
                    "p_now => %(now)s, p_limit => 2, p_after => %(after)s)",
                    owner=owner, after=after)
                pages.append(page)
                if len(page) < 2:
                    break
                after = page[-1]["cursor"]
            out[f"overview pages/{owner}"] = pages
            for route in routes(conninfo, owner):
                key = f"{owner}/{route}"
                out[f"for_route/{key}"] = value(
                    "select (select to_jsonb(r) from connection_summary.for_route(p_owner_id => "
                    "%(owner)s, p_route_id => %(route)s, p_now => %(now)s) as r)",
                    owner=owner, route=route)
                out[f"for_route_json/{key}"] = value(
                    "select connection_summary.for_route_json(p_owner_id => %(owner)s, "
                    "p_route_id => %(route)s, p_now => %(now)s)", owner=owner, route=route)
                out[f"diagnostics/{key}"] = value(
                    "select connection_summary.diagnostics(p_owner_id => %(owner)s, "
                    "p_route_id => %(route)s, p_now => %(now)s, p_run_limit => 50)",
                    owner=owner, route=route)
    return out


def client_reads(client: Client, conninfo: str, now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for owner in OWNERS:
        out[f"overview/{owner}"] = [s.to_json() for s in client.overview(owner, now=now)]
        out[f"iter_overview/{owner}"] = [s.to_json() for s in client.iter_overview(
            owner, now=now, page_size=2, coalesce=False)]
        for route in routes(conninfo, owner):
            one = client.for_route(owner, route, now=now)
            diag = client.diagnostics(owner, route, now=now, run_limit=50)
            out[f"for_route/{owner}/{route}"] = None if one is None else one.to_json()
            out[f"diagnostics/{owner}/{route}"] = None if diag is None else diag.to_json()
    return out


async def async_client_reads(client: AsyncClient, conninfo: str,
                             now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for owner in OWNERS:
        out[f"overview/{owner}"] = [s.to_json() for s in await client.overview(owner, now=now)]
        out[f"iter_overview/{owner}"] = [s.to_json() async for s in client.iter_overview(
            owner, now=now, page_size=2, coalesce=False)]
        for route in routes(conninfo, owner):
            one = await client.for_route(owner, route, now=now)
            diag = await client.diagnostics(owner, route, now=now, run_limit=50)
            out[f"for_route/{owner}/{route}"] = None if one is None else one.to_json()
            out[f"diagnostics/{owner}/{route}"] = None if diag is None else diag.to_json()
    return out


def _differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as `path: left != right` lines."""
    if isinstance(left, dict) and isinstance(right, dict):
        return [line for key in sorted(left.keys() | right.keys(), key=str)
                for line in _differences(left.get(key), right.get(key), f"{path}/{key}")]
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [line for i, (a, b) in enumerate(zip(left, right, strict=True))
                for line in _differences(a, b, f"{path}[{i}]")]
    return [] if left == right else [f"{path}: {left!r} != {right!r}"]


def assert_same(on_standby: dict[str, Any], on_primary: dict[str, Any]) -> None:
    differences = _differences(on_standby, on_primary)
    assert not differences, "standby != primary:\n" + "\n".join(differences[:40])


def _in_recovery(conninfo: str) -> bool:
    return bool(_one(conninfo, "select pg_is_in_recovery()"))


def _assert_read_only_standby(both: Replicated) -> None:
    """The standby is in recovery, and refuses writes: whatever succeeds there wrote
    nothing (a write, a temporary table, an xid, LISTEN: each raises 25006)."""
    assert _in_recovery(both.standby)
    assert not _in_recovery(both.primary)
    with psycopg.connect(both.standby, autocommit=True) as conn, pytest.raises(
            psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("update connection_summary.schedules set enabled = enabled")


def _summary(reads: dict[str, Any], owner: str, route: str) -> dict[str, Any]:
    row = reads[f"for_route_json/{owner}/{route}"]
    assert isinstance(row, dict)
    return row


# --- the tests -----------------------------------------------------------------------------------


def test_every_read_function_on_the_standby_equals_the_primary(replicated: Replicated) -> None:
    both = replicated
    with psycopg.connect(both.primary) as conn:  # one transaction, as an ingest would write
        conn.execute(
            "insert into connection_summary.spine_events (owner_id, event_type, status, "
            "source_kind, source_id, run_id, occurred_at, connector_instance_id, data) values "
            "('alice', 'run.started', 'started', 'connector', 'slack', 'run-s-3', "
            " now() - interval '4 minutes', 'slack-team', '{}'), "
            "('alice', 'run.completed', 'succeeded', 'connector', 'slack', 'run-s-3', "
            " now() - interval '3 minutes', 'slack-team', '{\"known_gaps\": []}')")
        conn.execute(
            "update connection_summary.schedules set interval_seconds = 900, "
            "consecutive_failures = 0, last_error_code = null, backoff_next_run_at = null, "
            "backoff_reason_class = null, last_successful_at = now() - interval '3 minutes' "
            "where connector_instance_id = 'slack-team'")
        conn.execute(
            "insert into connection_summary.connections (connector_instance_id, owner_id, "
            "connector_id, display_name, status, source_kind, created_at) values "
            "('github-bob', 'bob', 'github', null, 'active', 'account', now())")
    waited = catch_up(both.primary, both.standby)
    print(f"replay caught up in {waited:.3f} s")
    now = datetime.now(UTC)

    on_primary, on_standby = sql_reads(both.primary, now), sql_reads(both.standby, now)
    assert_same(on_standby, on_primary)
    _assert_read_only_standby(both)
    # The writes made after the standby started are there.
    slack = _summary(on_standby, "alice", "slack-team")
    assert slack["last_run"]["run_id"] == "run-s-3"
    assert slack["schedule"]["interval_seconds"] == 900
    assert "github-bob" in [r["connection_id"] for r in on_standby["overview_json/bob"]]
    assert len(on_standby["overview_json/alice"]) == 8
    assert sum(map(len, on_standby["overview pages/alice"])) == 8


def test_python_clients_on_the_standby_equal_the_primary(replicated: Replicated) -> None:
    both = replicated
    now = datetime.now(UTC)
    # listen=False: LISTEN is refused during recovery (see the test below).
    with Client(both.primary, timeout=10, cache_ttl=60) as primary, \
            Client(both.standby, timeout=10, cache_ttl=60) as standby:
        # Different databases to the coalescing registry: no result crosses over.
        assert primary.database_identity != standby.database_identity
        on_primary = client_reads(primary, both.primary, now)
        on_standby = client_reads(standby, both.standby, now)
        assert_same(on_standby, on_primary)
        assert on_standby == client_reads(standby, both.standby, now)  # from the cache
    _assert_read_only_standby(both)


async def test_async_client_on_the_standby_equals_the_primary(replicated: Replicated) -> None:
    both = replicated
    now = datetime.now(UTC)
    async with AsyncClient(both.primary, timeout=10) as primary, \
            AsyncClient(both.standby, timeout=10) as standby:
        on_primary = await async_client_reads(primary, both.primary, now)
        on_standby = await async_client_reads(standby, both.standby, now)
    assert_same(on_standby, on_primary)
    with Client(both.standby, timeout=10) as sync:
        assert client_reads(sync, both.standby, now) == on_standby
    _assert_read_only_standby(both)


def test_target_session_attrs_routes_a_reader_to_the_standby(replicated: Replicated,
                                                              standby: Standby) -> None:
    """One conninfo listing both servers: libpq's target_session_attrs picks the standby
    for `prefer-standby` / `read-only` / `standby`, the primary for `read-write`."""
    both = replicated
    primary_info = psycopg.conninfo.conninfo_to_dict(both.primary)
    hosts = {"host": f"{primary_info['host']},{standby.socket_dir}",
             "port": f"{primary_info.get('port', 5432)},{standby.port}"}
    for attrs, standby_expected in (("prefer-standby", True), ("read-only", True),
                                    ("standby", True), ("read-write", False)):
        conninfo = psycopg.conninfo.make_conninfo(both.primary, **hosts,
                                                  target_session_attrs=attrs)
        assert _in_recovery(conninfo) is standby_expected, attrs
        with Client(conninfo, timeout=10) as client:
            assert (f"host={standby.socket_dir} " in client.database_identity) is standby_expected
            assert client.overview("alice")


async def test_target_session_attrs_routes_an_async_reader(replicated: Replicated,
                                                          standby: Standby) -> None:
    primary_info = psycopg.conninfo.conninfo_to_dict(replicated.primary)
    conninfo = psycopg.conninfo.make_conninfo(
        replicated.primary, host=f"{primary_info['host']},{standby.socket_dir}",
        port=f"{primary_info.get('port', 5432)},{standby.port}",
        target_session_attrs="prefer-standby")
    async with AsyncClient(conninfo, timeout=10) as client:
        assert f"host={standby.socket_dir} " in (client.database_identity or "")
        assert await client.overview("alice")


def test_client_listen_is_refused_on_a_standby(replicated: Replicated) -> None:
    """LISTEN is not allowed during recovery (25006), and a standby never receives the
    primary's NOTIFYs anyway. `listen=True` against a standby fails at start, with the
    server's message; the listener would have to connect to the primary."""
    both = replicated
    with pytest.raises(ConnectionSummaryError, match="cannot execute LISTEN during recovery"):
        Client(both.standby, timeout=10, listen=True).close()


async def test_async_client_listen_is_refused_on_a_standby(replicated: Replicated) -> None:
    with pytest.raises(ConnectionSummaryError, match="cannot execute LISTEN during recovery"):
        await (await AsyncClient(replicated.standby, timeout=10, listen=True).open()).close()


def test_a_write_shows_on_the_standby_whole_once_replayed(replicated: Replicated) -> None:
    """Read-your-writes lag: until the standby has replayed a commit it shows the state
    before it, with every stored row of the read model matching it; after, exactly the
    primary's state. The standby has the transaction's event rows well before its commit
    (its WAL is streamed as it is written), yet never shows them half-maintained."""
    both = replicated
    now = datetime.now(UTC) + timedelta(seconds=1)
    before = sql_reads(both.primary, now)
    assert sql_reads(both.standby, now) == before
    with psycopg.connect(both.primary) as writer:
        writer.execute(
            "insert into connection_summary.spine_events (owner_id, event_type, status, "
            "source_kind, source_id, run_id, occurred_at, connector_instance_id, data) values "
            "('bob', 'run.started', 'started', 'connector', 'gmail', 'run-gb-3', "
            " now() - interval '2 minutes', 'gmail-bob', '{}'), "
            "('bob', 'run.completed', 'succeeded', 'connector', 'gmail', 'run-gb-3', "
            " now() - interval '1 minute', 'gmail-bob', '{\"known_gaps\": []}')")
        writer.execute(
            "update connection_summary.schedules set interval_seconds = 7200, "
            "consecutive_failures = 0, last_error_code = null "
            "where connector_instance_id = 'gmail-bob'")
        # The uncommitted rows reach the standby and are replayed there: invisible.
        catch_up(both.primary, both.standby)
        assert sql_reads(both.standby, now) == before
        writer.commit()
    # While the commit is being replayed, every read shows the state before it or
    # the state after it, whole.
    target = flushed_lsn(both.primary)
    seen: list[tuple[Any, Any]] = []

    def replayed() -> bool:
        with psycopg.connect(both.standby, autocommit=True) as conn:
            row = conn.execute(
                "select connection_summary.for_route_json(p_owner_id => 'bob', "
                "p_route_id => 'gmail-bob', p_now => %(now)s), "
                "connection_summary.diagnostics(p_owner_id => 'bob', "
                "p_route_id => 'gmail-bob', p_now => %(now)s, p_run_limit => 50)",
                {"now": now}).fetchone()
        assert row is not None
        seen.append((row[0], row[1]))
        return replayed_past(both.standby, target)

    waited = wait_for("the standby to replay the commit", replayed)
    print(f"the commit was replayed {waited:.3f} s after it returned ({len(seen)} reads)")
    after = sql_reads(both.standby, now)
    assert after == sql_reads(both.primary, now)
    assert after != before
    states = [(state["for_route_json/bob/gmail-bob"], state["diagnostics/bob/gmail-bob"])
              for state in (before, after)]
    assert all(observed in states for observed in seen), seen
    bob = _summary(after, "bob", "gmail-bob")
    assert bob["last_run"]["run_id"] == "run-gb-3"
    assert bob["last_successful_run"]["run_id"] == "run-gb-3"
    assert bob["schedule"]["interval_seconds"] == 7200
