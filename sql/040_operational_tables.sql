-- Operational inputs written by the platform's runtime: leases, retained
-- sizes, schedules, gaps, attention records and browser-surface leases.
-- Every table carries owner_id and is read by (owner_id, connector_instance_id).
-- Keys are owner-keyed (docs/scale-out.md): ids are unique per owner.

create table connection_summary.active_runs (
    run_id text not null,
    owner_id text not null,
    connector_instance_id text,
    lease_expires_at timestamptz not null,
    primary key (owner_id, run_id)
);

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
    primary key (owner_id, connector_instance_id, stream),
    constraint retained_size_streams_counts_non_negative check (
        record_count >= 0
        and current_record_json_bytes >= 0
        and record_history_json_bytes >= 0
        and blob_bytes >= 0
    )
);

create table connection_summary.retained_size_connections (
    connector_instance_id text not null,
    owner_id text not null,
    current_record_json_bytes bigint,
    record_history_json_bytes bigint,
    blob_bytes bigint,
    dirty boolean not null default false,
    primary key (owner_id, connector_instance_id),
    constraint retained_size_connections_bytes_non_negative check (
        current_record_json_bytes >= 0
        and record_history_json_bytes >= 0
        and blob_bytes >= 0
    )
);

create table connection_summary.schedules (
    connector_instance_id text not null,
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
    primary key (owner_id, connector_instance_id),
    constraint schedules_interval_positive check (interval_seconds > 0),
    constraint schedules_failures_non_negative check (consecutive_failures >= 0)
);

create table connection_summary.detail_gaps (
    gap_id text not null,
    owner_id text not null,
    connector_instance_id text not null,
    stream text,
    status text not null,
    reason text,
    next_attempt_at timestamptz,
    primary key (owner_id, gap_id),
    constraint detail_gaps_status_check
    check (status in ('pending', 'in_progress', 'recovered', 'terminal'))
);

create index detail_gaps_owner_idx
on connection_summary.detail_gaps (owner_id, connector_instance_id);

create table connection_summary.attention_records (
    attention_id text not null,
    owner_id text not null,
    connector_instance_id text not null,
    lifecycle text not null,
    reason_code text,
    response_required boolean not null default false,
    owner_action text,
    expires_at timestamptz,
    created_at timestamptz not null default now(),
    primary key (owner_id, attention_id),
    constraint attention_records_lifecycle_check check (
        lifecycle in ('open', 'acknowledged', 'in_progress', 'resolved', 'dismissed', 'expired')
    )
);

create index attention_records_owner_idx
on connection_summary.attention_records (owner_id, connector_instance_id);

create table connection_summary.browser_surface_leases (
    lease_id text not null,
    owner_id text not null,
    connector_id text,
    profile_key text not null,
    run_id text,
    status text not null,
    wait_reason text,
    requested_at timestamptz not null default now(),
    primary key (owner_id, lease_id),
    constraint browser_surface_leases_status_check check (
        status in (
            'waiting_for_browser_surface', 'starting_surface', 'leased', 'released',
            'expired', 'deferred', 'cancelled', 'surface_failed'
        )
    )
);

create index browser_surface_leases_owner_idx
on connection_summary.browser_surface_leases (owner_id, profile_key, requested_at desc);
