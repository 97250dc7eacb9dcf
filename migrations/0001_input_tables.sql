-- 0001_input_tables: the schema and every input table (docs/input-tables.md).
-- Locks: creates new objects only; touches no existing table.
-- Duration: instant. Old code: there is none before this migration.
-- Runs in one transaction.

-- Every object of the package lives in one schema, so a DBA can see, grant
-- and drop the whole package as a unit.
create schema if not exists connection_summary;

comment on schema connection_summary is
'connection-summary: input tables written by callers, a run read model kept by triggers, and STABLE read functions (overview, for_route, diagnostics).';

-- Connector catalog and connector instances ("connections").

create table connection_summary.connectors (
    connector_id text primary key,
    display_name text,
    manifest jsonb not null default '{}',
    constraint connectors_manifest_is_object check (jsonb_typeof(manifest) = 'object')
);

create table connection_summary.connections (
    connector_instance_id text primary key,
    owner_id text not null,
    connector_id text not null references connection_summary.connectors (connector_id),
    display_name text,
    status text not null,
    source_kind text not null default 'account',
    created_at timestamptz not null default now(),
    revoked_at timestamptz,
    constraint connections_status_check
    check (status in ('draft', 'active', 'paused', 'revoked')),
    constraint connections_source_kind_check
    check (source_kind in ('account', 'local_device', 'browser_collector', 'manual')),
    constraint connections_id_not_empty check (connector_instance_id <> '')
);

-- Overview order and keyset paging: (connector_id, created_at, connector_instance_id)
-- within one owner.
create index connections_owner_order_idx
on connection_summary.connections (owner_id, connector_id, created_at, connector_instance_id);

-- The append-only event log. event_type and status are open vocabularies:
-- runtimes emit values this package does not know, and they are carried.

create table connection_summary.spine_events (
    event_seq bigint generated always as identity primary key,
    owner_id text not null,
    event_type text not null,
    status text,
    source_kind text not null,
    source_id text not null,
    run_id text,
    occurred_at timestamptz not null,
    connector_instance_id text,
    connection_id text,
    data jsonb not null default '{}'
);

-- Operational inputs written by the platform's runtime: leases, retained
-- sizes, schedules, gaps, attention records and browser-surface leases.
-- Every table carries owner_id and is read by (owner_id, connector_instance_id).

create table connection_summary.active_runs (
    run_id text primary key,
    owner_id text not null,
    connector_instance_id text,
    lease_expires_at timestamptz not null
);

create index active_runs_owner_idx
on connection_summary.active_runs (owner_id, run_id);

create table connection_summary.retained_size_streams (
    connector_instance_id text not null,
    stream text not null,
    owner_id text not null,
    connector_id text,
    record_count bigint,
    current_record_json_bytes bigint,
    record_history_json_bytes bigint,
    blob_bytes bigint,
    last_record_updated_at timestamptz,
    dirty boolean not null default false,
    primary key (connector_instance_id, stream),
    constraint retained_size_streams_counts_non_negative check (
        record_count >= 0
        and current_record_json_bytes >= 0
        and record_history_json_bytes >= 0
        and blob_bytes >= 0
    )
);

create index retained_size_streams_owner_idx
on connection_summary.retained_size_streams (owner_id, connector_instance_id);

create table connection_summary.retained_size_connections (
    connector_instance_id text primary key,
    owner_id text not null,
    current_record_json_bytes bigint,
    record_history_json_bytes bigint,
    blob_bytes bigint,
    dirty boolean not null default false,
    constraint retained_size_connections_bytes_non_negative check (
        current_record_json_bytes >= 0
        and record_history_json_bytes >= 0
        and blob_bytes >= 0
    )
);

create index retained_size_connections_owner_idx
on connection_summary.retained_size_connections (owner_id, connector_instance_id);

create table connection_summary.schedules (
    connector_instance_id text primary key,
    owner_id text not null,
    enabled boolean not null default true,
    interval_seconds int,
    next_due_at timestamptz,
    last_started_at timestamptz,
    last_finished_at timestamptz,
    last_successful_at timestamptz,
    last_error_code text,
    active_run_id text,
    consecutive_failures int not null default 0,
    backoff_next_run_at timestamptz,
    backoff_reason_class text,
    constraint schedules_interval_positive check (interval_seconds > 0),
    constraint schedules_failures_non_negative check (consecutive_failures >= 0)
);

create index schedules_owner_idx
on connection_summary.schedules (owner_id, connector_instance_id);

create table connection_summary.detail_gaps (
    gap_id text primary key,
    owner_id text not null,
    connector_instance_id text not null,
    stream text,
    status text not null,
    reason text,
    next_attempt_at timestamptz,
    constraint detail_gaps_status_check
    check (status in ('pending', 'in_progress', 'recovered', 'terminal'))
);

create index detail_gaps_owner_idx
on connection_summary.detail_gaps (owner_id, connector_instance_id);

create table connection_summary.attention_records (
    attention_id text primary key,
    owner_id text not null,
    connector_instance_id text not null,
    lifecycle text not null,
    reason_code text,
    response_required boolean not null default false,
    owner_action text,
    expires_at timestamptz,
    created_at timestamptz not null default now(),
    constraint attention_records_lifecycle_check check (
        lifecycle in ('open', 'acknowledged', 'in_progress', 'resolved', 'dismissed', 'expired')
    )
);

create index attention_records_owner_idx
on connection_summary.attention_records (owner_id, connector_instance_id);

create table connection_summary.browser_surface_leases (
    lease_id text primary key,
    owner_id text not null,
    connector_id text,
    profile_key text not null,
    run_id text,
    status text not null,
    wait_reason text,
    requested_at timestamptz not null default now(),
    constraint browser_surface_leases_status_check check (
        status in (
            'waiting_for_browser_surface', 'starting_surface', 'leased', 'released',
            'expired', 'deferred', 'cancelled', 'surface_failed'
        )
    )
);

create index browser_surface_leases_owner_idx
on connection_summary.browser_surface_leases (owner_id, profile_key, requested_at desc);
