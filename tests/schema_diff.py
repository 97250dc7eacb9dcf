"""Compare the `connection_summary` schema of two databases.

Two parts, both must be empty for "identical":

* migra (with SQLAlchemy 2 and psycopg 3, connections made by psycopg from a
  libpq conninfo): tables, columns, constraints, indexes with their predicates,
  sequences, functions, views, composite types, triggers, table grants.
* a catalog comparison for what migra does not look at: grants on the schema,
  views, sequences, functions and types; owners; comments; column order.

Command line (exit 1 when the schemas differ):

    python -m tests.schema_diff CONNINFO_FROM CONNINFO_TARGET
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy
from migra import Migration
from sqlalchemy.pool import NullPool

SCHEMA = "connection_summary"

# One line per object fact migra does not compare. Column positions count only
# live columns, so a dropped column in a migrated table is no difference.
CATALOG_FACTS = """
with ns as (select oid from pg_namespace where nspname = %(schema)s)
select fact from (
    select format('schema %%s owner=%%s acl=%%s comment=%%L',
                  n.nspname, pg_get_userbyid(n.nspowner), n.nspacl,
                  obj_description(n.oid, 'pg_namespace')) as fact
    from pg_namespace as n where n.oid = (select oid from ns)
    union all
    select format('relation %%s kind=%%s owner=%%s acl=%%s comment=%%L',
                  c.oid::regclass, c.relkind, pg_get_userbyid(c.relowner), c.relacl,
                  obj_description(c.oid, 'pg_class'))
    from pg_class as c where c.relnamespace = (select oid from ns)
    union all
    select format('column %%s.%%s position=%%s type=%%s acl=%%s comment=%%L',
                  a.attrelid::regclass, a.attname,
                  row_number() over (partition by a.attrelid order by a.attnum),
                  format_type(a.atttypid, a.atttypmod), a.attacl,
                  col_description(a.attrelid, a.attnum))
    from pg_attribute as a
    inner join pg_class as c on a.attrelid = c.oid
    where c.relnamespace = (select oid from ns) and c.relkind not in ('i', 'I')
      and a.attnum > 0 and not a.attisdropped
    union all
    select format('routine %%s owner=%%s acl=%%s comment=%%L',
                  p.oid::regprocedure, pg_get_userbyid(p.proowner), p.proacl,
                  obj_description(p.oid, 'pg_proc'))
    from pg_proc as p where p.pronamespace = (select oid from ns)
    union all
    select format('aggregate %%s sfunc=%%s stype=%%s combine=%%s',
                  a.aggfnoid::regprocedure, a.aggtransfn::regprocedure,
                  format_type(a.aggtranstype, null), a.aggcombinefn::regproc)
    from pg_aggregate as a
    inner join pg_proc as p on a.aggfnoid = p.oid
    where p.pronamespace = (select oid from ns)
    union all
    select format('type %%s owner=%%s acl=%%s comment=%%L',
                  t.oid::regtype, pg_get_userbyid(t.typowner), t.typacl,
                  obj_description(t.oid, 'pg_type'))
    from pg_type as t where t.typnamespace = (select oid from ns)
    union all
    select format('trigger %%s on %%s enabled=%%s comment=%%L',
                  tg.tgname, tg.tgrelid::regclass, tg.tgenabled,
                  obj_description(tg.oid, 'pg_trigger'))
    from pg_trigger as tg
    inner join pg_class as c on tg.tgrelid = c.oid
    where c.relnamespace = (select oid from ns) and not tg.tgisinternal
) as facts
order by fact collate "C"
"""

# What the catalog holds, to prove migra saw every object (not an empty compare).
CATALOG_COUNTS = """
select
    (select count(*) from pg_class
     where relnamespace = %(schema)s::regnamespace and relkind in ('r', 'p'))::int as tables,
    (select count(*) from pg_class
     where relnamespace = %(schema)s::regnamespace and relkind in ('v', 'm'))::int as views,
    (select count(*) from pg_class
     where relnamespace = %(schema)s::regnamespace and relkind in ('i', 'I'))::int as indexes,
    -- migra does not inspect aggregates: CATALOG_FACTS compares those.
    (select count(*) from pg_proc
     where pronamespace = %(schema)s::regnamespace and prokind <> 'a')::int as functions,
    (select count(*) from pg_trigger as t inner join pg_class as c on t.tgrelid = c.oid
     where c.relnamespace = %(schema)s::regnamespace and not t.tgisinternal)::int as triggers
"""


@dataclass(frozen=True)
class SchemaDiff:
    migra_sql: str
    catalog_diff: list[str]
    # object counts migra inspected on the "from" side, and the catalog's counts
    inspected: dict[str, int]
    catalog: dict[str, int]
    index_definitions: dict[str, str]

    @property
    def empty(self) -> bool:
        return not self.migra_sql.strip() and not self.catalog_diff

    def __str__(self) -> str:
        if self.empty:
            return "(no difference)"
        parts = []
        if self.migra_sql.strip():
            parts.append("-- migra: statements turning FROM into TARGET\n" + self.migra_sql)
        if self.catalog_diff:
            parts.append("-- catalog facts (- FROM, + TARGET)\n" + "\n".join(self.catalog_diff))
        return "\n".join(parts)


@contextmanager
def _sqlalchemy(conninfo: str) -> Iterator[sqlalchemy.Connection]:
    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _facts(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        return [str(r[0]) for r in conn.execute(CATALOG_FACTS, {"schema": SCHEMA}).fetchall()]


def _counts(conninfo: str) -> dict[str, int]:
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute(CATALOG_COUNTS, {"schema": SCHEMA})
        row = cur.fetchone()
        assert row is not None
        assert cur.description is not None
        return {col.name: int(str(v)) for col, v in zip(cur.description, row, strict=True)}


def schema_diff(conninfo_from: str, conninfo_target: str) -> SchemaDiff:
    with _sqlalchemy(conninfo_from) as source, _sqlalchemy(conninfo_target) as target:
        migration = Migration(source, target, schema=SCHEMA)
        migration.set_safety(False)
        migration.add_all_changes(privileges=True)
        migra_sql = str(migration.sql)
        inspector: Any = migration.changes.i_from
        inspected = {
            "tables": len(inspector.tables),
            "views": len(inspector.views) + len(inspector.materialized_views),
            "indexes": len(inspector.indexes),
            "functions": len(inspector.functions),
            "triggers": len(inspector.triggers),
        }
        index_definitions = {str(i.name): str(i.definition) for i in inspector.indexes.values()}
    catalog_diff = [
        line for line in difflib.unified_diff(_facts(conninfo_from), _facts(conninfo_target),
                                              lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return SchemaDiff(migra_sql, catalog_diff, inspected, _counts(conninfo_from),
                      index_definitions)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    diff = schema_diff(argv[0], argv[1])
    print(diff)
    return 0 if diff.empty else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
