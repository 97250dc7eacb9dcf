-- The ONE row builder: every connection_summary.summary row, shallow or deep,
-- is made here from a connection's stored state, its three head runs and the
-- read time. A list of columns: each rule is its own function
-- (200_projection_rules.sql), and everything that does not depend on p_now
-- was computed when the state was stored (connection_states).
--
-- It is a set-returning SQL function returning exactly one row so that the
-- planner inlines it into the reading statement: no nested statement per
-- connection. The `offset 0` fences keep each intermediate value (schedule,
-- freshness, coverage, health) a plain column, so the rule functions that read
-- it are inlined too rather than re-evaluated.
create or replace function connection_summary.build_summary(
    p_state connection_summary.connection_states,
    p_depth text,
    p_now timestamptz,
    p_last_run jsonb,
    p_last_successful_run jsonb,
    p_last_terminal_run jsonb
)
returns setof connection_summary.summary
language sql
stable
parallel safe
as $$
    select
        p_state.connector_instance_id,
        p_state.connector_instance_id,
        p_state.connector_id,
        p_state.owner_id,
        p_state.display_name,
        p_state.connector_display_name,
        p_state.status,
        p_state.source_kind,
        p_state.created_at,
        p_state.revoked_at,
        p_depth,
        p_now,
        p_state.cursor,
        p_state.streams,
        p_state.stream_records,
        p_state.stream_count,
        p_state.total_records,
        p_state.total_records_state,
        p_state.retained_bytes,
        p_state.total_retained_bytes,
        sc.schedule,
        p_last_run,
        p_last_successful_run,
        fr.freshness,
        cv.coverage,
        h.health,
        connection_summary.rendered_verdict(p_health => h.health, p_tone => t.tone, p_coverage => cv.coverage)
    from (
        select
            connection_summary.schedule_at(p_state => p_state, p_now => p_now) as schedule,
            at.attention,
            connection_summary.surface_lease(p_state => p_state) as surface_lease
        from (select 1) as one
        left join lateral connection_summary.attention_at(
            p_candidates => p_state.attention_candidates, p_now => p_now
        ) as at on true
        offset 0
    ) as sc
    cross join lateral (
        select connection_summary.freshness(
            p_last_run => p_last_run,
            p_last_successful_run => p_last_successful_run,
            p_schedule_last_successful_at => p_state.schedule_last_successful_at,
            p_schedule_last_started_at => p_state.schedule_last_started_at,
            p_maximum_staleness_seconds => p_state.maximum_staleness_seconds,
            p_now => p_now
        ) as freshness
        offset 0
    ) as fr
    cross join lateral (
        select connection_summary.coverage(
            p_has_terminal_detail_gap => p_state.has_terminal_detail_gap,
            p_has_open_detail_gap => p_state.has_open_detail_gap,
            p_last_terminal_run => p_last_terminal_run
        ) as coverage
        offset 0
    ) as cv
    cross join lateral (
        select connection_summary.connection_health(
            p_connection_status => p_state.status,
            p_schedule => sc.schedule,
            p_schedule_active_run_id => p_state.schedule_active_run_id,
            p_attention => sc.attention,
            p_last_run => p_last_run,
            p_freshness => fr.freshness,
            p_coverage => cv.coverage,
            p_surface_lease => sc.surface_lease,
            p_now => p_now
        ) as health
        offset 0
    ) as h
    cross join lateral (
        select connection_summary.verdict_tone(
            p_state => h.health ->> 'state',
            p_coverage => cv.coverage,
            p_freshness_status => fr.freshness ->> 'status'
        ) as tone
        offset 0
    ) as t
$$;
