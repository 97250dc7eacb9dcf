"""Fuzzed owner ids, route ids and cursors against the real read functions.

Whatever a caller sends, the answer is one of: rows of that owner only, no
rows, or InvalidArgument (SQLSTATE 22023 and friends) -- never another owner's
data, never an unmapped database error.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connection_summary import Client, InvalidArgument

from .conftest import Server, create_database, drop_database
from .seed import ALICE, ALICE_CONNECTIONS, BOB, BOB_CONNECTIONS, NOW, seed

# Any Python text, including what PostgreSQL cannot store (NUL, lone surrogates),
# and ids that look like real ones.
_TEXT = st.text(max_size=300)
_IDS = st.one_of(
    _TEXT,
    st.sampled_from([*ALICE_CONNECTIONS, *BOB_CONNECTIONS, "mail", "chase", "bank", "mail-draft",
                     "", " ", "%", "_", "' or 1=1 --", "x" * 256, "x" * 257]),
)
_FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def seeded_db(server: Server, template_db: str) -> Iterator[str]:
    name = create_database(server, template=template_db)
    conninfo = server.conninfo(name)
    seed(conninfo)
    try:
        yield conninfo
    finally:
        drop_database(server, name)


@pytest.fixture(scope="module")
def seeded_client(seeded_db: str) -> Iterator[Client]:
    with Client(seeded_db, timeout=10) as client:
        yield client


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _owner_of_every_row(rows: object) -> set[str]:
    assert isinstance(rows, list)
    return {row.owner_id for row in rows}


@_FUZZ
@given(route=_IDS)
def test_any_route_id_is_alices_row_none_or_invalid(seeded_client: Client, route: str) -> None:
    try:
        row = seeded_client.for_route(ALICE, route, now=NOW)
    except InvalidArgument:
        assert not _storable(route) or route == "" or len(route) > 256
        return
    assert 0 < len(route) <= 256
    assert _storable(route)
    if row is not None:
        assert row.owner_id == ALICE
        assert row.connection_id in ALICE_CONNECTIONS
        assert row.status != "draft"


@_FUZZ
@given(owner=_IDS)
def test_any_owner_id_sees_only_its_own_rows(seeded_client: Client, owner: str) -> None:
    try:
        rows = seeded_client.overview(owner, now=NOW, coalesce=False)
    except InvalidArgument:
        assert not _storable(owner) or owner == "" or len(owner) > 256
        return
    assert _owner_of_every_row(rows) <= {owner}
    if owner not in (ALICE, BOB):
        assert rows == []


def _cursor_variants(real: str) -> st.SearchStrategy[str]:
    head, payload, check = real.split(".")
    position = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(
        json.dumps([position[0], position[1] + 1, position[2]]).encode()).decode().rstrip("=")
    return st.one_of(
        _TEXT,
        st.just(f"{head}.{forged}.{check}"),           # moved position, old check
        st.just(f"{head}.{payload}.{check[::-1]}"),    # altered check
        st.just(f"v2.{payload}.{check}"),              # unknown version
        st.just(f"{head}.{payload}"),                  # truncated
        st.just(f"{head}.{payload}.{check}.extra"),
        st.builds(lambda junk: f"{head}.{junk}.{check}", _TEXT),
    )


def test_cursors_other_than_issued_ones_are_invalid(seeded_client: Client) -> None:
    page = seeded_client.overview(ALICE, now=NOW, limit=2)
    real = page[-1].cursor
    assert real is not None

    @_FUZZ
    @given(cursor=_cursor_variants(real))
    def check(cursor: str) -> None:
        if cursor == real:
            return
        with pytest.raises(InvalidArgument):
            seeded_client.overview(ALICE, now=NOW, limit=2, after=cursor, coalesce=False)

    check()
    # The genuine cursor continues alice's overview, and only alice's.
    rest = seeded_client.overview(ALICE, now=NOW, after=real)
    assert [r.connection_id for r in rest] == ALICE_CONNECTIONS[2:]
    with pytest.raises(InvalidArgument, match="another owner"):
        seeded_client.overview(BOB, now=NOW, after=real)


def test_sql_rejects_what_the_client_would_have_caught(seeded_db: str) -> None:
    """The SQL is the source of truth: bad input sent past the wrapper is still 22023."""
    with psycopg.connect(seeded_db) as conn:
        for statement in (
            "select * from connection_summary.for_route(p_owner_id => 'alice', p_route_id => '')",
            "select * from connection_summary.overview(p_owner_id => '')",
            "select * from connection_summary.overview(p_owner_id => 'alice', p_limit => 0)",
            "select * from connection_summary.overview(p_owner_id => 'alice', p_after => 'v1.x.y')",
            "select connection_summary.diagnostics(p_owner_id => 'alice', p_route_id => 'mail-a1',"
            " p_run_limit => 0)",
        ):
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                conn.execute(statement)
            conn.rollback()
