-- The summary of one stored connection state at p_now, shared by the
-- overview (p_deep = false) and the scoped read (p_deep = true). That is the
-- only difference between them: the scoped read's run summaries carry
-- known_gaps and collection_facts. Both read the state's stored heads (the
-- tests compare them with the head rule evaluated now, state_heads(p_live))
-- and hand their evidence to the one row builder.
--
-- An inlinable SQL function: a reader joins it laterally to the state rows it
-- scanned, so a read is one statement whatever the number of connections.
-- A stored state's three head run ids: the stored ones, or (p_live) the head
-- rule evaluated now on run_evidence (what the stored ones must equal; the
-- property tests and cs_test compare them).
create or replace function connection_summary.state_heads(
    p_state connection_summary.connection_states,
    p_live boolean
)
returns table (latest_run_id text, succeeded_run_id text, terminal_run_id text)
language sql
stable
parallel safe
as $$
    select p_state.latest_run_id, p_state.succeeded_run_id, p_state.terminal_run_id
    where not p_live
    union all
    select h.latest_run_id, h.succeeded_run_id, h.terminal_run_id
    from connection_summary.connection_heads(
        p_owner_id => p_state.owner_id,
        p_connector_id => p_state.connector_id,
        p_connection_id => p_state.connector_instance_id,
        p_profile_key => p_state.profile_key,
        p_owns_unclaimed_runs => p_state.owns_unclaimed_runs,
        p_live => true
    ) as h
    where p_live
$$;

create or replace function connection_summary.summarize(
    p_state connection_summary.connection_states,
    p_now timestamptz,
    p_deep boolean
)
returns setof connection_summary.summary
language sql
stable
parallel safe
as $$
    select b.*
    from connection_summary.state_heads(p_state => p_state, p_live => false) as heads
    cross join lateral connection_summary.connection_runs(
        p_owner_id => p_state.owner_id,
        p_connector_id => p_state.connector_id,
        p_latest_run_id => heads.latest_run_id,
        p_succeeded_run_id => heads.succeeded_run_id,
        p_terminal_run_id => heads.terminal_run_id,
        p_now => p_now,
        p_deep => p_deep
    ) as r
    cross join lateral connection_summary.build_summary(
        p_state => p_state,
        p_depth => case when p_deep then 'deep' else 'overview' end,
        p_now => p_now,
        p_last_run => r.last_run,
        p_last_successful_run => r.last_successful_run,
        p_last_terminal_run => r.last_terminal_run
    ) as b
$$;
