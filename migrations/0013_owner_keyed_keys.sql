-- 0013_owner_keyed_keys: every owner-scoped input table's primary key
-- becomes (owner_id, its id), on the indexes 0012 built; the owner indexes the
-- new keys make redundant are dropped. An id is then unique per owner: two
-- owners may use the same connection, run, gap, record or lease id. Route ids
-- always resolved within one owner, so no read changes.
--
-- Callers' upserts must name the new keys: ON CONFLICT (connector_instance_id)
-- becomes ON CONFLICT (owner_id, connector_instance_id), and so on
-- (docs/input-tables.md).
--
-- Locks: ACCESS EXCLUSIVE on each of the eight tables, held until commit, for
-- catalog changes only (ADD PRIMARY KEY USING INDEX neither scans nor builds:
-- every key column is already NOT NULL). Duration: milliseconds. Writers and
-- the commit-time maintenance wait for it; overview and for_route read the
-- stored states and keep serving. Old code keeps serving afterwards, except
-- its own upserts naming the old keys (none: the package has none). Runs in
-- one transaction.

alter table connection_summary.connections
drop constraint connections_pkey,
add constraint connections_pkey primary key using index connections_owner_key_idx;

alter table connection_summary.active_runs
drop constraint active_runs_pkey,
add constraint active_runs_pkey primary key using index active_runs_owner_key_idx;

alter table connection_summary.retained_size_streams
drop constraint retained_size_streams_pkey,
add constraint retained_size_streams_pkey primary key
using index retained_size_streams_owner_key_idx;

alter table connection_summary.retained_size_connections
drop constraint retained_size_connections_pkey,
add constraint retained_size_connections_pkey primary key
using index retained_size_connections_owner_key_idx;

alter table connection_summary.schedules
drop constraint schedules_pkey,
add constraint schedules_pkey primary key using index schedules_owner_key_idx;

alter table connection_summary.detail_gaps
drop constraint detail_gaps_pkey,
add constraint detail_gaps_pkey primary key using index detail_gaps_owner_key_idx;

alter table connection_summary.attention_records
drop constraint attention_records_pkey,
add constraint attention_records_pkey primary key using index attention_records_owner_key_idx;

alter table connection_summary.browser_surface_leases
drop constraint browser_surface_leases_pkey,
add constraint browser_surface_leases_pkey primary key
using index browser_surface_leases_owner_key_idx;

-- Prefixes of the new primary keys.
drop index connection_summary.active_runs_owner_idx;
drop index connection_summary.retained_size_streams_owner_idx;
drop index connection_summary.retained_size_connections_owner_idx;
drop index connection_summary.schedules_owner_idx;

comment on column connection_summary.connections.connector_instance_id is 'The connection''s id (connection_id in every output), unique per owner, 1-255 bytes.';
