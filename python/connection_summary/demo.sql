-- Demo data set: two owners, realistic connections in every interesting state.
-- Timestamps are relative to now() so that `connection-summary demo` shows
-- live states. Loaded by `connection-summary demo` into a migrated database.

insert into connection_summary.connectors (connector_id, display_name, manifest) values
(
    'gmail', 'Gmail',
    '{"streams": [{"name": "messages"}, {"name": "labels"}, {"name": "attachments", "required": false}],
      "refresh_policy": {"maximum_staleness_seconds": 21600, "background_safe": true,
                         "recommended_mode": "background"}}'
),
(
    'chase', 'Chase Bank',
    '{"streams": [{"name": "transactions"}, {"name": "statements"}],
      "refresh_policy": {"maximum_staleness_seconds": 86400, "background_safe": false,
                         "recommended_mode": "interactive"},
      "browser_surface": {"profile_key": "chase-web"}}'
),
(
    'github', 'GitHub',
    '{"streams": [{"name": "repositories"}, {"name": "issues"}],
      "refresh_policy": {"maximum_staleness_seconds": 86400}}'
),
(
    'slack', 'Slack',
    '{"streams": [{"name": "channels"}, {"name": "messages"}],
      "refresh_policy": {"maximum_staleness_seconds": 3600}}'
),
(
    'dropbox', 'Dropbox',
    '{"streams": [{"name": "files"}], "refresh_policy": {"maximum_staleness_seconds": 86400}}'
),
(
    'outlook', 'Outlook',
    '{"streams": [{"name": "messages"}], "refresh_policy": {"maximum_staleness_seconds": 21600}}'
),
('twitter', 'Twitter', '{"streams": [{"name": "tweets"}]}'),
('notion', 'Notion', '{}');

insert into connection_summary.connections
(connector_instance_id, owner_id, connector_id, display_name, status, source_kind, created_at, revoked_at)
values
('gmail-personal', 'alice', 'gmail', 'Personal mail', 'active', 'account', now() - interval '90 days', null),
('chase-checking', 'alice', 'chase', 'Chase checking', 'active', 'browser_collector',
    now() - interval '60 days', null),
('chase-savings', 'alice', 'chase', 'Chase savings', 'active', 'browser_collector',
    now() - interval '59 days', null),
('github-work', 'alice', 'github', null, 'active', 'account', now() - interval '30 days', null),
('slack-team', 'alice', 'slack', 'Team Slack', 'active', 'account', now() - interval '20 days', null),
('dropbox-main', 'alice', 'dropbox', null, 'active', 'account', now() - interval '10 days', null),
('outlook-work', 'alice', 'outlook', 'Work mail', 'active', 'account', now() - interval '5 days', null),
('twitter-old', 'alice', 'twitter', null, 'revoked', 'account', now() - interval '400 days',
    now() - interval '100 days'),
('notion-draft', 'alice', 'notion', null, 'draft', 'account', now() - interval '1 day', null),
('gmail-bob', 'bob', 'gmail', 'Bob''s mail', 'active', 'account', now() - interval '45 days', null);

-- Runs. Helper shape: (owner, connector, run, type, status, at, instance, data).
insert into connection_summary.spine_events
(owner_id, event_type, status, source_kind, source_id, run_id, occurred_at, connector_instance_id, data)
values
-- gmail-personal: healthy, last success 40 minutes ago, full coverage.
('alice', 'run.started', 'started', 'connector', 'gmail', 'run-g-1', now() - interval '26 hours',
    'gmail-personal', '{}'),
('alice', 'run.completed', 'succeeded', 'connector', 'gmail', 'run-g-1', now() - interval '25 hours 50 minutes',
    'gmail-personal', '{"collection_facts": {"streams": [{"stream": "messages", "collected": 120, "considered": 120}]}}'),
('alice', 'run.started', 'started', 'connector', 'gmail', 'run-g-2', now() - interval '45 minutes',
    'gmail-personal', '{}'),
('alice', 'run.progress_reported', 'progress', 'connector', 'gmail', 'run-g-2', now() - interval '42 minutes',
    'gmail-personal', '{"stream": "messages", "collected": 30}'),
('alice', 'run.completed', 'succeeded', 'connector', 'gmail', 'run-g-2', now() - interval '40 minutes',
    'gmail-personal',
    '{"known_gaps": [],
      "collection_facts": {"streams": [{"stream": "messages", "collected": 58, "considered": 58},
                                       {"stream": "labels", "collected": 12, "considered": 12}]}}'),
-- chase-checking: a browser run stamped with its own profile key, succeeded.
('alice', 'run.started', 'started', 'connector', 'chase', 'run-c-1', now() - interval '3 hours', null, '{}'),
('alice', 'run.browser_surface_leased', 'leased', 'connector', 'chase', 'run-c-1',
    now() - interval '3 hours' + interval '5 seconds', null,
    '{"browser_surface": {"browser_surface_profile_key": "chase-web:chase-checking",
      "browser_surface_status": "leased", "browser_surface_lease_id": "lease-11"}}'),
('alice', 'run.completed', 'succeeded', 'connector', 'chase', 'run-c-1', now() - interval '2 hours 55 minutes',
    null, '{"known_gaps": []}'),
-- chase-savings: its sibling's browser profile was busy; the surface failed.
('alice', 'run.browser_surface_waiting', 'waiting_for_browser_surface', 'connector', 'chase', 'run-c-2',
    now() - interval '35 minutes', null,
    '{"browser_surface": {"browser_surface_profile_key": "chase-web:chase-savings",
      "browser_surface_status": "waiting_for_browser_surface",
      "browser_surface_wait_reason": "profile_in_use_by_sibling_run", "browser_surface_lease_id": "lease-12"}}'),
('alice', 'run.browser_surface_failed', 'surface_failed', 'connector', 'chase', 'run-c-2',
    now() - interval '30 minutes', null,
    '{"browser_surface": {"browser_surface_profile_key": "chase-web:chase-savings",
      "browser_surface_status": "surface_failed",
      "browser_surface_wait_reason": "profile_in_use_by_sibling_run", "browser_surface_lease_id": "lease-12"}}'),
-- github-work: last success three days ago, policy is one day: stale.
('alice', 'run.started', 'started', 'connector', 'github', 'run-h-1', now() - interval '3 days 1 minute', null, '{}'),
('alice', 'run.completed', 'succeeded', 'connector', 'github', 'run-h-1', now() - interval '3 days', null,
    '{"known_gaps": []}'),
-- slack-team: rate limited three times, backing off.
('alice', 'run.started', 'started', 'connector', 'slack', 'run-s-1', now() - interval '2 days', 'slack-team', '{}'),
('alice', 'run.completed', 'succeeded', 'connector', 'slack', 'run-s-1', now() - interval '2 days' + interval '3 minutes',
    'slack-team', '{}'),
('alice', 'run.started', 'started', 'connector', 'slack', 'run-s-2', now() - interval '25 minutes', 'slack-team', '{}'),
('alice', 'run.failed', 'failed', 'connector', 'slack', 'run-s-2', now() - interval '24 minutes', 'slack-team',
    '{"reason": "rate_limited", "known_gaps": [{"stream": "messages", "reason": "rate_limited", "severity": "recoverable"}]}'),
-- dropbox-main: ran fine, but the owner must confirm a new folder scope.
('alice', 'run.started', 'started', 'connector', 'dropbox', 'run-d-1', now() - interval '5 hours', null, '{}'),
('alice', 'run.completed', 'succeeded', 'connector', 'dropbox', 'run-d-1', now() - interval '4 hours 58 minutes',
    null, '{}'),
-- outlook-work: the token expired: blocked until the owner signs in again.
('alice', 'run.started', 'started', 'connector', 'outlook', 'run-o-1', now() - interval '2 hours', 'outlook-work', '{}'),
('alice', 'run.failed', 'failed', 'connector', 'outlook', 'run-o-1', now() - interval '2 hours' + interval '4 seconds',
    'outlook-work', '{"reason": "oauth_token_expired"}'),
-- bob reuses a run id of alice's: owner isolation keeps them apart.
('bob', 'run.started', 'started', 'connector', 'gmail', 'run-g-2', now() - interval '6 hours', 'gmail-bob', '{}'),
('bob', 'run.failed', 'failed', 'connector', 'gmail', 'run-g-2', now() - interval '5 hours 59 minutes', 'gmail-bob',
    '{"reason": "imap_connection_reset"}');

insert into connection_summary.retained_size_streams
(connector_instance_id, stream, owner_id, connector_id, record_count, current_record_json_bytes,
    record_history_json_bytes, blob_bytes, last_record_updated_at, dirty)
values
('gmail-personal', 'messages', 'alice', 'gmail', 18234, 52428800, 7340032, 209715200,
    now() - interval '40 minutes', false),
('gmail-personal', 'labels', 'alice', 'gmail', 42, 16384, 2048, 0, now() - interval '40 minutes', false),
('chase-checking', 'transactions', 'alice', 'chase', 1311, 1048576, 65536, 0, now() - interval '3 hours', false),
('chase-checking', 'statements', 'alice', 'chase', 24, 49152, 0, 8388608, now() - interval '3 hours', false),
('github-work', 'repositories', 'alice', 'github', 57, 262144, 131072, 0, now() - interval '3 days', false),
('github-work', 'issues', 'alice', 'github', 0, 0, 0, 0, now() - interval '3 days', false),
('slack-team', 'messages', 'alice', 'slack', 9120, 8388608, 1048576, 0, now() - interval '2 days', true),
('gmail-bob', 'messages', 'bob', 'gmail', 311, 1048576, 0, 0, now() - interval '7 days', false);

insert into connection_summary.retained_size_connections
(connector_instance_id, owner_id, current_record_json_bytes, record_history_json_bytes, blob_bytes, dirty)
values
('gmail-personal', 'alice', 52445184, 7342080, 209715200, false),
('chase-checking', 'alice', 1097728, 65536, 8388608, false),
('github-work', 'alice', 262144, 131072, 0, false),
('slack-team', 'alice', 8388608, 1048576, 0, true),
('gmail-bob', 'bob', 1048576, 0, 0, false);

insert into connection_summary.schedules
(connector_instance_id, owner_id, enabled, interval_seconds, next_due_at, last_started_at, last_finished_at,
    last_successful_at, last_error_code, active_run_id, consecutive_failures, backoff_next_run_at,
    backoff_reason_class)
values
('gmail-personal', 'alice', true, 3600, now() + interval '20 minutes', now() - interval '45 minutes',
    now() - interval '40 minutes', now() - interval '40 minutes', null, null, 0, null, null),
('chase-checking', 'alice', true, 21600, now() + interval '3 hours', now() - interval '3 hours',
    now() - interval '2 hours 55 minutes', now() - interval '2 hours 55 minutes', null, null, 0, null, null),
('chase-savings', 'alice', true, 21600, now() + interval '5 hours', now() - interval '35 minutes',
    now() - interval '30 minutes', null, 'surface_failed', null, 1, null, null),
('github-work', 'alice', true, 86400, now() - interval '2 days', now() - interval '3 days',
    now() - interval '3 days', now() - interval '3 days', null, null, 0, null, null),
('slack-team', 'alice', true, 1800, now() + interval '5 minutes', now() - interval '25 minutes',
    now() - interval '24 minutes', now() - interval '2 days', 'rate_limited', null, 3,
    now() + interval '20 minutes', 'rate_limited'),
('dropbox-main', 'alice', true, 86400, now() + interval '19 hours', now() - interval '5 hours',
    now() - interval '4 hours 58 minutes', now() - interval '4 hours 58 minutes', null, null, 0, null, null),
('outlook-work', 'alice', true, 21600, now() + interval '4 hours', now() - interval '2 hours',
    now() - interval '2 hours', null, 'auth', null, 1, null, null),
('gmail-bob', 'bob', true, 3600, now() + interval '10 minutes', now() - interval '6 hours',
    now() - interval '5 hours 59 minutes', now() - interval '7 days', 'imap', null, 1, null, null);

insert into connection_summary.detail_gaps
(gap_id, owner_id, connector_instance_id, stream, status, reason, next_attempt_at)
values
('gap-1', 'alice', 'slack-team', 'messages', 'pending', 'rate_limited', now() + interval '20 minutes'),
('gap-2', 'alice', 'gmail-personal', 'attachments', 'recovered', 'timeout', null);

insert into connection_summary.attention_records
(attention_id, owner_id, connector_instance_id, lifecycle, reason_code, response_required, owner_action,
    expires_at, created_at)
values
('att-1', 'alice', 'dropbox-main', 'open', 'confirm_new_folder_scope', true, 'add_info',
    now() + interval '7 days', now() - interval '4 hours'),
('att-2', 'alice', 'gmail-personal', 'resolved', 'confirm_label_mapping', true, 'add_info',
    null, now() - interval '30 days');

insert into connection_summary.browser_surface_leases
(lease_id, owner_id, connector_id, profile_key, run_id, status, wait_reason, requested_at)
values
('lease-11', 'alice', 'chase', 'chase-web:chase-checking', 'run-c-1', 'released', null,
    now() - interval '3 hours'),
('lease-12', 'alice', 'chase', 'chase-web:chase-savings', 'run-c-2', 'surface_failed',
    'profile_in_use_by_sibling_run', now() - interval '35 minutes');

insert into connection_summary.active_runs (run_id, owner_id, connector_instance_id, lease_expires_at)
values ('run-g-3', 'alice', 'gmail-personal', now() + interval '10 minutes');
