"""Client and AsyncClient against a real, migrated database: results, paging, errors."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from connection_summary import (
    AsyncClient,
    Backoff,
    BrowserSurface,
    Client,
    ConnectionSummaryError,
    DatabaseUnavailable,
    Diagnostics,
    HealthAxes,
    HealthBadges,
    InvalidArgument,
    RequiredAction,
    RetainedBytes,
    SchemaTooNew,
    SchemaTooOld,
    StreamRecord,
    Summary,
)
from connection_summary.models import format_timestamp, parse_timestamp

from .conftest import Server, create_database, drop_database
from .seed import ALICE, ALICE_CONNECTIONS, BOB, BOB_CONNECTIONS, NOW, seed


@pytest.fixture
def seeded(db: str) -> str:
    seed(db)
    return db


@pytest.fixture
def client(seeded: str) -> Iterator[Client]:
    with Client(seeded, timeout=10) as c:
        yield c


@pytest.fixture
async def aclient(seeded: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(seeded, timeout=10) as c:
        yield c


def _json(conninfo: str, query: str, params: dict[str, Any]) -> Any:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _summary_columns(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "select attname from pg_attribute "
            "where attrelid = 'connection_summary.summary'::regclass and attnum > 0 "
            "and not attisdropped order by attnum").fetchall()
    return [str(r[0]) for r in rows]


# --- results ---------------------------------------------------------------------------------


def test_summary_keeps_every_column_of_the_composite_type(seeded: str) -> None:
    fields = [f.name for f in dataclasses.fields(Summary) if not f.name.startswith("_")]
    assert fields == _summary_columns(seeded)


def test_overview_lists_the_owners_non_draft_connections_in_order(client: Client) -> None:
    rows = client.overview(ALICE, now=NOW)
    assert [r.connection_id for r in rows] == ALICE_CONNECTIONS
    assert all(isinstance(r, Summary) for r in rows)
    assert {r.owner_id for r in rows} == {ALICE}
    assert {r.depth for r in rows} == {"overview"}
    assert {r.observed_at for r in rows} == {NOW}
    assert all(r._extra == {} for r in rows)
    assert [r.connection_id for r in client.overview(BOB, now=NOW)] == BOB_CONNECTIONS
    assert client.overview("nobody", now=NOW) == []


def test_overview_rows_are_typed(client: Client) -> None:
    by_id = {r.connection_id: r for r in client.overview(ALICE, now=NOW)}
    mail = by_id["mail-a1"]
    assert mail.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert mail.streams == ("messages", "labels")
    assert mail.stream_records == (StreamRecord("messages", 10, "known"),
                                   StreamRecord("labels", 3, "known"))
    assert mail.retained_bytes == RetainedBytes(1030, 200, 0, 1230)
    assert mail.total_retained_bytes == 1230
    assert mail.schedule is not None
    assert mail.schedule.next_due_at == datetime(2026, 3, 1, 13, tzinfo=UTC)
    assert isinstance(mail.schedule.backoff, Backoff)
    assert mail.last_run is not None
    assert (mail.last_run.run_id, mail.last_run.failure_reason) == ("r-mail-2", "rate_limited")
    assert mail.last_successful_run is not None
    assert mail.last_successful_run.last_at == datetime(2026, 2, 28, 10, 5, 0, 500000, tzinfo=UTC)
    assert mail.freshness.captured_at == mail.last_successful_run.last_at
    assert isinstance(mail.connection_health.axes, HealthAxes)
    assert isinstance(mail.connection_health.badges, HealthBadges)
    assert mail.rendered_verdict.pill is not None
    assert (mail.rendered_verdict.pill.tone, mail.rendered_verdict.pill.label) in {
        ("green", "Healthy"), ("grey", "Checking"), ("amber", "Degraded"),
        ("red", "Can't collect")}
    chase = by_id["chase-a1"]
    assert chase.connection_health.next_action == "reauth"
    assert chase.rendered_verdict.required_actions is not None
    assert chase.rendered_verdict.required_actions[0] == RequiredAction(
        "reauth", chase.connection_health.reason_code)
    bank = by_id["bank-a2"]
    assert bank.last_run is not None
    assert bank.last_run.browser_surface == BrowserSurface(
        "bankweb:bank-a2", "surface_failed", "profile_locked", "lease-1")
    assert by_id["bank-a1"].last_run is None  # never a sibling's run
    assert by_id["mail-a3"].revoked_at == datetime(2026, 2, 1, tzinfo=UTC)
    assert by_id["mail-a2"].display_name == "Mail"  # no instance name: the connector's
    assert by_id["bank-a1"].connector_display_name == "bank"  # no names at all: the id


def _unknown_keys(value: object, path: str = "") -> list[str]:
    """Paths of every JSON key a model did not know (kept in `_extra`)."""
    found: list[str] = []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        extra = getattr(value, "_extra", {})
        found += [f"{path}.{key}" for key in extra]
        for f in dataclasses.fields(value):
            found += _unknown_keys(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            found += _unknown_keys(item, f"{path}[{i}]")
    return found


def test_the_models_know_every_key_the_sql_gives(client: Client) -> None:
    for owner, ids in ((ALICE, ALICE_CONNECTIONS), (BOB, BOB_CONNECTIONS)):
        assert _unknown_keys(client.overview(owner, now=NOW)) == []
        for route in ids:
            assert _unknown_keys(client.for_route(owner, route, now=NOW)) == []
            assert _unknown_keys(client.diagnostics(owner, route, now=NOW)) == []


def test_overview_round_trips_the_json_of_overview_json(seeded: str, client: Client) -> None:
    expected = _json(seeded, "select connection_summary.overview_json("
                     "p_owner_id => %(owner)s, p_now => %(now)s)", {"owner": ALICE, "now": NOW})
    assert isinstance(expected, list)
    assert len(expected) == len(ALICE_CONNECTIONS)
    from_json = [Summary.from_json(j) for j in expected]
    assert [s.to_json() for s in from_json] == expected
    # The composite rows the client reads equal the JSON rows, column for column.
    assert client.overview(ALICE, now=NOW) == from_json
    assert [s.to_json() for s in client.overview(ALICE, now=NOW)] == expected


def _datetimes(value: object) -> list[datetime]:
    if isinstance(value, datetime):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [d for f in dataclasses.fields(value) for d in _datetimes(getattr(value, f.name))]
    return [d for v in value for d in _datetimes(v)] if isinstance(value, tuple) else []


@pytest.mark.parametrize("timezone_setting", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_round_trip_in_any_session_time_zone(seeded: str, timezone_setting: str) -> None:
    """Every datetime is in timezone.utc whatever the session's TimeZone, and to_json
    writes the JSON the SQL gives in a UTC session."""
    query = ("select connection_summary.for_route_json("
             "p_owner_id => %s, p_route_id => 'mail-a1', p_now => %s)")
    with psycopg.connect(seeded, options="-c TimeZone=UTC") as conn:
        row = conn.execute(query, (ALICE, NOW)).fetchone()
    with psycopg.connect(seeded, options=f"-c TimeZone={timezone_setting}") as conn:
        zoned = conn.execute(query, (ALICE, NOW)).fetchone()
        composite = conn.cursor(row_factory=dict_row).execute(
            "select * from connection_summary.for_route("
            "p_owner_id => %s, p_route_id => 'mail-a1', p_now => %s)", (ALICE, NOW)).fetchone()
    assert row is not None
    assert zoned is not None
    assert composite is not None
    summary = Summary.from_json(row[0])
    assert summary.to_json() == row[0]
    for read in (Summary.from_row(composite), Summary.from_json(zoned[0])):
        assert read == summary
        assert read.to_json() == row[0]
        assert {d.tzinfo for d in _datetimes(read)} == {UTC}


def test_timestamps_are_written_as_postgres_writes_them(seeded: str) -> None:
    values = ["2026-01-01 00:00:00+00", "2026-01-01 00:00:00.5+00",
              "2026-06-30 23:59:59.999999+00", "2026-03-01 12:00:00.010203+00",
              "0001-01-02 00:00:00+00", "1969-12-31 23:59:59+00", "1900-01-01 00:00:00+00"]
    for zone in ["UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Amsterdam", "Etc/GMT+12",
                 "Africa/Monrovia"]:
        with psycopg.connect(seeded, options=f"-c TimeZone={zone}") as conn:
            for value in values:
                row = conn.execute("select to_jsonb(%s::timestamptz) #>> '{}', %s::timestamptz",
                                   (value, value)).fetchone()
                assert row is not None
                text, loaded = str(row[0]), row[1]
                assert isinstance(loaded, datetime)
                assert format_timestamp(parse_timestamp(text)) == text, (zone, value)
                assert parse_timestamp(text) == loaded
                if loaded.year >= 1970:
                    # Before that, Python's and the server's tz databases may disagree
                    # on local mean time offsets; the instant is the same.
                    assert format_timestamp(loaded) == text, (zone, value)
            for value in ["infinity", "-infinity"]:
                row = conn.execute("select to_jsonb(%s::timestamptz) #>> '{}'",
                                   (value,)).fetchone()
                assert row is not None
                assert format_timestamp(parse_timestamp(str(row[0]))) == row[0] == value
    # Offsets with seconds (local mean time, as in Monrovia before 1972) survive too.
    offset = timezone(-timedelta(minutes=44, seconds=30))
    assert format_timestamp(datetime(1960, 1, 1, tzinfo=offset)) == "1960-01-01T00:00:00-00:44:30"


def test_for_route_resolves_instance_and_unique_connector_ids(client: Client) -> None:
    deep = client.for_route(ALICE, "mail-a1", now=NOW)
    assert deep is not None
    assert deep.connection_id == "mail-a1"
    assert deep.depth == "deep"
    assert client.for_route(ALICE, "nope", now=NOW) is None
    assert client.for_route(ALICE, "mail-draft", now=NOW) is None  # drafts never appear
    assert client.for_route(BOB, "mail-a1", now=NOW) is None  # never another owner's data
    by_connector = client.for_route(BOB, "mail", now=NOW)
    assert by_connector is not None
    assert by_connector.connection_id == "mail-b1"
    assert client.for_route(ALICE, "mail", now=NOW) is None  # three of them: ambiguous


def test_for_route_round_trips_for_route_json(seeded: str, client: Client) -> None:
    for owner, route in [(ALICE, r) for r in ALICE_CONNECTIONS] + [(BOB, "mail")]:
        expected = _json(seeded, "select connection_summary.for_route_json(p_owner_id => %(o)s, "
                         "p_route_id => %(r)s, p_now => %(now)s)",
                         {"o": owner, "r": route, "now": NOW})
        summary = client.for_route(owner, route, now=NOW)
        assert summary is not None
        assert Summary.from_json(expected).to_json() == expected
        assert summary == Summary.from_json(expected)
        assert summary.to_json() == expected
    assert _json(seeded, "select connection_summary.for_route_json(p_owner_id => 'alice', "
                 "p_route_id => 'nope', p_now => %(now)s)", {"now": NOW}) is None


def test_diagnostics(seeded: str, client: Client) -> None:
    diag = client.diagnostics(ALICE, "mail-a1", now=NOW)
    assert isinstance(diag, Diagnostics)
    assert diag.summary.connection_id == "mail-a1"
    assert diag.summary == client.for_route(ALICE, "mail-a1", now=NOW)
    assert [r.run_id for r in diag.recent_runs] == ["r-mail-2", "r-mail-1"]  # newest first
    assert [(e.event_type, e.occurred_at) for e in diag.latest_run_events] == [
        ("run.started", datetime(2026, 3, 1, 9, tzinfo=UTC)),
        ("run.failed", datetime(2026, 3, 1, 9, 1, tzinfo=UTC))]
    assert diag.latest_run_events[1].data == {"reason": "rate_limited"}
    one = client.diagnostics(ALICE, "mail-a1", now=NOW, run_limit=1)
    assert one is not None
    assert [r.run_id for r in one.recent_runs] == ["r-mail-2"]
    for owner, route in [(ALICE, r) for r in ALICE_CONNECTIONS] + [(BOB, "mail-b1")]:
        expected = _json(seeded, "select connection_summary.diagnostics(p_owner_id => %(o)s, "
                         "p_route_id => %(r)s, p_now => %(now)s)",
                         {"o": owner, "r": route, "now": NOW})
        assert Diagnostics.from_json(expected).to_json() == expected
        got = client.diagnostics(owner, route, now=NOW)
        assert got == Diagnostics.from_json(expected)
        assert got is not None
        assert got.to_json() == expected
    assert client.diagnostics(ALICE, "nope", now=NOW) is None
    assert client.diagnostics(BOB, "mail-a1", now=NOW) is None


def test_iter_overview_pages_through_everything_with_now_pinned(client: Client) -> None:
    everything = client.overview(ALICE)
    for size in (1, 2, 5, 6, 7, 1000):
        rows = list(client.iter_overview(ALICE, page_size=size))
        assert [r.connection_id for r in rows] == [r.connection_id for r in everything]
        assert len({r.observed_at for r in rows}) == 1, size
    assert list(client.iter_overview("nobody")) == []


def test_paging_by_cursor(client: Client) -> None:
    first = client.overview(ALICE, now=NOW, limit=2)
    assert [r.connection_id for r in first] == ALICE_CONNECTIONS[:2]
    assert first[-1].cursor is not None
    rest = client.overview(ALICE, now=NOW, after=first[-1].cursor)
    assert [r.connection_id for r in rest] == ALICE_CONNECTIONS[2:]


# --- the async client ------------------------------------------------------------------------


async def test_async_client_gives_what_the_sync_client_gives(
        aclient: AsyncClient, client: Client) -> None:
    assert await aclient.overview(ALICE, now=NOW) == client.overview(ALICE, now=NOW)
    assert await aclient.for_route(ALICE, "chase-a1", now=NOW) == client.for_route(
        ALICE, "chase-a1", now=NOW)
    assert await aclient.for_route(ALICE, "nope", now=NOW) is None
    assert await aclient.diagnostics(ALICE, "mail-a1", now=NOW) == client.diagnostics(
        ALICE, "mail-a1", now=NOW)
    rows = [r async for r in aclient.iter_overview(ALICE, page_size=2)]
    assert [r.connection_id for r in rows] == ALICE_CONNECTIONS
    assert len({r.observed_at for r in rows}) == 1


async def test_async_client_opens_on_first_call(seeded: str) -> None:
    c = AsyncClient(seeded, timeout=10)
    try:
        assert c.database_identity is None
        assert [r.connection_id for r in await c.overview(BOB, now=NOW)] == BOB_CONNECTIONS
        assert c.database_identity is not None
    finally:
        await c.close()


# --- pools -----------------------------------------------------------------------------------


def test_a_pool_passed_in_is_used_and_never_closed(seeded: str) -> None:
    with ConnectionPool(seeded, min_size=1, max_size=2, open=True,
                        kwargs={"row_factory": dict_row}) as pool:
        with Client(pool) as c:
            assert [r.connection_id for r in c.overview(BOB, now=NOW)] == BOB_CONNECTIONS
        assert not pool.closed
        with pool.connection() as conn:
            conn.execute("select 1")


async def test_an_async_pool_passed_in_is_used_and_never_closed(seeded: str) -> None:
    async with AsyncConnectionPool(seeded, min_size=1, max_size=2, open=False) as pool:
        async with AsyncClient(pool) as c:
            assert [r.connection_id for r in await c.overview(BOB, now=NOW)] == BOB_CONNECTIONS
        assert not pool.closed


def test_a_client_closes_the_pool_it_created(seeded: str) -> None:
    c = Client(seeded)
    c.close()
    c.close()  # idempotent
    with pytest.raises(ConnectionSummaryError, match="closed"):
        c.overview(ALICE)


# --- errors ----------------------------------------------------------------------------------


def test_over_long_owner_is_rejected_by_the_sql(client: Client) -> None:
    with pytest.raises(InvalidArgument, match="owner"):
        client.overview("o" * 257)
    with pytest.raises(InvalidArgument, match="owner"):
        client.for_route("o" * 257, "mail-a1")


@pytest.mark.parametrize("owner", ["", None, 7])
def test_bad_owner_is_invalid_argument(client: Client, owner: Any) -> None:
    with pytest.raises(InvalidArgument):
        client.overview(owner)
    with pytest.raises(InvalidArgument):
        client.for_route(owner, "mail-a1")
    with pytest.raises(InvalidArgument):
        client.diagnostics(owner, "mail-a1")


def test_empty_route_is_invalid_argument(client: Client) -> None:
    with pytest.raises(InvalidArgument):
        client.for_route(ALICE, "")
    with pytest.raises(InvalidArgument):
        client.diagnostics(ALICE, "")


def test_over_long_route_is_rejected_by_the_sql(seeded: str, client: Client) -> None:
    # Python only checks for emptiness: this error is the SQL's 22023, mapped.
    with pytest.raises(InvalidArgument):
        client.for_route(ALICE, "x" * 100_000)
    with pytest.raises(InvalidArgument):
        client.diagnostics(ALICE, "x" * 100_000)
    with psycopg.connect(seeded) as conn, pytest.raises(psycopg.Error) as raw:
        conn.execute("select * from connection_summary.for_route("
                     "p_owner_id => 'alice', p_route_id => '')")
    assert raw.value.sqlstate == "22023"


@pytest.mark.parametrize("limit", [0, -1, 1001, True, 2.5, "10"])
def test_bad_limit_is_invalid_argument(client: Client, limit: Any) -> None:
    with pytest.raises(InvalidArgument):
        client.overview(ALICE, limit=limit)
    with pytest.raises(InvalidArgument):
        client.overview(ALICE, limit=limit, coalesce=False)
    with pytest.raises(InvalidArgument):
        list(client.iter_overview(ALICE, page_size=limit))


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_bad_limit_is_rejected_by_the_sql_too(seeded: str, limit: int) -> None:
    with psycopg.connect(seeded) as conn, pytest.raises(psycopg.Error) as raw:
        conn.execute("select * from connection_summary.overview("
                     "p_owner_id => 'alice', p_limit => %s)", (limit,))
    assert raw.value.sqlstate == "22023"


def test_bad_now_and_run_limit_are_invalid_argument(client: Client) -> None:
    with pytest.raises(InvalidArgument):
        client.overview(ALICE, now=datetime(2026, 1, 1))  # naive: ambiguous
    for run_limit in (0, -5, 1001):
        with pytest.raises(InvalidArgument):
            client.diagnostics(ALICE, "mail-a1", run_limit=run_limit)


def test_tampered_and_foreign_cursors_are_invalid_argument(client: Client) -> None:
    cursor = client.overview(ALICE, now=NOW, limit=1)[0].cursor
    assert cursor
    tampered = [cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB"), cursor[::-1],
                "not-a-cursor", "%%%", cursor + "x"]
    for bad in tampered:
        with pytest.raises(InvalidArgument):
            client.overview(ALICE, now=NOW, after=bad)
    # alice's cursor never pages through bob's data.
    with pytest.raises(InvalidArgument):
        client.overview(BOB, now=NOW, after=cursor)


async def test_async_errors_are_mapped(aclient: AsyncClient) -> None:
    with pytest.raises(InvalidArgument):
        await aclient.for_route(ALICE, "x" * 100_000)
    with pytest.raises(InvalidArgument):
        await aclient.overview(ALICE, after="not-a-cursor")
    with pytest.raises(InvalidArgument):
        await aclient.overview(ALICE, limit=0)


def test_a_dead_server_is_database_unavailable(tmp_path: Any) -> None:
    dead = f"host={tmp_path} port=1 dbname=nothing user=postgres"
    with pytest.raises(DatabaseUnavailable) as info:
        Client(dead, timeout=1)
    assert not isinstance(info.value, psycopg.Error)


async def test_a_dead_server_is_database_unavailable_async(tmp_path: Any) -> None:
    dead = f"host={tmp_path} port=1 dbname=nothing user=postgres"
    with pytest.raises(DatabaseUnavailable):
        await AsyncClient(dead, timeout=1).open()
    c = AsyncClient(dead, timeout=1)
    with pytest.raises(DatabaseUnavailable):
        await c.overview(ALICE)
    await c.close()


def test_a_database_that_goes_away_is_database_unavailable(server: Server) -> None:
    name = create_database(server, prefix="cs_gone")
    conninfo = server.conninfo(name)
    try:
        from connection_summary import migrate

        migrate(conninfo)
        c = Client(conninfo, timeout=2)
        assert c.overview(ALICE) == []
        drop_database(server, name)
        with pytest.raises(DatabaseUnavailable):
            c.overview(ALICE, coalesce=False)
        with pytest.raises(DatabaseUnavailable):
            c.for_route(ALICE, "mail-a1")
        c.close()
    finally:
        drop_database(server, name)


def test_schema_too_old(empty_db: str) -> None:
    with pytest.raises(SchemaTooOld):
        Client(empty_db, timeout=5)


async def test_schema_too_old_async(empty_db: str) -> None:
    with pytest.raises(SchemaTooOld):
        await AsyncClient(empty_db, timeout=5).open()


def test_schema_too_new(seeded: str) -> None:
    with psycopg.connect(seeded) as conn:
        conn.execute("insert into connection_summary.schema_migrations (version, name, checksum) "
                     "values (9999, 'from_the_future', 'x')")
    with pytest.raises(SchemaTooNew):
        Client(seeded, timeout=5)
    with ConnectionPool(seeded, min_size=1, open=True) as pool, pytest.raises(SchemaTooNew):
        Client(pool)


def test_every_error_is_the_packages_own(client: Client) -> None:
    calls: list[Callable[[], object]] = [
        lambda: client.overview(ALICE, after="garbage"),
        lambda: client.for_route(ALICE, "y" * 100_000),
        lambda: client.overview("", now=NOW),
    ]
    for call in calls:
        with pytest.raises(ConnectionSummaryError) as info:
            call()
        assert not isinstance(info.value, psycopg.Error)
