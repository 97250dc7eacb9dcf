-- connection_states: one stored row per non-draft connection holding every
-- part of its summary that does not depend on the read time, kept equal to
-- its live definition (the view connection_states_live) by triggers on every
-- input table. A read is then one indexed scan of these rows, the lookup of
-- at most three stored runs each, and the rules that depend on p_now.
create table connection_summary.connection_states (
    owner_id text not null,
    connector_instance_id text not null,
    connector_id text not null,
    created_at timestamptz not null,
    display_name text not null,
    connector_display_name text not null,
    status text not null,
    source_kind text not null,
    revoked_at timestamptz,
    cursor text not null,
    -- Attribution: the claims this connection owns (connection_claims()).
    profile_key text not null,
    owns_unclaimed_runs boolean not null,
    -- Its heads over those claims: the runs the overview summarizes.
    latest_run_id text,
    succeeded_run_id text,
    terminal_run_id text,
    -- Counts and sizes, already rendered (stream_counts(), retained_bytes()).
    streams text[] not null,
    stream_records jsonb not null,
    stream_count int not null,
    total_records bigint,
    total_records_state text not null,
    retained_bytes jsonb,
    total_retained_bytes bigint,
    -- The schedule row, if any (rendered at read time: backoff.active and
    -- timestamps depend on the read).
    has_schedule boolean not null,
    schedule_enabled boolean,
    schedule_interval_seconds int,
    schedule_next_due_at timestamptz,
    schedule_last_started_at timestamptz,
    schedule_last_successful_at timestamptz,
    schedule_active_run_id text,
    schedule_consecutive_failures int,
    schedule_backoff_next_run_at timestamptz,
    schedule_backoff_reason_class text,
    maximum_staleness_seconds numeric,
    -- Open attention records asking the owner for something, newest first,
    -- each with its expires_at: the read takes the first unexpired one.
    attention_candidates jsonb not null,
    has_terminal_detail_gap boolean not null,
    has_open_detail_gap boolean not null,
    -- The newest unfinished browser-surface lease of its profile key.
    surface_lease_id text,
    surface_lease_status text,
    surface_lease_wait_reason text,
    surface_lease_requested_at timestamptz,
    primary key (owner_id, connector_instance_id)
);

-- Overview order and keyset paging within one owner.
create index connection_states_order_idx
on connection_summary.connection_states (owner_id, connector_id, created_at, connector_instance_id);

comment on table connection_summary.connection_states is
'Stored read model: per non-draft connection, every part of its summary that does not depend on the read time. Maintained by triggers; readers never write it.';

-- The connections whose stored row a transaction must recompute, merged at
-- commit with the run folds (one commit trigger, every lock in one order).
-- Unlogged: its rows never outlive the transaction that wrote them.
-- kind: 'connection' (key: a connection id of owner_id), 'connector' (key: a
-- connector id: all of owner_id's connections of it), 'profile' (key: a
-- browser profile key of owner_id), 'catalog' (key: a connector id whose
-- catalog row changed: every owner's connections of it; owner_id NULL).
create unlogged table connection_summary.connection_state_queue (
    kind text not null,
    owner_id text,
    key text not null,
    starts_maintenance boolean not null
);

comment on table connection_summary.connection_state_queue is
'What a transaction changed that connection_states depends on; recomputed into connection_states at its commit.';

comment on column connection_summary.connection_states.owner_id is
'The connection''s owner.';

comment on column connection_summary.connection_states.connector_instance_id is
'The connection (connections.connector_instance_id).';

comment on column connection_summary.connection_states.connector_id is
'Its connector.';

comment on column connection_summary.connection_states.created_at is
'When the connection was created (overview order).';

comment on column connection_summary.connection_states.display_name is
'Its display name, else its connector''s, else the connector id.';

comment on column connection_summary.connection_states.connector_display_name is
'Its connector''s display name, else the connector id.';

comment on column connection_summary.connection_states.status is
'Its status (never draft: drafts have no row).';

comment on column connection_summary.connection_states.source_kind is
'connections.source_kind.';

comment on column connection_summary.connection_states.revoked_at is
'connections.revoked_at.';

comment on column connection_summary.connection_states.cursor is
'The overview cursor that continues after this connection.';

comment on column connection_summary.connection_states.profile_key is
'The browser profile key its runs are stamped with (expected_profile_key).';

comment on column connection_summary.connection_states.owns_unclaimed_runs is
'Whether it gets its connector''s unclaimed runs (the owner''s sole active connection of it).';

comment on column connection_summary.connection_states.latest_run_id is
'Its latest run over the claims it owns (NULL: none).';

comment on column connection_summary.connection_states.succeeded_run_id is
'Its latest succeeded run.';

comment on column connection_summary.connection_states.terminal_run_id is
'Its latest run with a terminal event.';

comment on column connection_summary.connection_states.streams is
'Declared streams, in manifest order.';

comment on column connection_summary.connection_states.stream_records is
'Per-stream record counts with their count states (stream_counts).';

comment on column connection_summary.connection_states.stream_count is
'Observed retained-size stream rows.';

comment on column connection_summary.connection_states.total_records is
'Sum of the counts when total_records_state is known or known_zero.';

comment on column connection_summary.connection_states.total_records_state is
'known, known_zero, stale or unobserved.';

comment on column connection_summary.connection_states.retained_bytes is
'The retained-size object, NULL when missing, dirty or incomplete (retained_bytes).';

comment on column connection_summary.connection_states.total_retained_bytes is
'retained_bytes.total_bytes.';

comment on column connection_summary.connection_states.has_schedule is
'Whether a schedules row exists.';

comment on column connection_summary.connection_states.schedule_enabled is
'schedules.enabled.';

comment on column connection_summary.connection_states.schedule_interval_seconds is
'schedules.interval_seconds.';

comment on column connection_summary.connection_states.schedule_next_due_at is
'schedules.next_due_at.';

comment on column connection_summary.connection_states.schedule_last_started_at is
'schedules.last_started_at.';

comment on column connection_summary.connection_states.schedule_last_successful_at is
'schedules.last_successful_at.';

comment on column connection_summary.connection_states.schedule_active_run_id is
'schedules.active_run_id.';

comment on column connection_summary.connection_states.schedule_consecutive_failures is
'schedules.consecutive_failures.';

comment on column connection_summary.connection_states.schedule_backoff_next_run_at is
'schedules.backoff_next_run_at (backoff is active at a read time before it).';

comment on column connection_summary.connection_states.schedule_backoff_reason_class is
'schedules.backoff_reason_class.';

comment on column connection_summary.connection_states.maximum_staleness_seconds is
'The manifest''s refresh_policy.maximum_staleness_seconds, when a number.';

comment on column connection_summary.connection_states.attention_candidates is
'Open attention records asking for a response or an action, newest first, each with expires_at.';

comment on column connection_summary.connection_states.has_terminal_detail_gap is
'Whether a detail gap is terminal.';

comment on column connection_summary.connection_states.has_open_detail_gap is
'Whether a detail gap is pending or in progress.';

comment on column connection_summary.connection_states.surface_lease_id is
'The newest unfinished browser-surface lease of its profile key.';

comment on column connection_summary.connection_states.surface_lease_status is
'That lease''s status.';

comment on column connection_summary.connection_states.surface_lease_wait_reason is
'That lease''s wait reason.';

comment on column connection_summary.connection_states.surface_lease_requested_at is
'When that lease was requested.';

comment on column connection_summary.connection_state_queue.kind is
'connection, connector, profile, catalog (or start: the row that queues the commit trigger).';

comment on column connection_summary.connection_state_queue.owner_id is
'The owner concerned (NULL for catalog).';

comment on column connection_summary.connection_state_queue.key is
'A connection id, connector id or profile key, by kind.';

comment on column connection_summary.connection_state_queue.starts_maintenance is
'Marks the row whose commit trigger runs the maintenance once for the transaction.';

-- One row per owner that every commit-time refresh of the owner's
-- connection_states rows rewrites (migrations/0014): under REPEATABLE READ two
-- refreshes of one owner at once conflict (40001) instead of each storing rows
-- without the other's change.
create table connection_summary.connection_state_refreshes (
    owner_id text primary key,
    refreshed_at timestamptz not null
);

comment on table connection_summary.connection_state_refreshes is
'One row per owner, rewritten by every commit that refreshes the owner''s connection_states rows: under REPEATABLE READ two such commits at once conflict (40001) instead of each storing rows without the other''s change.';

comment on column connection_summary.connection_state_refreshes.owner_id is
'The owner whose connection_states rows were refreshed.';

comment on column connection_summary.connection_state_refreshes.refreshed_at is
'When the last transaction to refresh them started (now()).';
