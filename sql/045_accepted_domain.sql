-- The accepted input domain (docs/security.md): ids that fit the indexes
-- (1 to 255 bytes; browser profile keys up to 511, the longest key a
-- connection can expect), timestamps a client can represent in any time
-- zone, byte totals that fit a bigint. Each constraint's name says what it checks.

alter table connection_summary.connectors
add constraint connectors_connector_id_length check (
    octet_length(connector_id) between 1 and 255
),
add constraint connectors_profile_key_length check (
    octet_length(manifest #>> '{browser_surface,profile_key}') <= 255
);

alter table connection_summary.connections
add constraint connections_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
),
add constraint connections_owner_id_length check (
    octet_length(owner_id) between 1 and 255
),
add constraint connections_created_at_in_range check (
    created_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
),
add constraint connections_revoked_at_in_range check (
    revoked_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
);

alter table connection_summary.spine_events
add constraint spine_events_owner_id_length check (
    octet_length(owner_id) between 1 and 255
),
add constraint spine_events_source_kind_length check (
    octet_length(source_kind) between 1 and 255
),
add constraint spine_events_source_id_length check (
    octet_length(source_id) between 1 and 255
),
add constraint spine_events_run_id_length check (
    octet_length(run_id) between 1 and 255
),
add constraint spine_events_occurred_at_in_range check (
    occurred_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
),
add constraint spine_events_recorded_at_in_range check (
    recorded_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
);

alter table connection_summary.active_runs
add constraint active_runs_run_id_length check (
    octet_length(run_id) between 1 and 255
),
add constraint active_runs_owner_id_length check (
    octet_length(owner_id) between 1 and 255
),
add constraint active_runs_lease_expires_at_in_range check (
    lease_expires_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
);

alter table connection_summary.retained_size_streams
add constraint retained_size_streams_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
),
add constraint retained_size_streams_stream_length check (
    octet_length(stream) between 1 and 255
),
add constraint retained_size_streams_owner_id_length check (
    octet_length(owner_id) between 1 and 255
),
add constraint retained_size_streams_last_record_updated_at_in_range check (
    last_record_updated_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
);

alter table connection_summary.retained_size_connections
add constraint retained_size_connections_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
),
add constraint retained_size_connections_owner_id_length check (
    octet_length(owner_id) between 1 and 255
),
add constraint retained_size_connections_total_fits_bigint check (
    coalesce(current_record_json_bytes, 0)::numeric + coalesce(record_history_json_bytes, 0)
    + coalesce(blob_bytes, 0) <= 9223372036854775807
);

alter table connection_summary.schedules
add constraint schedules_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
),
add constraint schedules_owner_id_length check (
    octet_length(owner_id) between 1 and 255
),
add constraint schedules_next_due_at_in_range check (
    next_due_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
),
add constraint schedules_last_started_at_in_range check (
    last_started_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
),
add constraint schedules_last_finished_at_in_range check (
    last_finished_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
),
add constraint schedules_last_successful_at_in_range check (
    last_successful_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
),
add constraint schedules_backoff_next_run_at_in_range check (
    backoff_next_run_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
);

alter table connection_summary.detail_gaps
add constraint detail_gaps_gap_id_length check (
    octet_length(gap_id) between 1 and 255
),
add constraint detail_gaps_owner_id_length check (
    octet_length(owner_id) between 1 and 255
),
add constraint detail_gaps_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
),
add constraint detail_gaps_next_attempt_at_in_range check (
    next_attempt_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
);

alter table connection_summary.attention_records
add constraint attention_records_attention_id_length check (
    octet_length(attention_id) between 1 and 255
),
add constraint attention_records_owner_id_length check (
    octet_length(owner_id) between 1 and 255
),
add constraint attention_records_connector_instance_id_length check (
    octet_length(connector_instance_id) between 1 and 255
),
add constraint attention_records_expires_at_in_range check (
    expires_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
),
add constraint attention_records_created_at_in_range check (
    created_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
);

alter table connection_summary.browser_surface_leases
add constraint browser_surface_leases_lease_id_length check (
    octet_length(lease_id) between 1 and 255
),
add constraint browser_surface_leases_owner_id_length check (
    octet_length(owner_id) between 1 and 255
),
add constraint browser_surface_leases_profile_key_length check (
    octet_length(profile_key) between 1 and 511
),
add constraint browser_surface_leases_requested_at_in_range check (
    requested_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
);
