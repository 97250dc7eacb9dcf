-- docs/input-tables.md: the input tables callers write. Names, column types, NOT NULL,
-- keys, indexes (the required spine index with its predicate), CHECK constraints
-- on every enumerated column, open vocabularies on spine_events, and that an
-- INSERT naming only the contract's columns works.
-- Keep in sync with sql/0*.sql (the bootstrap) and migrations/.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(196);

select has_schema('connection_summary', 'schema connection_summary exists');

-- The contract's columns, one row each: table, column, type, NOT NULL.
create temporary table contract_columns (
    ord serial,
    table_name name,
    column_name name,
    column_type text,
    not_null boolean
) on commit drop;

insert into contract_columns (table_name, column_name, column_type, not_null) values
('connectors', 'connector_id', 'text', true),
('connectors', 'display_name', 'text', false),
('connectors', 'manifest', 'jsonb', true),
('connections', 'connector_instance_id', 'text', true),
('connections', 'owner_id', 'text', true),
('connections', 'connector_id', 'text', true),
('connections', 'display_name', 'text', false),
('connections', 'status', 'text', true),
('connections', 'source_kind', 'text', true),
('connections', 'created_at', 'timestamp with time zone', true),
('connections', 'revoked_at', 'timestamp with time zone', false),
('spine_events', 'event_seq', 'bigint', true),
('spine_events', 'owner_id', 'text', true),
('spine_events', 'event_type', 'text', true),
('spine_events', 'status', 'text', false),
('spine_events', 'source_kind', 'text', true),
('spine_events', 'source_id', 'text', true),
('spine_events', 'run_id', 'text', false),
('spine_events', 'occurred_at', 'timestamp with time zone', true),
('spine_events', 'connector_instance_id', 'text', false),
('spine_events', 'connection_id', 'text', false),
('spine_events', 'data', 'jsonb', true),
-- Added by the package, with a default: when the database received the event.
('spine_events', 'recorded_at', 'timestamp with time zone', true),
('active_runs', 'run_id', 'text', true),
('active_runs', 'owner_id', 'text', true),
('active_runs', 'connector_instance_id', 'text', false),
('active_runs', 'lease_expires_at', 'timestamp with time zone', true),
('retained_size_streams', 'connector_instance_id', 'text', true),
('retained_size_streams', 'stream', 'text', true),
('retained_size_streams', 'owner_id', 'text', true),
('retained_size_streams', 'connector_id', 'text', false),
('retained_size_streams', 'record_count', 'bigint', false),
('retained_size_streams', 'current_record_json_bytes', 'bigint', false),
('retained_size_streams', 'record_history_json_bytes', 'bigint', false),
('retained_size_streams', 'blob_bytes', 'bigint', false),
('retained_size_streams', 'last_record_updated_at', 'timestamp with time zone', false),
('retained_size_streams', 'dirty', 'boolean', true),
('retained_size_connections', 'connector_instance_id', 'text', true),
('retained_size_connections', 'owner_id', 'text', true),
('retained_size_connections', 'current_record_json_bytes', 'bigint', false),
('retained_size_connections', 'record_history_json_bytes', 'bigint', false),
('retained_size_connections', 'blob_bytes', 'bigint', false),
('retained_size_connections', 'dirty', 'boolean', true),
('schedules', 'connector_instance_id', 'text', true),
('schedules', 'owner_id', 'text', true),
('schedules', 'enabled', 'boolean', true),
('schedules', 'interval_seconds', 'integer', false),
('schedules', 'next_due_at', 'timestamp with time zone', false),
('schedules', 'last_started_at', 'timestamp with time zone', false),
('schedules', 'last_finished_at', 'timestamp with time zone', false),
('schedules', 'last_successful_at', 'timestamp with time zone', false),
('schedules', 'last_error_code', 'text', false),
('schedules', 'active_run_id', 'text', false),
('schedules', 'consecutive_failures', 'integer', true),
('schedules', 'backoff_next_run_at', 'timestamp with time zone', false),
('schedules', 'backoff_reason_class', 'text', false),
('detail_gaps', 'gap_id', 'text', true),
('detail_gaps', 'owner_id', 'text', true),
('detail_gaps', 'connector_instance_id', 'text', true),
('detail_gaps', 'stream', 'text', false),
('detail_gaps', 'status', 'text', true),
('detail_gaps', 'reason', 'text', false),
('detail_gaps', 'next_attempt_at', 'timestamp with time zone', false),
('attention_records', 'attention_id', 'text', true),
('attention_records', 'owner_id', 'text', true),
('attention_records', 'connector_instance_id', 'text', true),
('attention_records', 'lifecycle', 'text', true),
('attention_records', 'reason_code', 'text', false),
('attention_records', 'response_required', 'boolean', true),
('attention_records', 'owner_action', 'text', false),
('attention_records', 'expires_at', 'timestamp with time zone', false),
('attention_records', 'created_at', 'timestamp with time zone', true),
('browser_surface_leases', 'lease_id', 'text', true),
('browser_surface_leases', 'owner_id', 'text', true),
('browser_surface_leases', 'connector_id', 'text', false),
('browser_surface_leases', 'profile_key', 'text', true),
('browser_surface_leases', 'run_id', 'text', false),
('browser_surface_leases', 'status', 'text', true),
('browser_surface_leases', 'wait_reason', 'text', false),
('browser_surface_leases', 'requested_at', 'timestamp with time zone', true);

-- Tables and their exact column lists (10 + 10) -------------------------------------------------
select has_table('connection_summary', t, format('table %s exists', t))
from unnest(array[
    'connectors', 'connections', 'spine_events', 'active_runs', 'retained_size_streams',
    'retained_size_connections', 'schedules', 'detail_gaps', 'attention_records',
    'browser_surface_leases'
]::name []) as t;

select
    columns_are(
        'connection_summary', table_name, array_agg(column_name order by ord),
        format('%s has exactly the contract columns', table_name)
    )
from contract_columns
group by table_name
order by min(ord);

-- Column types (79) and NOT NULL (44) -----------------------------------------------------------
select col_type_is('connection_summary', table_name, column_name, column_type,
    format('%s.%s is %s', table_name, column_name, column_type))
from contract_columns
order by ord;

select col_not_null('connection_summary', table_name, column_name,
    format('%s.%s is NOT NULL', table_name, column_name))
from contract_columns
where not_null
order by ord;

-- Columns beyond the contract must have a default, so contract INSERTs keep working (1).
select is_empty($$
    select c.table_name, c.column_name
    from information_schema.columns as c
    where c.table_schema = 'connection_summary'
      and c.table_name in (select table_name from contract_columns)
      and (c.table_name, c.column_name) not in (select table_name, column_name from contract_columns)
      and c.is_nullable = 'NO' and c.column_default is null and c.is_identity = 'NO'
      and c.is_generated = 'NEVER'
$$, 'every NOT NULL column beyond the contract has a default');

-- Primary and foreign keys (10 + 1) -------------------------------------------------------------
select col_is_pk('connection_summary', t, k, format('%s primary key is (%s)', t, array_to_string(k, ', ')))
from (values
    -- Owner-keyed: every owner-scoped key starts with owner_id (docs/scale-out.md).
    ('connectors'::name, array['connector_id']::name []),
    ('connections', array['owner_id', 'connector_instance_id']),
    ('spine_events', array['owner_id', 'event_seq']),
    ('active_runs', array['owner_id', 'run_id']),
    ('retained_size_streams', array['owner_id', 'connector_instance_id', 'stream']),
    ('retained_size_connections', array['owner_id', 'connector_instance_id']),
    ('schedules', array['owner_id', 'connector_instance_id']),
    ('detail_gaps', array['owner_id', 'gap_id']),
    ('attention_records', array['owner_id', 'attention_id']),
    ('browser_surface_leases', array['owner_id', 'lease_id'])
) as pk (t, k);

select fk_ok('connection_summary', 'connections', 'connector_id',
    'connection_summary', 'connectors', 'connector_id',
    'connections.connector_id references connectors');

-- Indexes (9 + 2) -------------------------------------------------------------------------------
select has_index('connection_summary', t, i, c, format('index %s on %s(%s)', i, t, array_to_string(c, ', ')))
from (values
    ('spine_events'::name, 'spine_events_source_run_idx'::name,
        array['source_kind', 'source_id', 'run_id', 'occurred_at']::name []),
    ('connections', 'connections_owner_order_idx',
        array['owner_id', 'connector_id', 'created_at', 'connector_instance_id']),
    -- An owner's rows by their owner-keyed primary keys.
    ('active_runs', 'active_runs_pkey', array['owner_id', 'run_id']),
    ('retained_size_streams', 'retained_size_streams_pkey',
        array['owner_id', 'connector_instance_id', 'stream']),
    ('retained_size_connections', 'retained_size_connections_pkey',
        array['owner_id', 'connector_instance_id']),
    ('schedules', 'schedules_pkey', array['owner_id', 'connector_instance_id']),
    ('detail_gaps', 'detail_gaps_owner_idx', array['owner_id', 'connector_instance_id']),
    ('attention_records', 'attention_records_owner_idx', array['owner_id', 'connector_instance_id']),
    ('browser_surface_leases', 'browser_surface_leases_owner_idx',
        array['owner_id', 'profile_key', 'requested_at'])
) as ix (t, i, c);

-- The required spine index: column order, DESC and the partial predicate, exactly.
select is(
    pg_get_indexdef('connection_summary.spine_events_source_run_idx'::regclass),
    'CREATE INDEX spine_events_source_run_idx ON ONLY connection_summary.spine_events USING btree '
    || '(source_kind, source_id, run_id, occurred_at DESC) WHERE (run_id IS NOT NULL)',
    'spine_events_source_run_idx is (source_kind, source_id, run_id, occurred_at DESC) WHERE run_id IS NOT NULL'
);
select ok(
    (select indisvalid from pg_index where indexrelid = 'connection_summary.spine_events_source_run_idx'::regclass),
    'spine_events_source_run_idx is valid'
);

-- Fixture rows the constraint tests below build on --------------------------------------------
insert into connection_summary.connectors (connector_id) values ('contract_connector');
insert into connection_summary.connections (connector_instance_id, owner_id, connector_id, status)
values ('contract_instance', 'contract_owner', 'contract_connector', 'active');

-- Enumerated columns reject values outside the contract (23514) (5) ----------------------------
select throws_ok($$
    insert into connection_summary.connections (connector_instance_id, owner_id, connector_id, status)
    values ('bad_status', 'o', 'contract_connector', 'deleted') $$,
    '23514', null, 'connections.status rejects a value outside draft|active|paused|revoked');
select throws_ok($$
    insert into connection_summary.connections
        (connector_instance_id, owner_id, connector_id, status, source_kind)
    values ('bad_kind', 'o', 'contract_connector', 'active', 'api') $$,
    '23514', null, 'connections.source_kind rejects a value outside the contract');
select throws_ok($$
    insert into connection_summary.detail_gaps (gap_id, owner_id, connector_instance_id, status)
    values ('g', 'o', 'contract_instance', 'done') $$,
    '23514', null, 'detail_gaps.status rejects a value outside pending|in_progress|recovered|terminal');
select throws_ok($$
    insert into connection_summary.attention_records (attention_id, owner_id, connector_instance_id, lifecycle)
    values ('a', 'o', 'contract_instance', 'closed') $$,
    '23514', null, 'attention_records.lifecycle rejects a value outside the contract');
select throws_ok($$
    insert into connection_summary.browser_surface_leases (lease_id, owner_id, profile_key, status)
    values ('l', 'o', 'p', 'granted') $$,
    '23514', null, 'browser_surface_leases.status rejects a value outside the lease vocabulary');

-- ... and accept every value the contract lists (5) ---------------------------------------------
select lives_ok($$
    insert into connection_summary.connections (connector_instance_id, owner_id, connector_id, status)
    select 'status_' || s, 'o', 'contract_connector', s
    from unnest(array['draft', 'active', 'paused', 'revoked']) as s $$,
    'connections.status accepts draft, active, paused, revoked');
select lives_ok($$
    insert into connection_summary.connections
        (connector_instance_id, owner_id, connector_id, status, source_kind)
    select 'kind_' || k, 'o', 'contract_connector', 'active', k
    from unnest(array['account', 'local_device', 'browser_collector', 'manual']) as k $$,
    'connections.source_kind accepts account, local_device, browser_collector, manual');
select lives_ok($$
    insert into connection_summary.detail_gaps (gap_id, owner_id, connector_instance_id, status)
    select 'gap_' || s, 'o', 'contract_instance', s
    from unnest(array['pending', 'in_progress', 'recovered', 'terminal']) as s $$,
    'detail_gaps.status accepts every contract value');
select lives_ok($$
    insert into connection_summary.attention_records (attention_id, owner_id, connector_instance_id, lifecycle)
    select 'att_' || s, 'o', 'contract_instance', s
    from unnest(array['open', 'acknowledged', 'in_progress', 'resolved', 'dismissed', 'expired']) as s $$,
    'attention_records.lifecycle accepts every contract value');
select lives_ok($$
    insert into connection_summary.browser_surface_leases (lease_id, owner_id, profile_key, status)
    select 'lease_' || s, 'o', 'p', s
    from unnest(array['waiting_for_browser_surface', 'starting_surface', 'leased', 'released',
                      'expired', 'deferred', 'cancelled', 'surface_failed']) as s $$,
    'browser_surface_leases.status accepts the whole lease vocabulary');

-- Other constraints (6) -------------------------------------------------------------------------
select throws_ok($$
    insert into connection_summary.connections (connector_instance_id, owner_id, connector_id, status)
    values ('orphan', 'o', 'no_such_connector', 'active') $$,
    '23503', null, 'connections.connector_id must name a known connector');
select throws_ok($$
    insert into connection_summary.connections (connector_instance_id, owner_id, connector_id, status)
    values ('no_owner', null, 'contract_connector', 'active') $$,
    '23502', null, 'connections.owner_id is required');
select throws_ok($$
    insert into connection_summary.connectors (connector_id, manifest) values ('array_manifest', '[]') $$,
    '23514', null, 'connectors.manifest must be a JSON object');
select throws_ok($$
    insert into connection_summary.retained_size_streams (connector_instance_id, stream, owner_id, record_count)
    values ('contract_instance', 's', 'o', -1) $$,
    '23514', null, 'retained_size_streams.record_count cannot be negative');
select throws_ok($$
    insert into connection_summary.retained_size_connections (connector_instance_id, owner_id, blob_bytes)
    values ('contract_instance', 'o', -1) $$,
    '23514', null, 'retained_size_connections.blob_bytes cannot be negative');
select throws_ok($$
    insert into connection_summary.schedules (connector_instance_id, owner_id, interval_seconds)
    values ('contract_instance', 'o', 0) $$,
    '23514', null, 'schedules.interval_seconds must be positive');

-- spine_events: event_type and status are open vocabularies (1) ------------------------------
select lives_ok($$
    insert into connection_summary.spine_events
        (owner_id, event_type, status, source_kind, source_id, run_id, occurred_at)
    values ('o', 'progress', 'some_future_status', 'connector', 'contract_connector', 'r_open', now()),
           ('o', 'run.browser_surface_something_new', 'weird', 'runtime', 'x', null, now()) $$,
    'spine_events carries unknown event types and statuses');

-- An INSERT naming only the contract's columns works, for every table (10) --------------------
select lives_ok($$
    insert into connection_summary.connectors (connector_id, display_name, manifest)
    values ('min_connector', 'Min', '{}') $$,
    'connectors: insert naming only contract columns');
select lives_ok($$
    insert into connection_summary.connections (connector_instance_id, owner_id, connector_id,
        display_name, status, source_kind, created_at, revoked_at)
    values ('min_instance', 'o', 'min_connector', null, 'active', 'account', now(), null) $$,
    'connections: insert naming only contract columns');
select lives_ok($$
    insert into connection_summary.spine_events (owner_id, event_type, status, source_kind, source_id,
        run_id, occurred_at, connector_instance_id, connection_id, data)
    values ('o', 'run.completed', 'succeeded', 'connector', 'min_connector', 'r_min', now(),
        'min_instance', 'min_instance', '{}') $$,
    'spine_events: insert naming only contract columns');
select lives_ok($$
    insert into connection_summary.active_runs (run_id, owner_id, connector_instance_id, lease_expires_at)
    values ('r_min', 'o', 'min_instance', now()) $$,
    'active_runs: insert naming only contract columns');
select lives_ok($$
    insert into connection_summary.retained_size_streams (connector_instance_id, stream, owner_id,
        connector_id, record_count, current_record_json_bytes, record_history_json_bytes, blob_bytes,
        last_record_updated_at, dirty)
    values ('min_instance', 'events', 'o', 'min_connector', 1, 2, 3, 4, now(), false) $$,
    'retained_size_streams: insert naming only contract columns');
select lives_ok($$
    insert into connection_summary.retained_size_connections (connector_instance_id, owner_id,
        current_record_json_bytes, record_history_json_bytes, blob_bytes, dirty)
    values ('min_instance', 'o', 1, 2, 3, false) $$,
    'retained_size_connections: insert naming only contract columns');
select lives_ok($$
    insert into connection_summary.schedules (connector_instance_id, owner_id, enabled,
        interval_seconds, next_due_at, last_started_at, last_finished_at, last_successful_at,
        last_error_code, active_run_id, consecutive_failures, backoff_next_run_at, backoff_reason_class)
    values ('min_instance', 'o', true, 3600, now(), now(), now(), now(), null, null, 0, null, null) $$,
    'schedules: insert naming only contract columns');
select lives_ok($$
    insert into connection_summary.detail_gaps (gap_id, owner_id, connector_instance_id, stream,
        status, reason, next_attempt_at)
    values ('gap_min', 'o', 'min_instance', 'events', 'pending', 'rate_limited', now()) $$,
    'detail_gaps: insert naming only contract columns');
select lives_ok($$
    insert into connection_summary.attention_records (attention_id, owner_id, connector_instance_id,
        lifecycle, reason_code, response_required, owner_action, expires_at, created_at)
    values ('att_min', 'o', 'min_instance', 'open', 'reauth', true, 'reconnect', null, now()) $$,
    'attention_records: insert naming only contract columns');
select lives_ok($$
    insert into connection_summary.browser_surface_leases (lease_id, owner_id, connector_id,
        profile_key, run_id, status, wait_reason, requested_at)
    values ('lease_min', 'o', 'min_connector', 'min_connector:min_instance', 'r_min', 'leased',
        null, now()) $$,
    'browser_surface_leases: insert naming only contract columns');

select * from finish();
rollback;
