-- A COMMENT on every table, column and type of the schema: what callers write
-- where, and what each stored or returned value is for (docs/input-tables.md,
-- docs/contract.md). Functions and views: sql/890_comments.sql. Migration 0007
-- holds the same statements; tests/test_comments.py fails for any object of
-- the schema without a comment.

comment on table connection_summary.connectors is
'Input (callers write): the connector catalog, one row per connector, shared by every owner. Written when a connector is deployed or its manifest changes (docs/input-tables.md).';

comment on column connection_summary.connectors.connector_id is 'The connector''s id, 1-255 bytes; connector runs name it in spine_events.source_id.';
comment on column connection_summary.connectors.display_name is 'Human name of the connector; NULL shows the id.';
comment on column connection_summary.connectors.manifest is 'JSON object: streams [{name, required, coverage_policy}], refresh_policy.maximum_staleness_seconds, browser_surface.profile_key (the base of the connections'' browser profile keys).';

comment on table connection_summary.connections is
'Input (callers write): one row per connection, a configured account, device or browser profile of a connector for one owner. Summaries are per connection (docs/input-tables.md).';

comment on column connection_summary.connections.connector_instance_id is 'The connection''s id (connection_id in every output), unique per owner, 1-255 bytes.';
comment on column connection_summary.connections.owner_id is 'The owner the connection belongs to, 1-255 bytes.';
comment on column connection_summary.connections.connector_id is 'Its connector (references connectors).';
comment on column connection_summary.connections.display_name is 'The owner''s name for the connection; NULL shows the connector''s name.';
comment on column connection_summary.connections.status is 'draft (never shown), active, paused or revoked (both shown idle).';
comment on column connection_summary.connections.source_kind is 'account, local_device, browser_collector or manual; shown only.';
comment on column connection_summary.connections.created_at is 'When the connection was set up; orders the overview and its cursors.';
comment on column connection_summary.connections.revoked_at is 'When it was revoked; shown only (the rules read status).';

comment on table connection_summary.spine_events is
'Input (callers write): the append-only event log of runs. A run is the events with one (owner_id, source_kind, source_id, run_id); they are folded into run_evidence when the inserting transaction commits. UPDATE and DELETE are refused (docs/input-tables.md).';

comment on table connection_summary.spine_events_p0 is
'Partition of spine_events: the events of period 0, received before the first open_spine_event_period() (docs/scale-out.md, retention).';

comment on table connection_summary.spine_event_periods is
'Package state: the periods of arrival of spine_events, one partition each (open_spine_event_period, drop_spine_events_before).';
comment on column connection_summary.spine_event_periods.period is 'The period: its partition spine_events_p<period> holds event_seq from period * 2^44 (period 0: from the start).';
comment on column connection_summary.spine_event_periods.opened_at is 'When the period started receiving events (-infinity for period 0).';

comment on table connection_summary.spine_event_retention is
'Package state: how far spine_events have been dropped (drop_spine_events_before). One row, or none while nothing was dropped.';
comment on column connection_summary.spine_event_retention.singleton is 'Always true: the table holds one row.';
comment on column connection_summary.spine_event_retention.dropped_before is 'Events that occurred before this instant are gone; runs that began before it keep their stored evidence through rebuild_run_evidence().';
comment on column connection_summary.spine_event_retention.dropped_at is 'When the last drop ran.';

comment on column connection_summary.spine_events.event_seq is 'Arrival number set by the database; breaks ties between equal event times.';
comment on column connection_summary.spine_events.owner_id is 'The owner, 1-255 bytes.';
comment on column connection_summary.spine_events.event_type is 'Open vocabulary; run.started, run.completed, run.failed, run.cancelled, run.abandoned and run.browser_surface_* have meaning.';
comment on column connection_summary.spine_events.status is 'Open vocabulary; a terminal event''s status is the run''s status, a browser-surface event''s is the lease status.';
comment on column connection_summary.spine_events.source_kind is 'What produced the run, 1-255 bytes; connector for connector runs (only those are attributed to connections).';
comment on column connection_summary.spine_events.source_id is 'The producer''s id, 1-255 bytes; the connector_id for connector runs.';
comment on column connection_summary.spine_events.run_id is 'The run, 1-255 bytes; NULL: the event belongs to no run.';
comment on column connection_summary.spine_events.occurred_at is 'When it happened, by the producer''s clock (events count at the latest when they arrived: recorded_at).';
comment on column connection_summary.spine_events.connector_instance_id is 'Explicit connection of the run, when the producer knows it.';
comment on column connection_summary.spine_events.connection_id is 'The same as connector_instance_id, under its other name.';
comment on column connection_summary.spine_events.data is 'Details: reason, known_gaps, collection_facts.streams, browser_surface {browser_surface_profile_key, browser_surface_status, browser_surface_wait_reason, browser_surface_lease_id}.';
comment on column connection_summary.spine_events.recorded_at is 'When the database received the event (writers cannot set it); runs order events by least(occurred_at, recorded_at).';

comment on table connection_summary.active_runs is
'Input (callers write): leases of the runs a live runtime executes. A started run without a terminal event is in_progress only while its lease is live, else an orphan (docs/input-tables.md).';

comment on column connection_summary.active_runs.run_id is 'The leased run (spine_events.run_id), 1-255 bytes.';
comment on column connection_summary.active_runs.owner_id is 'The owner, 1-255 bytes; matched with run_id.';
comment on column connection_summary.active_runs.connector_instance_id is 'The run''s connection, for the caller''s own use; not read.';
comment on column connection_summary.active_runs.lease_expires_at is 'Until when the runtime vouches for the run; renewed while it runs.';

comment on table connection_summary.retained_size_streams is
'Input (callers write): per-stream storage accounting of a connection: records kept per stream (docs/input-tables.md).';

comment on column connection_summary.retained_size_streams.connector_instance_id is 'The connection, 1-255 bytes.';
comment on column connection_summary.retained_size_streams.stream is 'The stream name, as in the manifest, 1-255 bytes.';
comment on column connection_summary.retained_size_streams.owner_id is 'The owner, 1-255 bytes; a row counts only for this owner.';
comment on column connection_summary.retained_size_streams.connector_id is 'The connector, for the caller''s own use; not read.';
comment on column connection_summary.retained_size_streams.record_count is 'Records kept in the stream; NULL: not counted.';
comment on column connection_summary.retained_size_streams.current_record_json_bytes is 'Bytes of the current records'' JSON; not read (sizes come from retained_size_connections).';
comment on column connection_summary.retained_size_streams.record_history_json_bytes is 'Bytes of earlier record versions; not read.';
comment on column connection_summary.retained_size_streams.blob_bytes is 'Bytes of attachments; not read.';
comment on column connection_summary.retained_size_streams.last_record_updated_at is 'When a record of the stream last changed; not read.';
comment on column connection_summary.retained_size_streams.dirty is 'True while the count is out of date: the stream reads stale, never a number.';

comment on table connection_summary.retained_size_connections is
'Input (callers write): per-connection storage accounting: the bytes a connection keeps (docs/input-tables.md).';

comment on column connection_summary.retained_size_connections.connector_instance_id is 'The connection, 1-255 bytes.';
comment on column connection_summary.retained_size_connections.owner_id is 'The owner, 1-255 bytes.';
comment on column connection_summary.retained_size_connections.current_record_json_bytes is 'Bytes of the current records'' JSON (retained_bytes.record_json_bytes).';
comment on column connection_summary.retained_size_connections.record_history_json_bytes is 'Bytes of earlier record versions (retained_bytes.record_changes_json_bytes).';
comment on column connection_summary.retained_size_connections.blob_bytes is 'Bytes of attachments (retained_bytes.blob_bytes).';
comment on column connection_summary.retained_size_connections.dirty is 'True while out of date: retained_bytes is then NULL, never a made-up 0.';

comment on table connection_summary.schedules is
'Input (callers write): the scheduler''s state of a connection (docs/input-tables.md).';

comment on column connection_summary.schedules.connector_instance_id is 'The connection, 1-255 bytes.';
comment on column connection_summary.schedules.owner_id is 'The owner, 1-255 bytes.';
comment on column connection_summary.schedules.enabled is 'False: scheduling is off and the connection reads idle (schedule_paused).';
comment on column connection_summary.schedules.interval_seconds is 'The run interval; shown.';
comment on column connection_summary.schedules.next_due_at is 'The next planned run: the health''s next_attempt_at.';
comment on column connection_summary.schedules.last_started_at is 'Start of the last run: last_attempted_at when no run is attributed.';
comment on column connection_summary.schedules.last_finished_at is 'End of the last run; not read.';
comment on column connection_summary.schedules.last_successful_at is 'The last success: freshness captured_at when no successful run is attributed.';
comment on column connection_summary.schedules.last_error_code is 'The caller''s error code of the last run; not read.';
comment on column connection_summary.schedules.active_run_id is 'The run executing now; sets the syncing badge.';
comment on column connection_summary.schedules.consecutive_failures is 'Failed runs in a row; 7 or more under an active backoff blocks the connection.';
comment on column connection_summary.schedules.backoff_next_run_at is 'The backoff is active while this is after the read time (health cooling_off).';
comment on column connection_summary.schedules.backoff_reason_class is 'Why it backs off, e.g. rate_limited: the reason code while cooling off.';

comment on table connection_summary.detail_gaps is
'Input (callers write): known holes in a connection''s collected detail, until recovered or given up; they set coverage (docs/input-tables.md).';

comment on column connection_summary.detail_gaps.gap_id is 'The gap, 1-255 bytes.';
comment on column connection_summary.detail_gaps.owner_id is 'The owner, 1-255 bytes.';
comment on column connection_summary.detail_gaps.connector_instance_id is 'The connection, 1-255 bytes.';
comment on column connection_summary.detail_gaps.stream is 'The stream with the gap; not read.';
comment on column connection_summary.detail_gaps.status is 'pending or in_progress (coverage retryable_gap), recovered (no effect), terminal (coverage terminal_gap).';
comment on column connection_summary.detail_gaps.reason is 'Why the detail is missing; not read.';
comment on column connection_summary.detail_gaps.next_attempt_at is 'The next retry; not read.';

comment on table connection_summary.attention_records is
'Input (callers write): questions and tasks for the owner; an active one that asks for a response or an action puts the connection in needs_attention (docs/input-tables.md).';

comment on column connection_summary.attention_records.attention_id is 'The record, 1-255 bytes.';
comment on column connection_summary.attention_records.owner_id is 'The owner, 1-255 bytes.';
comment on column connection_summary.attention_records.connector_instance_id is 'The connection, 1-255 bytes.';
comment on column connection_summary.attention_records.lifecycle is 'open, acknowledged, in_progress (active); resolved, dismissed, expired (done).';
comment on column connection_summary.attention_records.reason_code is 'What it is about: the health''s reason_code (default attention_required).';
comment on column connection_summary.attention_records.response_required is 'The owner must answer.';
comment on column connection_summary.attention_records.owner_action is 'What the owner should do, e.g. add_info or reauth: the health''s next_action (default add_info).';
comment on column connection_summary.attention_records.expires_at is 'After this the record no longer counts; NULL: never.';
comment on column connection_summary.attention_records.created_at is 'When it was raised; the newest active record speaks.';

comment on table connection_summary.browser_surface_leases is
'Input (callers write): requests of runs for a browser surface (a browser profile one run at a time can use); the connection''s newest unfinished lease is its remote surface (docs/input-tables.md).';

comment on column connection_summary.browser_surface_leases.lease_id is 'The lease, 1-255 bytes.';
comment on column connection_summary.browser_surface_leases.owner_id is 'The owner, 1-255 bytes.';
comment on column connection_summary.browser_surface_leases.connector_id is 'The connector; not read.';
comment on column connection_summary.browser_surface_leases.profile_key is 'The browser profile key, 1-511 bytes: a connection''s expected key.';
comment on column connection_summary.browser_surface_leases.run_id is 'The run that asked; not read.';
comment on column connection_summary.browser_surface_leases.status is 'waiting_for_browser_surface, starting_surface, leased, released, expired, deferred, cancelled or surface_failed (degrades the connection).';
comment on column connection_summary.browser_surface_leases.wait_reason is 'Why it waits or failed, e.g. profile_in_use_by_sibling_run.';
comment on column connection_summary.browser_surface_leases.requested_at is 'When it was requested; the newest unfinished lease speaks.';

comment on table connection_summary.reader_scopes is
'Owner confinement, written by the package''s owner: a role listed here (or a member of it) reads only the owners listed for it (docs/security.md).';

comment on column connection_summary.reader_scopes.role_name is 'A role, or a group whose members are confined.';
comment on column connection_summary.reader_scopes.owner_id is 'An owner that role may read.';

comment on table connection_summary.run_evidence is
'Stored read model: one row per run (owner_id, source_kind, source_id, run_id), the fold of its events, kept by triggers on spine_events; never written by callers (docs/sql-api.md, run read model).';

comment on column connection_summary.run_evidence.owner_id is 'The run''s owner (part of the run''s key, so owners never share a run).';
comment on column connection_summary.run_evidence.source_kind is 'The run''s source_kind.';
comment on column connection_summary.run_evidence.source_id is 'The run''s source_id (the connector id for connector runs).';
comment on column connection_summary.run_evidence.run_id is 'The run''s id.';
comment on column connection_summary.run_evidence.first_at is 'Time of its earliest event (started_at).';
comment on column connection_summary.run_evidence.last_at is 'Time of its latest event; orders runs with run_id.';
comment on column connection_summary.run_evidence.event_count is 'Number of its events.';
comment on column connection_summary.run_evidence.has_started is 'A run.started event exists.';
comment on column connection_summary.run_evidence.newest_status is 'Status of its newest event with a status.';
comment on column connection_summary.run_evidence.terminal_status is 'Status of its newest terminal event; NULL without one.';
comment on column connection_summary.run_evidence.terminal_event_seq is 'event_seq of that terminal event.';
comment on column connection_summary.run_evidence.failure_reason is 'data.reason of its earliest failed or rejected event (or run.failed).';
comment on column connection_summary.run_evidence.surface_profile_key is 'The browser profile key the run is stamped with (its newest).';
comment on column connection_summary.run_evidence.surface_status is 'browser_surface_status of its newest run.browser_surface_* event.';
comment on column connection_summary.run_evidence.surface_wait_reason is 'browser_surface_wait_reason of that event.';
comment on column connection_summary.run_evidence.surface_lease_id is 'browser_surface_lease_id of that event.';
comment on column connection_summary.run_evidence.explicit_connection_id is 'The connection its newest event names explicitly.';
comment on column connection_summary.run_evidence.known_gaps is 'data.known_gaps of the newest terminal event.';
comment on column connection_summary.run_evidence.collection_facts is 'data.collection_facts of the newest terminal event.';
comment on column connection_summary.run_evidence.settled_status is 'The status whatever the read time: terminal, else the newest for a run never started; NULL: started, not finished.';
comment on column connection_summary.run_evidence.claim_kind is 'Attribution claim: profile, connection, none, or unmatchable (a key or id no connection can have).';
comment on column connection_summary.run_evidence.claim_value is 'The claimed profile key or connection id; empty for none and unmatchable.';
comment on column connection_summary.run_evidence.newest_status_at is 'Ordering key (time) of newest_status, to merge folds.';
comment on column connection_summary.run_evidence.newest_status_seq is 'Ordering key (event_seq) of newest_status.';
comment on column connection_summary.run_evidence.terminal_at is 'Ordering key (time) of the terminal event.';
comment on column connection_summary.run_evidence.failure_at is 'Ordering key (time) of failure_reason.';
comment on column connection_summary.run_evidence.failure_seq is 'Ordering key (event_seq) of failure_reason.';
comment on column connection_summary.run_evidence.profile_at is 'Ordering key (time) of surface_profile_key.';
comment on column connection_summary.run_evidence.profile_seq is 'Ordering key (event_seq) of surface_profile_key.';
comment on column connection_summary.run_evidence.surface_at is 'Ordering key (time) of the surface_* fields.';
comment on column connection_summary.run_evidence.surface_seq is 'Ordering key (event_seq) of the surface_* fields.';
comment on column connection_summary.run_evidence.explicit_at is 'Ordering key (time) of explicit_connection_id.';
comment on column connection_summary.run_evidence.explicit_seq is 'Ordering key (event_seq) of explicit_connection_id.';

comment on table connection_summary.run_heads is
'Stored read model: per attribution claim, its latest, latest succeeded and latest terminal run by (last_at, run_id); what the overview reads instead of the runs.';

comment on column connection_summary.run_heads.owner_id is 'The claim''s owner.';
comment on column connection_summary.run_heads.source_kind is 'The runs'' source_kind.';
comment on column connection_summary.run_heads.source_id is 'The runs'' source_id (connector id).';
comment on column connection_summary.run_heads.claim_kind is 'profile, connection, none or unmatchable (run_evidence.claim_kind).';
comment on column connection_summary.run_heads.claim_value is 'The claimed profile key or connection id.';
comment on column connection_summary.run_heads.latest_run_id is 'The claim''s latest run.';
comment on column connection_summary.run_heads.succeeded_run_id is 'Its latest run with status succeeded.';
comment on column connection_summary.run_heads.terminal_run_id is 'Its latest run with a terminal event.';

comment on table connection_summary.read_model_versions is
'Stored read model: which definition of the fold built the stored rows; the routines step rebuilds them when it changes.';

comment on column connection_summary.read_model_versions.read_model is 'The read model''s name.';
comment on column connection_summary.read_model_versions.definition_md5 is 'md5 of the fold''s definition that built it.';
comment on column connection_summary.read_model_versions.rebuilt_at is 'When it was last rebuilt.';

comment on table connection_summary.run_maintenance_queue is
'Stored read model: the folds of the events each statement of a transaction inserted, merged into run_evidence at its commit; always empty between transactions (unlogged).';

comment on column connection_summary.run_maintenance_queue.owner_id is 'The run''s owner.';
comment on column connection_summary.run_maintenance_queue.source_kind is 'The run''s source_kind.';
comment on column connection_summary.run_maintenance_queue.source_id is 'The run''s source_id.';
comment on column connection_summary.run_maintenance_queue.run_id is 'The run.';
comment on column connection_summary.run_maintenance_queue.fold is 'The fold of the statement''s events of that run.';
comment on column connection_summary.run_maintenance_queue.starts_fold is 'Marks the row whose commit trigger merges the whole queue.';

comment on table connection_summary.schema_migrations is
'Migration ledger: one row per applied migration (migrations/NNNN_name.sql), with its checksum (docs/migrations.md).';

comment on column connection_summary.schema_migrations.version is 'The migration''s number.';
comment on column connection_summary.schema_migrations.name is 'The migration''s name.';
comment on column connection_summary.schema_migrations.checksum is 'sha256 of the file as applied; an edited applied file is refused.';
comment on column connection_summary.schema_migrations.applied_at is 'When it was applied.';

comment on table connection_summary.schema_routines is
'Migration ledger: the checksum of the routines (sql/1NN and up) last applied (docs/migrations.md).';

comment on column connection_summary.schema_routines.singleton is 'Always true: the table holds one row.';
comment on column connection_summary.schema_routines.checksum is 'sha256 over every routine file''s name and text.';
comment on column connection_summary.schema_routines.applied_at is 'When the routines were last applied.';

comment on type connection_summary.summary is
'The row of overview() and for_route() (diagnostics and the *_json functions render it as jsonb); computed at read time, never stored (docs/contract.md, docs/sql-api.md).';

comment on column connection_summary.summary.connection_id is 'The connection''s id (= connector_instance_id).';
comment on column connection_summary.summary.connector_instance_id is 'The connection''s id.';
comment on column connection_summary.summary.connector_id is 'Its connector.';
comment on column connection_summary.summary.owner_id is 'Its owner (always p_owner_id).';
comment on column connection_summary.summary.display_name is 'The connection''s name, else the connector''s, else the connector id.';
comment on column connection_summary.summary.connector_display_name is 'The connector''s name, else its id.';
comment on column connection_summary.summary.status is 'active, paused or revoked (drafts are never returned).';
comment on column connection_summary.summary.source_kind is 'account, local_device, browser_collector or manual.';
comment on column connection_summary.summary.created_at is 'When the connection was set up.';
comment on column connection_summary.summary.revoked_at is 'When it was revoked.';
comment on column connection_summary.summary.depth is 'overview (shallow run summaries) or deep (for_route, diagnostics).';
comment on column connection_summary.summary.observed_at is 'The read time, p_now.';
comment on column connection_summary.summary.cursor is 'Opaque, owner-bound keyset position; pass it as p_after to continue the overview after this row.';
comment on column connection_summary.summary.streams is 'Declared manifest stream names, in manifest order.';
comment on column connection_summary.summary.stream_records is '[{stream, record_count, count_state}] per declared, then observed stream.';
comment on column connection_summary.summary.stream_count is 'Number of retained_size_streams rows of the connection.';
comment on column connection_summary.summary.total_records is 'Sum of the streams'' record_count when known; NULL otherwise, never a made-up 0.';
comment on column connection_summary.summary.total_records_state is 'known, known_zero, unobserved (no rows) or stale (a dirty or uncounted row).';
comment on column connection_summary.summary.retained_bytes is '{record_json_bytes, record_changes_json_bytes, blob_bytes, total_bytes}; NULL when missing or dirty.';
comment on column connection_summary.summary.total_retained_bytes is 'retained_bytes.total_bytes.';
comment on column connection_summary.summary.schedule is '{enabled, interval_seconds, next_due_at, backoff: {active, consecutive_failures, next_run_at, reason_class}}; NULL without a schedule.';
comment on column connection_summary.summary.last_run is 'Run summary of the attributed run with the greatest (last_at, run_id).';
comment on column connection_summary.summary.last_successful_run is 'Run summary of the latest attributed run that succeeded.';
comment on column connection_summary.summary.freshness is '{status: current, stale or unknown, captured_at, last_attempted_at}.';
comment on column connection_summary.summary.coverage is 'complete, partial, retryable_gap, terminal_gap or unknown.';
comment on column connection_summary.summary.connection_health is '{state, reason_code, axes, badges, last_success_at, next_attempt_at, next_action}: the health ladder.';
comment on column connection_summary.summary.rendered_verdict is '{pill: {tone, label}, channel, forward_statement, required_actions}: what to show the owner.';

comment on type connection_summary.run_fold is
'Internal: the fold of a set of events of one run, with the ordering key of each chosen field, so that two folds merge without their events.';

comment on column connection_summary.run_fold.first_at is 'Earliest event time.';
comment on column connection_summary.run_fold.last_at is 'Latest event time.';
comment on column connection_summary.run_fold.event_count is 'Number of events.';
comment on column connection_summary.run_fold.has_started is 'A run.started event is among them.';
comment on column connection_summary.run_fold.newest_status is 'Status of the newest event with one.';
comment on column connection_summary.run_fold.terminal_status is 'Status of the newest terminal event.';
comment on column connection_summary.run_fold.terminal_event_seq is 'event_seq of that terminal event.';
comment on column connection_summary.run_fold.failure_reason is 'data.reason of the earliest failure.';
comment on column connection_summary.run_fold.surface_profile_key is 'Newest browser profile key.';
comment on column connection_summary.run_fold.surface_status is 'Browser-surface status of the newest run.browser_surface_* event.';
comment on column connection_summary.run_fold.surface_wait_reason is 'Its wait reason.';
comment on column connection_summary.run_fold.surface_lease_id is 'Its lease id.';
comment on column connection_summary.run_fold.explicit_connection_id is 'Newest explicit connection id.';
comment on column connection_summary.run_fold.known_gaps is 'data.known_gaps of the newest terminal event.';
comment on column connection_summary.run_fold.collection_facts is 'data.collection_facts of the newest terminal event.';
comment on column connection_summary.run_fold.newest_status_at is 'Ordering key (time) of newest_status.';
comment on column connection_summary.run_fold.newest_status_seq is 'Ordering key (event_seq) of newest_status.';
comment on column connection_summary.run_fold.terminal_at is 'Ordering key (time) of the terminal event.';
comment on column connection_summary.run_fold.failure_at is 'Ordering key (time) of failure_reason.';
comment on column connection_summary.run_fold.failure_seq is 'Ordering key (event_seq) of failure_reason.';
comment on column connection_summary.run_fold.profile_at is 'Ordering key (time) of surface_profile_key.';
comment on column connection_summary.run_fold.profile_seq is 'Ordering key (event_seq) of surface_profile_key.';
comment on column connection_summary.run_fold.surface_at is 'Ordering key (time) of the surface fields.';
comment on column connection_summary.run_fold.surface_seq is 'Ordering key (event_seq) of the surface fields.';
comment on column connection_summary.run_fold.explicit_at is 'Ordering key (time) of explicit_connection_id.';
comment on column connection_summary.run_fold.explicit_seq is 'Ordering key (event_seq) of explicit_connection_id.';
