-- Every statement the Python wrapper sends, in one place.
-- Sections start with "-- name: NAME"; queries.py loads them by name.
-- SQL functions are always called with named arguments.

-- name: set_lock_timeout
select set_config('lock_timeout', %(timeout)s, false);

-- name: try_advisory_lock
select pg_try_advisory_lock(%(key)s);

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

-- name: routines_upsert_literal
insert into connection_summary.schema_routines (singleton, checksum)
values (true, '{checksum}')
on conflict (singleton) do update
set checksum = excluded.checksum, applied_at = now();

-- name: invalid_indexes
select c.relname
from pg_index as i
inner join pg_class as c on i.indexrelid = c.oid
inner join pg_namespace as n on c.relnamespace = n.oid
where n.nspname = %(schema)s and c.relname = any(%(names)s) and not i.indisvalid;

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
