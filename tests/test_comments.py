"""Every object of the schema says what it is for: a COMMENT on the schema, every
table and view, every column, every composite type and its attributes, and
every function, aggregate and procedure (`\\d+` and `\\df+` in psql show them).

Tables, columns and types are commented by migration 0007 and sql/065 (the
bootstrap; tests/test_migrations.py proves the two paths identical, comments
included), functions and views by their own routine file or sql/890_comments.sql.
"""

from __future__ import annotations

import psycopg

from connection_summary import migrate

SCHEMA = "connection_summary"

# One row per object of the schema that has no comment, named as COMMENT ON names it.
UNCOMMENTED = """
with ns as (select oid from pg_namespace where nspname = %(schema)s)
select object from (
    select 'schema ' || n.nspname as object
    from pg_namespace as n
    where n.oid = (select oid from ns) and obj_description(n.oid, 'pg_namespace') is null
    union all
    select case c.relkind when 'v' then 'view ' when 'm' then 'materialized view '
                          when 'f' then 'foreign table ' else 'table ' end || c.oid::regclass
    from pg_class as c
    where c.relnamespace = (select oid from ns) and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and obj_description(c.oid, 'pg_class') is null
    union all
    select 'type ' || t.oid::regtype
    from pg_type as t
    left join pg_class as c on t.typrelid = c.oid
    where t.typnamespace = (select oid from ns)
      and (t.typtype in ('e', 'd', 'r', 'm') or c.relkind = 'c')  -- not a table's row type
      and obj_description(t.oid, 'pg_type') is null
    union all
    select 'column ' || c.oid::regclass || '.' || quote_ident(a.attname)
    from pg_attribute as a
    inner join pg_class as c on a.attrelid = c.oid
    where c.relnamespace = (select oid from ns) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'c')
      and a.attnum > 0 and not a.attisdropped
      -- A partition's columns are its parent's, commented there.
      and not c.relispartition
      and col_description(c.oid, a.attnum) is null
    union all
    select case p.prokind when 'a' then 'aggregate ' when 'p' then 'procedure '
                          else 'function ' end || p.oid::regprocedure
    from pg_proc as p
    where p.pronamespace = (select oid from ns) and obj_description(p.oid, 'pg_proc') is null
) as missing
order by object collate "C"
"""

COUNTS = """
select
    (select count(*) from pg_class where relnamespace = %(schema)s::regnamespace
     and relkind in ('r', 'p', 'v', 'm'))::int,
    (select count(*) from pg_proc where pronamespace = %(schema)s::regnamespace)::int,
    (select count(*) from pg_class where relnamespace = %(schema)s::regnamespace
     and relkind = 'c')::int
"""


def test_every_object_of_the_schema_has_a_comment(empty_db: str) -> None:
    migrate(empty_db)
    with psycopg.connect(empty_db) as conn:
        row = conn.execute(COUNTS, {"schema": SCHEMA}).fetchone()
        missing = [str(r[0]) for r in conn.execute(UNCOMMENTED, {"schema": SCHEMA}).fetchall()]
    assert row is not None
    relations, routines, types = row
    # The query sees the schema.
    assert relations >= 15, row
    assert routines >= 30, row
    assert types >= 2, row
    assert not missing, (
        f"{len(missing)} object(s) of the schema have no COMMENT (tables, columns and types: "
        "a new migration and sql/0NN; functions and views: their routine file or "
        "sql/890_comments.sql):\n  " + "\n  ".join(missing))


def test_the_check_finds_a_missing_comment(empty_db: str) -> None:
    """A control: the query reports what lacks a comment, by the name COMMENT ON takes."""
    migrate(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        before = {str(r[0]) for r in conn.execute(UNCOMMENTED, {"schema": SCHEMA}).fetchall()}
        conn.execute("comment on column connection_summary.connections.status is null")
        conn.execute("comment on function connection_summary.overview("
                     "text, timestamptz, integer, text) is null")
        conn.execute("comment on type connection_summary.summary is null")
        after = [str(r[0]) for r in conn.execute(UNCOMMENTED, {"schema": SCHEMA}).fetchall()]
    assert [m for m in after if m not in before] == [
        "column connection_summary.connections.status",
        "function connection_summary.overview(text,timestamp with time zone,integer,text)",
        "type connection_summary.summary",
    ]
