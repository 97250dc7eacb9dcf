-- 0005_trust: roles and privileges, the accepted input domain, the arrival
-- time of events, unmatchable attribution claims, commit-time maintenance.
--
-- Locks: every input table is altered (ACCESS EXCLUSIVE, each held until this
-- migration commits): readers and writers of the package's tables wait for the
-- duration. The new CHECK constraints are added NOT VALID (no scan here;
-- 0006 validates them without blocking writers). spine_events gets a column
-- with a constant default (no rewrite). run_evidence is rewritten to recompute
-- its claim columns (about 2-4 s per million runs on 2 cores). Each statement
-- waits at most the migrator's lock_timeout for its lock.
-- Roles: creates the group roles connection_summary_reader,
-- connection_summary_confined_reader and connection_summary_writer when they
-- do not exist; that needs CREATEROLE. Without it, create them first
-- (docs/security.md), and this migration uses them.
-- Old code: keeps serving reads, but read functions are no longer executable
-- by PUBLIC once the routines of this release are applied.
-- Runs in one transaction.

-- Group roles (cluster-wide). Readers execute the read functions; confined
-- readers too, limited to the owners listed in reader_scopes; writers write
-- the input tables. None can log in; grant them to the application's roles.
do $$
declare
    v_role text;
begin
    foreach v_role in array array[
        'connection_summary_reader', 'connection_summary_confined_reader',
        'connection_summary_writer'
    ] loop
        if not exists (select from pg_catalog.pg_roles where rolname = v_role) then
            execute pg_catalog.format('create role %I nologin', v_role);
        end if;
    end loop;
end;
$$;

revoke all on schema connection_summary from public;

-- Owner confinement: a role listed here (or a member of it) reads only the
-- owners listed for it, whatever p_owner_id it passes.
create table connection_summary.reader_scopes (
    role_name text not null,
    owner_id text not null,
    primary key (role_name, owner_id)
);

-- When the database received each event. Writers cannot set it (they have no
-- INSERT privilege on the column); the run fold orders events by
-- least(occurred_at, recorded_at), so an event dated in the future counts as
-- happening when it arrived. Existing events get this migration's time.
alter table connection_summary.spine_events
add column recorded_at timestamptz not null default now();

alter table connection_summary.spine_events
alter column recorded_at set default clock_timestamp();

-- The accepted domain: ids that fit the indexes (1 to 255 bytes; browser
-- profile keys up to 511, which is the longest key a connection can expect),
-- timestamps a client can represent in any time zone, byte totals that fit a
-- bigint. Each constraint's name says what it checks.
alter table connection_summary.connectors
add constraint connectors_connector_id_length check (
    octet_length(connector_id) between 1 and 255
) not valid,
add constraint connectors_profile_key_length check (
    octet_length(manifest #>> '{browser_surface,profile_key}') <= 255
) not valid;

alter table connection_summary.connections
add constraint connections_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
) not valid,
add constraint connections_owner_id_length check (
    octet_length(owner_id) between 1 and 255
) not valid,
add constraint connections_created_at_in_range check (
    created_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid,
add constraint connections_revoked_at_in_range check (
    revoked_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid;

alter table connection_summary.spine_events
add constraint spine_events_owner_id_length check (
    octet_length(owner_id) between 1 and 255
) not valid,
add constraint spine_events_source_kind_length check (
    octet_length(source_kind) between 1 and 255
) not valid,
add constraint spine_events_source_id_length check (
    octet_length(source_id) between 1 and 255
) not valid,
add constraint spine_events_run_id_length check (
    octet_length(run_id) between 1 and 255
) not valid,
add constraint spine_events_occurred_at_in_range check (
    occurred_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid,
add constraint spine_events_recorded_at_in_range check (
    recorded_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid;

alter table connection_summary.active_runs
add constraint active_runs_run_id_length check (
    octet_length(run_id) between 1 and 255
) not valid,
add constraint active_runs_owner_id_length check (
    octet_length(owner_id) between 1 and 255
) not valid,
add constraint active_runs_lease_expires_at_in_range check (
    lease_expires_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid;

alter table connection_summary.retained_size_streams
add constraint retained_size_streams_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
) not valid,
add constraint retained_size_streams_stream_length check (
    octet_length(stream) between 1 and 255
) not valid,
add constraint retained_size_streams_owner_id_length check (
    octet_length(owner_id) between 1 and 255
) not valid,
add constraint retained_size_streams_last_record_updated_at_in_range check (
    last_record_updated_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid;

alter table connection_summary.retained_size_connections
add constraint retained_size_connections_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
) not valid,
add constraint retained_size_connections_owner_id_length check (
    octet_length(owner_id) between 1 and 255
) not valid,
add constraint retained_size_connections_total_fits_bigint check (
    coalesce(current_record_json_bytes, 0)::numeric + coalesce(record_history_json_bytes, 0)
    + coalesce(blob_bytes, 0) <= 9223372036854775807
) not valid;

alter table connection_summary.schedules
add constraint schedules_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
) not valid,
add constraint schedules_owner_id_length check (
    octet_length(owner_id) between 1 and 255
) not valid,
add constraint schedules_next_due_at_in_range check (
    next_due_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid,
add constraint schedules_last_started_at_in_range check (
    last_started_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid,
add constraint schedules_last_finished_at_in_range check (
    last_finished_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid,
add constraint schedules_last_successful_at_in_range check (
    last_successful_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid,
add constraint schedules_backoff_next_run_at_in_range check (
    backoff_next_run_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid;

alter table connection_summary.detail_gaps
add constraint detail_gaps_gap_id_length check (
    octet_length(gap_id) between 1 and 255
) not valid,
add constraint detail_gaps_owner_id_length check (
    octet_length(owner_id) between 1 and 255
) not valid,
add constraint detail_gaps_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
) not valid,
add constraint detail_gaps_next_attempt_at_in_range check (
    next_attempt_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid;

alter table connection_summary.attention_records
add constraint attention_records_attention_id_length check (
    octet_length(attention_id) between 1 and 255
) not valid,
add constraint attention_records_owner_id_length check (
    octet_length(owner_id) between 1 and 255
) not valid,
add constraint attention_records_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
) not valid,
add constraint attention_records_expires_at_in_range check (
    expires_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid,
add constraint attention_records_created_at_in_range check (
    created_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid;

alter table connection_summary.browser_surface_leases
add constraint browser_surface_leases_lease_id_length check (
    octet_length(lease_id) between 1 and 255
) not valid,
add constraint browser_surface_leases_owner_id_length check (
    octet_length(owner_id) between 1 and 255
) not valid,
add constraint browser_surface_leases_profile_key_length check (
    octet_length(profile_key) between 1 and 511
) not valid,
add constraint browser_surface_leases_requested_at_in_range check (
    requested_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
) not valid;

-- A run whose profile key or connection id is longer than any connection's can
-- belong to no connection: it claims 'unmatchable' and is never indexed raw.
drop index connection_summary.run_evidence_claim_latest_idx;
drop index connection_summary.run_evidence_claim_succeeded_idx;
drop index connection_summary.run_evidence_claim_terminal_idx;

alter table connection_summary.run_evidence
drop column claim_kind,
drop column claim_value;

alter table connection_summary.run_evidence
add column claim_kind text generated always as (
    case
        when surface_profile_key is not null
            then case when octet_length(surface_profile_key) <= 511 then 'profile' else 'unmatchable' end
        when explicit_connection_id is not null
            then case when octet_length(explicit_connection_id) <= 255 then 'connection' else 'unmatchable' end
        else 'none'
    end
) stored,
add column claim_value text generated always as (
    case
        when surface_profile_key is not null
            then case when octet_length(surface_profile_key) <= 511 then surface_profile_key else '' end
        when explicit_connection_id is not null
            then case when octet_length(explicit_connection_id) <= 255 then explicit_connection_id else '' end
        else ''
    end
) stored;

-- The ordering keys of the fields a fold chooses (run_fold): with them, new
-- events merge into the stored row instead of refolding the whole run. Filled
-- by the rebuild the routines step runs when the fold's definition changes.
alter table connection_summary.run_evidence
add column newest_status_at timestamptz,
add column newest_status_seq bigint,
add column terminal_at timestamptz,
add column failure_at timestamptz,
add column failure_seq bigint,
add column profile_at timestamptz,
add column profile_seq bigint,
add column surface_at timestamptz,
add column surface_seq bigint,
add column explicit_at timestamptz,
add column explicit_seq bigint;

create index run_evidence_claim_latest_idx
on connection_summary.run_evidence (
    owner_id, source_kind, source_id, claim_kind, claim_value, last_at desc, run_id desc
);

create index run_evidence_claim_succeeded_idx
on connection_summary.run_evidence (
    owner_id, source_kind, source_id, claim_kind, claim_value, last_at desc, run_id desc
)
where settled_status = 'succeeded';

create index run_evidence_claim_terminal_idx
on connection_summary.run_evidence (
    owner_id, source_kind, source_id, claim_kind, claim_value, last_at desc, run_id desc
)
where terminal_status is not null;

alter table connection_summary.run_heads
drop constraint run_heads_claim_kind_check,
add constraint run_heads_claim_kind_check
check (claim_kind in ('profile', 'connection', 'none', 'unmatchable'));

-- The fold of a set of events of one run: everything the stored run row
-- keeps, plus, for each field chosen by an ordering key, that key (the event's
-- time and event_seq), so that two folds merge without their events.
create type connection_summary.run_fold as (
    first_at timestamptz,
    last_at timestamptz,
    event_count int,
    has_started boolean,
    newest_status text,
    terminal_status text,
    terminal_event_seq bigint,
    failure_reason text,
    surface_profile_key text,
    surface_status text,
    surface_wait_reason text,
    surface_lease_id text,
    explicit_connection_id text,
    known_gaps jsonb,
    collection_facts jsonb,
    newest_status_at timestamptz,
    newest_status_seq bigint,
    terminal_at timestamptz,
    failure_at timestamptz,
    failure_seq bigint,
    profile_at timestamptz,
    profile_seq bigint,
    surface_at timestamptz,
    surface_seq bigint,
    explicit_at timestamptz,
    explicit_seq bigint
);

-- The folds of the events each statement of a transaction inserted, one row
-- per statement and run, merged into run_evidence once, at commit, with every
-- lock taken in one order. Its rows never outlive the transaction that wrote
-- them, so it is unlogged. starts_fold marks the row whose commit trigger
-- folds the whole queue (one trigger event per transaction, not per row).
create unlogged table connection_summary.run_maintenance_queue (
    owner_id text not null,
    source_kind text not null,
    source_id text not null,
    run_id text not null,
    fold connection_summary.run_fold not null,
    starts_fold boolean not null
);
