"""Name resolution cannot be hijacked (docs/security.md, threat "planted operator").

A role that may create objects in a schema on a caller's search_path plants
operators, functions and aggregates for the argument types the package
compares, combines and aggregates, in a schema searched BEFORE pg_catalog.
Every read function (as a superuser, as a reader, as a confined reader), the
write path (a writer's INSERT and COPY, folded at commit), the rebuild and the
notification switch then run with that search_path: none of the planted
objects may run. A control proves that the same objects do run for an
ordinary query with that search_path, so the test can fail.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from .seed import ALICE, ALICE_CONNECTIONS, BOB, NOW, seed

EVIL_PATH = "evil, pg_catalog, public"

# (operator, left type, right type, result type)
_COMPARED = ["text", "timestamptz", "numeric", "integer", "bigint", "boolean", "jsonb",
             "interval"]
OPERATORS: list[tuple[str, str, str, str]] = [
    *((op, t, t, "boolean") for op in ("=", "<>", "<", ">", "<=", ">=") for t in _COMPARED),
    *((op, left, right, "boolean") for op in ("=", "<", ">", "<=", ">=")
      for left, right in (("numeric", "integer"), ("integer", "numeric"), ("bigint", "integer"),
                          ("integer", "bigint"), ("numeric", "bigint"))),
    ("-", "timestamptz", "timestamptz", "interval"),
    ("+", "timestamptz", "interval", "timestamptz"),
    ("-", "timestamptz", "interval", "timestamptz"),
    ("*", "interval", "bigint", "interval"),
    ("*", "interval", "integer", "interval"),
    ("+", "bigint", "bigint", "bigint"),
    ("+", "integer", "integer", "integer"),
    ("+", "numeric", "numeric", "numeric"),
    ("*", "numeric", "integer", "numeric"),
    ("/", "integer", "integer", "integer"),
    ("||", "text", "text", "text"),
    ("||", "jsonb", "jsonb", "jsonb"),
    ("->", "jsonb", "text", "jsonb"),
    ("->", "jsonb", "integer", "jsonb"),
    ("->>", "jsonb", "text", "text"),
    ("->>", "jsonb", "integer", "text"),
    ("#>", "jsonb", "text[]", "jsonb"),
    ("#>>", "jsonb", "text[]", "text"),
    ("~*", "text", "text", "boolean"),
    ("@>", "jsonb", "jsonb", "boolean"),
    ("=", "text[]", "text[]", "boolean"),
]

# (function, argument types, result type); "setof" results are set-returning.
FUNCTIONS: list[tuple[str, tuple[str, ...], str]] = [
    ("length", ("text",), "integer"),
    ("octet_length", ("text",), "integer"),
    ("left", ("text", "integer"), "text"),
    ("md5", ("text",), "text"),
    ("sha256", ("bytea",), "bytea"),
    ("encode", ("bytea", "text"), "text"),
    ("decode", ("text", "text"), "bytea"),
    ("convert_to", ("text", "text"), "bytea"),
    ("convert_from", ("bytea", "text"), "text"),
    ("translate", ("text", "text", "text"), "text"),
    ("rpad", ("text", "integer", "text"), "text"),
    ("replace", ("text", "text", "text"), "text"),
    ("starts_with", ("text", "text"), "boolean"),
    ("string_to_array", ("text", "text"), "text[]"),
    ("array_length", ("text[]", "integer"), "integer"),
    ("jsonb_typeof", ("jsonb",), "text"),
    ("jsonb_array_length", ("jsonb",), "integer"),
    ("jsonb_array_elements", ("jsonb",), "setof jsonb"),
    ("jsonb_path_exists", ("jsonb", "jsonpath", "jsonb", "boolean"), "boolean"),
    ("jsonb_build_array", ("text", "text", "text", "text"), "jsonb"),
    ("jsonb_build_object", ("text", "text"), "jsonb"),
    ("to_jsonb", ("text",), "jsonb"),
    ("to_jsonb", ("timestamptz",), "jsonb"),
    ("hashtext", ("text",), "integer"),
    ("pg_advisory_xact_lock", ("integer", "integer"), "void"),
    ("to_char", ("timestamp", "text"), "text"),
    ("now", (), "timestamptz"),
    ("current_setting", ("text",), "text"),
    ("pg_has_role", ("text", "oid", "text"), "boolean"),
    ("pg_notify", ("text", "text"), "void"),
    ("lower", ("text",), "text"),
    ("format", ("text", "text"), "text"),
    ("isfinite", ("timestamptz",), "boolean"),
    ("make_interval", ("integer", "integer", "integer", "integer", "integer", "integer",
                       "double precision"), "interval"),
]

# (aggregate, argument type, state type)
AGGREGATES: list[tuple[str, str, str]] = [
    ("sum", "bigint", "numeric"),
    ("min", "timestamptz", "timestamptz"),
    ("max", "timestamptz", "timestamptz"),
    ("bool_or", "boolean", "boolean"),
    ("bool_and", "boolean", "boolean"),
    ("array_agg", "text", "text[]"),
    ("jsonb_agg", "jsonb", "jsonb"),
    ("count", "text", "bigint"),
]


def _plant(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """Create the planted objects in schema evil; return how many."""
    conn.execute("create schema evil")
    conn.execute("grant usage, create on schema evil to public")
    conn.execute("create sequence evil.hits")
    conn.execute("grant usage, select on sequence evil.hits to public")
    counter = itertools.count()
    planted = 0
    body = "begin perform pg_catalog.nextval('evil.hits'); return null; end"
    for op, left, right, result in OPERATORS:
        fn = f"evil.op_{next(counter)}"
        conn.execute(f"create function {fn}({left}, {right}) returns {result} "
                     f"language plpgsql as $$ {body} $$")
        conn.execute(f"create operator evil.{op} (leftarg = {left}, rightarg = {right}, "
                     f"function = {fn})")
        planted += 1
    for name, args, result in FUNCTIONS:
        srf = result.startswith("setof ")
        text = ("begin perform pg_catalog.nextval('evil.hits'); return; end" if srf
                else body.replace("return null", "return null" if result != "void" else "return"))
        conn.execute(f"create function evil.{name}({', '.join(args)}) returns {result} "
                     f"language plpgsql as $$ {text} $$")
        planted += 1
    for name, arg, state in AGGREGATES:
        fn = f"evil.agg_{next(counter)}"
        conn.execute(f"create function {fn}({state}, {arg}) returns {state} "
                     f"language plpgsql as $$ {body} $$")
        conn.execute(f"create aggregate evil.{name}({arg}) (sfunc = {fn}, stype = {state})")
        planted += 1
    return planted


def _hits(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute("select last_value, is_called from evil.hits").fetchone()
    assert row is not None
    last_value, is_called = row
    return int(str(last_value)) if is_called else 0


@pytest.fixture
def attacked_db(db: str) -> Iterator[tuple[str, list[str]]]:
    """The seeded database with the planted schema and three roles of the package."""
    seed(db)
    suffix = db.split("dbname=")[1].split()[0][-12:]
    roles = [f"cs_reader_{suffix}", f"cs_alice_{suffix}", f"cs_writer_{suffix}"]
    with psycopg.connect(db, autocommit=True) as conn:
        assert _plant(conn) > 100
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(roles[0])))
        conn.execute(sql.SQL("grant connection_summary_reader to {}").format(
            sql.Identifier(roles[0])))
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(roles[1])))
        conn.execute(sql.SQL("grant connection_summary_confined_reader to {}").format(
            sql.Identifier(roles[1])))
        conn.execute("insert into connection_summary.reader_scopes values (%s, %s)",
                     (roles[1], ALICE))
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(roles[2])))
        conn.execute(sql.SQL("grant connection_summary_writer to {}").format(
            sql.Identifier(roles[2])))
    try:
        yield db, roles
    finally:
        with psycopg.connect(db, autocommit=True) as conn:
            for role in roles:
                conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def _session(conninfo: str, role: str | None) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(conninfo, autocommit=True)
    if role:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
    conn.execute(sql.SQL("set search_path = {}").format(sql.SQL(EVIL_PATH)))
    return conn


# The callers' own statements use no operator or function, so that only what
# runs inside the package's functions can hit a planted object.
READS = [
    ("select connection_id from connection_summary.overview(p_owner_id => %(o)s, "
     "p_now => %(n)s)", "overview"),
    ("select connection_id from connection_summary.overview(p_owner_id => %(o)s, "
     "p_now => %(n)s, p_limit => 2)", "overview, paged"),
    ("select connection_summary.overview_json(p_owner_id => %(o)s, p_now => %(n)s)",
     "overview_json"),
    ("select connection_id from connection_summary.for_route(p_owner_id => %(o)s, "
     "p_route_id => %(r)s, p_now => %(n)s)", "for_route"),
    ("select connection_summary.for_route_json(p_owner_id => %(o)s, p_route_id => %(r)s, "
     "p_now => %(n)s)", "for_route_json"),
    ("select connection_summary.diagnostics(p_owner_id => %(o)s, p_route_id => %(r)s, "
     "p_now => %(n)s)", "diagnostics"),
]


def test_planted_objects_run_for_an_ordinary_query(attacked_db: tuple[str, list[str]]) -> None:
    """The control: with this search_path the planted objects do win resolution."""
    db, roles = attacked_db
    with _session(db, roles[0]) as conn:
        before = _hits(conn)
        conn.execute("select 'a'::text = 'b'::text, length('x'::text), "
                     "now() - '2020-01-01'::timestamptz")
        assert _hits(conn) - before >= 3


@pytest.mark.parametrize("who", ["superuser", "reader", "confined reader"])
def test_no_planted_object_runs_in_a_read(attacked_db: tuple[str, list[str]], who: str) -> None:
    db, roles = attacked_db
    role = {"superuser": None, "reader": roles[0], "confined reader": roles[1]}[who]
    with _session(db, role) as conn:
        before = _hits(conn)
        for route in ALICE_CONNECTIONS:
            for query, name in READS:
                rows = conn.execute(query, {"o": ALICE, "r": route, "n": NOW}).fetchall()
                assert rows, f"{name} for {route} returned no row"
                assert rows[0][0], f"{name} for {route} returned NULL"
        if who != "confined reader":
            rows = conn.execute(READS[0][0], {"o": BOB, "n": NOW}).fetchall()
            assert len(rows) == 2
        assert _hits(conn) == before, f"a planted object ran inside a read made by the {who}"


def test_no_planted_object_runs_in_the_write_path(attacked_db: tuple[str, list[str]]) -> None:
    db, roles = attacked_db
    insert = ("insert into connection_summary.spine_events (owner_id, event_type, status, "
              "source_kind, source_id, run_id, occurred_at, connector_instance_id, data) "
              "values (%s, %s, %s, 'connector', %s, %s, %s, %s, %s)")
    with _session(db, roles[2]) as conn:
        before = _hits(conn)
        with conn.transaction():
            conn.execute(insert, (ALICE, "run.started", "started", "mail", "evil-r1", NOW,
                                  "mail-a1", "{}"))
            conn.execute(insert, (BOB, "run.failed", "failed", "chase", "evil-r2", NOW,
                                  None, '{"reason": "token expired", "connection_id": "chase-b1"}'))
        with conn.cursor() as cur, cur.copy(
            "copy connection_summary.spine_events (owner_id, event_type, status, source_kind, "
            "source_id, run_id, occurred_at, data) from stdin"
        ) as copy:
            copy.write_row((ALICE, "run.browser_surface_leased", "leased", "connector", "bank",
                            "evil-r3", NOW, '{"browser_surface": {'
                            '"browser_surface_profile_key": "bankweb:bank-a1"}}'))
            copy.write_row((ALICE, "run.completed", "succeeded", "connector", "bank", "evil-r3",
                            NOW, "{}"))
        conn.execute("update connection_summary.schedules set enabled = enabled")
        assert _hits(conn) == before, "a planted object ran in the write path"
    with _session(db, None) as conn:
        before = _hits(conn)
        runs = {row[0] for row in conn.execute(
            "select run_id from connection_summary.run_evidence").fetchall()}
        assert {"evil-r1", "evil-r2", "evil-r3"} <= runs, "the writes were not folded"
        conn.execute("select connection_summary.rebuild_run_evidence()")
        conn.execute("select connection_summary.set_change_notifications(p_enabled => true)")
        with conn.transaction():
            conn.execute(insert, (ALICE, "run.completed", "succeeded", "mail", "evil-r1", NOW,
                                  "mail-a1", "{}"))
        conn.execute("select connection_summary.set_change_notifications(p_enabled => false)")
        assert _hits(conn) == before, "a planted object ran in rebuild or notifications"
