-- 0012_owner_keyed_key_indexes: the unique indexes of the owner-keyed primary
-- keys that 0013 swaps in: every owner-scoped input table keyed by
-- (owner_id, its id), so that a database sharded by owner can enforce them.
-- migrate: no-transaction
--
-- Locks: CREATE INDEX CONCURRENTLY takes SHARE UPDATE EXCLUSIVE on each table:
-- inserts, updates, deletes and reads continue; only DDL and VACUUM wait. Each
-- build waits for the transactions already writing its table. Duration: a pass
-- or two over each table (the operational tables are small: one row per
-- connection, stream, lease, gap or record). Old code keeps serving
-- throughout. An interrupted build leaves an INVALID index; the next migrate
-- drops and rebuilds it.
create unique index concurrently if not exists connections_owner_key_idx
on connection_summary.connections (owner_id, connector_instance_id);

create unique index concurrently if not exists active_runs_owner_key_idx
on connection_summary.active_runs (owner_id, run_id);

create unique index concurrently if not exists retained_size_streams_owner_key_idx
on connection_summary.retained_size_streams (owner_id, connector_instance_id, stream);

create unique index concurrently if not exists retained_size_connections_owner_key_idx
on connection_summary.retained_size_connections (owner_id, connector_instance_id);

create unique index concurrently if not exists schedules_owner_key_idx
on connection_summary.schedules (owner_id, connector_instance_id);

create unique index concurrently if not exists detail_gaps_owner_key_idx
on connection_summary.detail_gaps (owner_id, gap_id);

create unique index concurrently if not exists attention_records_owner_key_idx
on connection_summary.attention_records (owner_id, attention_id);

create unique index concurrently if not exists browser_surface_leases_owner_key_idx
on connection_summary.browser_surface_leases (owner_id, lease_id);
