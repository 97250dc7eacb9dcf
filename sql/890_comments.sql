-- A COMMENT on every function, aggregate and view of the schema that its own
-- file does not comment: what it is for (tests/test_comments.py fails for any
-- routine without one). Applied with the routines, after all of them and
-- before the privileges. Tables, columns and types: sql/065_comments.sql and
-- migration 0007.

comment on function connection_summary.fold_key_newer(timestamptz, bigint, timestamptz, bigint) is
'The fold''s ordering rule: is one event key newer than another? It lets folds merge in any order.';

comment on aggregate connection_summary.fold_events(connection_summary.spine_events) is -- noqa: LT01
'The fold of a set of events of one run (fold_event over them): what the trigger stores and run_evidence_live shows.';

comment on aggregate connection_summary.merged_folds(connection_summary.run_fold) is -- noqa: LT01
'Folds of disjoint sets of events of one run merged into one (merge_folds), at commit.';

comment on function connection_summary.run_claim_heads(text, text, text, text, text) is
'The head rule, written once: the latest, latest succeeded and latest terminal run of one attribution claim, for the stored heads and the deep read.';

comment on function connection_summary.stored_fold(connection_summary.run_evidence) is
'A stored run row as a fold, so that new events merge into it without its old events.';

comment on function connection_summary.refresh_claim_heads(jsonb) is
'Keeps run_heads equal to its definition for the claims whose runs a commit changed.';

comment on function connection_summary.run_fold_definition_md5() is
'Fingerprint of the fold''s definition: the routines step rebuilds the read model when it changes.';

comment on function connection_summary.spine_events_append_only() is
'Trigger: refuses UPDATE and DELETE on spine_events, which would silently desynchronize the read model.';

comment on function connection_summary.spine_events_truncated() is
'Trigger: empties the run read model with spine_events on TRUNCATE.';

comment on function connection_summary.expected_profile_key(text, text, jsonb) is
'The browser profile key a connection''s runs are stamped with: attribution rule 1 (docs/contract.md, Attribution).';

comment on function connection_summary.run_status(text, boolean, timestamptz, timestamptz) is
'A run''s status at the read time: settled, in_progress under a live lease, else failed (an orphan).';

comment on function connection_summary.run_summary(connection_summary.run_evidence, timestamptz, timestamptz, boolean) is
'The run summary object of last_run, last_successful_run and recent_runs, shallow or deep.';

comment on function connection_summary.notify_owner_changes() is
'Trigger of the opt-in change notifications: tells listening caches which owner''s inputs changed.';

comment on function connection_summary.freshness(jsonb, jsonb, timestamptz, timestamptz, numeric, timestamptz) is
'The freshness rule: current, stale or unknown, with captured_at and last_attempted_at (docs/contract.md, Freshness).';

comment on function connection_summary.coverage(boolean, boolean, jsonb) is
'The coverage rule: complete, partial, retryable_gap, terminal_gap or unknown (docs/contract.md, Coverage).';

comment on function connection_summary.is_credential_failure(text) is
'Does a failure reason look like rejected credentials? Such a failure blocks the connection until the owner signs in again.';

comment on function connection_summary.connection_health(text, jsonb, text, jsonb, jsonb, jsonb, text, jsonb, timestamptz) is
'The health ladder: state, reason code and next action, first match wins, with axes and badges (docs/contract.md, Health).';

comment on function connection_summary.verdict_tone(text, text, text) is
'The pill tone: the worst of the state''s, the coverage''s and the freshness''s tones (docs/contract.md, Verdict).';

comment on function connection_summary.rendered_verdict(jsonb, text, text) is
'What to show the owner: pill, channel, forward statement and required actions (docs/contract.md, Verdict).';

comment on function connection_summary.cursor_check(text, text) is
'The integrity check that binds a cursor to its owner and makes tampering a clear error.';

comment on function connection_summary.cursor_payload(text, timestamptz, text) is
'The keyset position of an overview row, exact and independent of the session time zone.';

comment on function connection_summary.cursor_encode(text, text, timestamptz, text) is
'The opaque, owner-bound cursor of an overview row.';

comment on function connection_summary.cursor_decode(text, text) is
'The position a cursor names; refuses (22023) a cursor that was altered or issued for another owner.';

comment on function connection_summary.check_id(text, text) is
'Refuses (22023) an owner or route id that is not 1 to 256 characters, before any table is read.';

comment on function connection_summary.overview(text, timestamptz, integer, text) is
'Read API: every non-draft connection of an owner, shallow, keyset-paged (docs/sql-api.md).';

comment on function connection_summary.resolve_route(text, text) is
'Route resolution: a connection id, else a connector id the owner has exactly one non-draft connection of.';

comment on function connection_summary.for_route(text, text, timestamptz) is
'Read API: one connection by route, deep; 0 or 1 row (docs/sql-api.md).';

comment on function connection_summary.recent_runs(text, text, timestamptz, integer) is
'The runs attributed to a connection, newest first, for diagnostics.';

comment on function connection_summary.diagnostics(text, text, timestamptz, integer) is
'Read API: one connection''s deep summary plus its recent runs and the latest run''s events, as jsonb (docs/sql-api.md).';

comment on function connection_summary.overview_json(text, timestamptz, integer, text) is
'Read API: overview() as a JSON array (docs/sql-api.md).';

comment on function connection_summary.for_route_json(text, text, timestamptz) is
'Read API: for_route() as a JSON object, NULL when the route resolves to nothing (docs/sql-api.md).';

comment on view connection_summary.run_evidence_live is
'The fold of every run computed live from spine_events: the definition run_evidence is kept equal to (filter it on its key columns).';

comment on view connection_summary.run_heads_live is
'run_heads computed live from run_evidence: the definition run_heads is kept equal to.';

-- A live view's columns mean what the stored table's columns of the same name
-- mean: the same comments.
do $$
declare
    v record;
begin
    for v in
        select
            pg_catalog.format(
                'comment on column connection_summary.%I.%I is %L',
                views.view_name, a.attname, pg_catalog.col_description(t.attrelid, t.attnum)
            ) as statement
        from (values ('run_evidence_live', 'run_evidence'), ('run_heads_live', 'run_heads'),
            ('connection_states_live', 'connection_states'))
            as views (view_name, table_name)
        inner join pg_catalog.pg_attribute as a
            on a.attrelid = pg_catalog.to_regclass('connection_summary.' || views.view_name)
        inner join pg_catalog.pg_attribute as t
            on t.attrelid = pg_catalog.to_regclass('connection_summary.' || views.table_name)
            and a.attname = t.attname
        where a.attnum > 0 and t.attnum > 0
    loop
        execute v.statement;
    end loop;
end;
$$;

comment on function connection_summary.connection_claims(text, text, boolean) is
'The attribution rule: the run claims (profile key, connection id, unclaimed) a connection owns.';

comment on function connection_summary.owns_unclaimed_runs(text, text, text) is
'Whether a connection gets its connector''s unclaimed runs: it is the owner''s only active connection of that connector.';

comment on function connection_summary.connection_heads(text, text, text, text, boolean, boolean) is
'A connection''s latest, latest succeeded and latest terminal run over its claims, from stored run_heads or evaluated live.';

comment on function connection_summary.connection_runs(text, text, text, text, text, timestamptz, boolean) is
'The run summaries (last_run, last_successful_run, last_terminal_run) of a connection''s three head runs at p_now.';

comment on function connection_summary.run_lease(text, connection_summary.run_evidence) is
'When the active_runs lease of a started, unsettled run expires; no row for a settled run.';

comment on function connection_summary.stream_counts(jsonb, jsonb) is
'The record-count rule: declared streams merged with observed retained-size rows, with per-stream and total count states.';

comment on function connection_summary.retained_bytes(boolean, boolean, bigint, bigint, bigint) is
'The retained-size rule: the size object, or NULL for a missing, dirty or incomplete size row (never a made-up 0).';

comment on function connection_summary.maximum_staleness_seconds(jsonb) is
'The manifest''s refresh_policy.maximum_staleness_seconds when it is a number.';

comment on function connection_summary.schedule_at(connection_summary.connection_states, timestamptz) is
'The schedule object of a stored connection state at p_now (backoff active while its next run is ahead).';

comment on function connection_summary.attention_at(jsonb, timestamptz) is
'The attention record asking the owner for something at p_now: the newest open candidate not expired.';

comment on function connection_summary.surface_lease(connection_summary.connection_states) is
'The browser-surface lease object of a stored connection state.';

comment on function connection_summary.build_summary(connection_summary.connection_states, text, timestamptz, jsonb, jsonb, jsonb) is
'The one row builder: a summary row from a stored connection state, its head runs and the read time.';

comment on function connection_summary.summarize(connection_summary.connection_states, timestamptz, boolean) is
'The summary of one stored connection state at p_now, shallow (stored heads) or deep (heads evaluated now); shared by overview and for_route.';

comment on function connection_summary.refresh_connection_states(jsonb) is
'Commit-time maintenance: recomputes the connection states the transaction concerned, with every lock in one global order.';

comment on function connection_summary.queue_connection_states() is
'Statement trigger on the input tables: queues what a change concerns for the commit-time recomputation of connection_states.';

comment on function connection_summary.queue_all_connection_states() is
'Truncate trigger on the input tables: queues every stored connection for recomputation.';

comment on function connection_summary.start_maintenance() is
'Makes sure the commit trigger runs once for this transaction.';

comment on function connection_summary.rebuild_connection_states() is
'Rebuilds connection_states from its live definition (repair, upgrades); returns the number of rows.';

comment on function connection_summary.connection_states_definition_md5() is
'Fingerprint of the definition of connection_states; a change makes the installer rebuild it.';

comment on function connection_summary.state_heads(connection_summary.connection_states, boolean) is
'A stored connection state''s three head run ids: as stored, or evaluated now (the scoped read).';

comment on view connection_summary.connection_states_live is
'connection_states computed now from the input tables: what the stored rows must equal (rebuilds, the property tests).';

comment on function connection_summary.connection_state_rows() is
'The live definition of connection_states: one row per non-draft connection, from every input table.';

comment on function connection_summary.merge_queued_folds() is
'Merges the run folds this transaction queued into run_evidence and refreshes the heads of their claims.';

comment on function connection_summary.queue_every_connection_state() is
'Queues every stored connection for recomputation at commit (after a TRUNCATE of an input table).';
