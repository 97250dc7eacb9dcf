-- Every statement the Python wrapper sends, in one place.
-- Sections start with "-- name: NAME"; migrations.QUERIES holds them by name.
-- SQL functions are always called with named arguments.

-- name: set_lock_timeout
select set_config('lock_timeout', %(timeout)s, false);

-- name: set_lock_wait
-- How long the migration_lock block of migrate_script.sql polls for the lock.
select set_config('connection_summary.lock_wait', %(wait)s, false);

-- name: interval_seconds
select extract(epoch from %(interval)s::interval);

-- name: advisory_unlock
select pg_advisory_unlock(%(key)s);

-- name: advisory_xact_lock
select pg_advisory_xact_lock(%(key)s);

-- name: ensure_ledger
create schema if not exists connection_summary;
create table if not exists connection_summary.schema_migrations (
    version int primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
);
create table if not exists connection_summary.schema_routines (
    singleton boolean primary key default true check (singleton),
    checksum text not null,
    applied_at timestamptz not null default now()
);

-- name: ledger_exists
select to_regclass('connection_summary.schema_migrations') is not null;

-- name: ledger_rows
select version, name, checksum, applied_at::text
from connection_summary.schema_migrations
order by version;

-- name: ledger_insert
insert into connection_summary.schema_migrations (version, name, checksum)
values (%(version)s, %(name)s, %(checksum)s);

-- name: routines_row
select checksum from connection_summary.schema_routines;

-- name: routines_upsert
insert into connection_summary.schema_routines (singleton, checksum)
values (true, %(checksum)s)
on conflict (singleton) do update
set checksum = excluded.checksum, applied_at = now();

-- name: invalid_indexes
-- The schema's INVALID indexes (an interrupted CREATE INDEX CONCURRENTLY or
-- REINDEX CONCURRENTLY leaves one), among `names`, or all of them when null.
select c.relname
from pg_index as i
inner join pg_class as c on i.indexrelid = c.oid
inner join pg_namespace as n on c.relnamespace = n.oid
where n.nspname = %(schema)s
    and (%(names)s::text[] is null or c.relname = any(%(names)s::text[]))
    and not i.indisvalid
order by c.relname;

-- name: stale_routines
-- Routines of the schema not (re)created by the current transaction: views
-- first (they may use the functions), extension members never.
select format('drop view %%s', c.oid::regclass) as statement
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
where n.nspname = %(schema)s and c.relkind = 'v'
    and not exists (
        select 1 from pg_rewrite as r
        where r.ev_class = c.oid and r.xmin::text::bigint = txid_current() %% 4294967296
    )
union all
select format(
    'drop %%s %%s',
    case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end,
    p.oid::regprocedure
)
from pg_proc as p
inner join pg_namespace as n on p.pronamespace = n.oid
where n.nspname = %(schema)s
    and p.xmin::text::bigint <> txid_current() %% 4294967296
    and not exists (
        select 1 from pg_depend as d
        where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
    );

-- name: overview
select *
from connection_summary.overview(
    p_owner_id => %(owner_id)s,
    p_now => coalesce(%(now)s::timestamptz, now()),
    p_limit => %(limit)s,
    p_after => %(after)s
);

-- name: for_route
select *
from connection_summary.for_route(
    p_owner_id => %(owner_id)s,
    p_route_id => %(route_id)s,
    p_now => coalesce(%(now)s::timestamptz, now())
);

-- name: diagnostics
select connection_summary.diagnostics(
    p_owner_id => %(owner_id)s,
    p_route_id => %(route_id)s,
    p_now => coalesce(%(now)s::timestamptz, now()),
    p_run_limit => %(run_limit)s
) as diagnostics;

-- name: listen_changes
-- Clients created with listen=True drop their TTL cache on these notifications
-- (payload: the owner id whose input rows changed; empty: everything).
listen connection_summary_changed;

-- name: server_version
select current_setting('server_version');

-- name: schema_exists
-- Whether the input tables exist yet (they all come with the first migration).
select to_regclass('connection_summary.connectors') is not null;

-- name: input_tables_have_rows
-- `connection-summary demo` loads only into a database without any input rows.
select
    exists (select from connection_summary.connectors)
    or exists (select from connection_summary.connections)
    or exists (select from connection_summary.spine_events)
    or exists (select from connection_summary.active_runs)
    or exists (select from connection_summary.retained_size_streams)
    or exists (select from connection_summary.retained_size_connections)
    or exists (select from connection_summary.schedules)
    or exists (select from connection_summary.detail_gaps)
    or exists (select from connection_summary.attention_records)
    or exists (select from connection_summary.browser_surface_leases);

-- name: lock_connectors
-- Serializes concurrent `demo` loads: the second one then sees the first's rows.
lock table connection_summary.connectors in exclusive mode;
