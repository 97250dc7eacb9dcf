-- The ONE row builder (CONTRACT §3): every connection_summary.summary row,
-- shallow or deep, is made here from evidence its caller already gathered.
--
-- It is a set-returning SQL function returning exactly one row so that the
-- planner inlines it into the gathering query (see 220_connection_summaries.sql):
-- no nested statement per connection. The `offset 0` fences keep each
-- intermediate value (freshness, coverage, health, tone) a plain column, so
-- the rule functions that read it are inlined too rather than re-evaluated.

create or replace function connection_summary.build_summary(
    p_connection connection_summary.connections,
    p_connector connection_summary.connectors,
    p_depth text,
    p_now timestamptz,
    p_stream_rows jsonb,
    p_retained connection_summary.retained_size_connections,
    p_schedule connection_summary.schedules,
    p_last_run jsonb,
    p_last_successful_run jsonb,
    p_last_terminal_run jsonb,
    p_attention jsonb,
    p_has_terminal_detail_gap boolean,
    p_has_open_detail_gap boolean,
    p_surface_lease jsonb
)
returns setof connection_summary.summary
language sql
stable
parallel safe
as $$
    select
        (p_connection).connector_instance_id,
        (p_connection).connector_instance_id,
        (p_connection).connector_id,
        (p_connection).owner_id,
        coalesce((p_connection).display_name, (p_connector).display_name, (p_connection).connector_id),
        coalesce((p_connector).display_name, (p_connection).connector_id),
        (p_connection).status,
        (p_connection).source_kind,
        (p_connection).created_at,
        (p_connection).revoked_at,
        p_depth,
        p_now,
        connection_summary.cursor_encode(
            p_owner_id => (p_connection).owner_id,
            p_connector_id => (p_connection).connector_id,
            p_created_at => (p_connection).created_at,
            p_connector_instance_id => (p_connection).connector_instance_id
        ),
        st.streams,
        st.stream_records,
        st.stream_count,
        case when st.total_records_state in ('known', 'known_zero') then st.record_sum end,
        st.total_records_state,
        rb.retained_bytes,
        (rb.retained_bytes ->> 'total_bytes')::bigint,
        sc.schedule,
        p_last_run,
        p_last_successful_run,
        fr.freshness,
        cv.coverage,
        h.health,
        connection_summary.rendered_verdict(p_health => h.health, p_tone => t.tone, p_coverage => cv.coverage)
    from (
        -- Declared streams in manifest order, merged with the observed
        -- retained-size rows: a count is reported only where it was observed.
        select
            coalesce(
                (array_agg(d.stream order by d.ord) filter (where d.stream is not null)),
                '{}'::text[]
            ) as streams,
            coalesce(jsonb_agg(jsonb_build_object(
                'stream', coalesce(d.stream, o.stream),
                'record_count', o.record_count,
                'count_state', case
                    when o.stream is null or (o.record_count is null and not o.dirty) then 'unobserved'
                    when o.dirty then 'stale'
                    when o.record_count > 0 then 'known'
                    else 'known_zero'
                end
            ) order by d.ord nulls last, coalesce(d.stream, o.stream)), '[]'::jsonb) as stream_records,
            count(o.stream)::int as stream_count,
            sum(o.record_count) as record_sum,
            case
                when count(o.stream) = 0 then 'unobserved'
                when bool_or(o.dirty) filter (where o.stream is not null) then 'stale'
                when bool_and(o.record_count is null) filter (where o.stream is not null)
                    then 'unobserved'
                -- A row without a count next to counted ones: the sum would be a guess.
                when bool_or(o.record_count is null) filter (where o.stream is not null)
                    then 'stale'
                -- Counts whose sum no bigint holds: no total can be reported.
                when sum(o.record_count) > 9223372036854775807 then 'stale'
                when sum(o.record_count) > 0 then 'known'
                else 'known_zero'
            end as total_records_state
        from (
            select s.item ->> 'name' as stream, s.ord
            from jsonb_array_elements(
                case when jsonb_typeof((p_connector).manifest -> 'streams') = 'array'
                    then (p_connector).manifest -> 'streams' else '[]'::jsonb end
            ) with ordinality as s (item, ord)
            where jsonb_typeof(s.item) = 'object' and s.item ->> 'name' is not null
        ) as d
        full join (
            select
                r.row ->> 'stream' as stream,
                (r.row ->> 'record_count')::bigint as record_count,
                coalesce((r.row ->> 'dirty')::boolean, false) as dirty
            from jsonb_array_elements(coalesce(p_stream_rows, '[]'::jsonb)) as r (row)
        ) as o on d.stream = o.stream
    ) as st
    cross join lateral (
        -- Never a made-up 0: a missing, dirty or incomplete size row is NULL.
        select case
            when (p_retained).connector_instance_id is null or (p_retained).dirty
                or (p_retained).current_record_json_bytes is null
                or (p_retained).record_history_json_bytes is null
                or (p_retained).blob_bytes is null
                then null
            else jsonb_build_object(
                'record_json_bytes', (p_retained).current_record_json_bytes,
                'record_changes_json_bytes', (p_retained).record_history_json_bytes,
                'blob_bytes', (p_retained).blob_bytes,
                'total_bytes', (p_retained).current_record_json_bytes
                + (p_retained).record_history_json_bytes + (p_retained).blob_bytes
            )
        end as retained_bytes
        offset 0
    ) as rb
    cross join lateral (
        select case when (p_schedule).connector_instance_id is not null then jsonb_build_object(
            'enabled', (p_schedule).enabled,
            'interval_seconds', (p_schedule).interval_seconds,
            'next_due_at', (p_schedule).next_due_at,
            'backoff', jsonb_build_object(
                'active', coalesce((p_schedule).backoff_next_run_at > p_now, false),
                'consecutive_failures', (p_schedule).consecutive_failures,
                'next_run_at', (p_schedule).backoff_next_run_at,
                'reason_class', (p_schedule).backoff_reason_class
            )
        ) end as schedule
        offset 0
    ) as sc
    cross join lateral (
        select connection_summary.freshness(
            p_last_run => p_last_run,
            p_last_successful_run => p_last_successful_run,
            p_schedule_last_successful_at => (p_schedule).last_successful_at,
            p_schedule_last_started_at => (p_schedule).last_started_at,
            p_maximum_staleness_seconds => case
                when jsonb_typeof((p_connector).manifest #> '{refresh_policy,maximum_staleness_seconds}')
                = 'number'
                    then ((p_connector).manifest #>> '{refresh_policy,maximum_staleness_seconds}')::numeric
            end,
            p_now => p_now
        ) as freshness
        offset 0
    ) as fr
    cross join lateral (
        select connection_summary.coverage(
            p_has_terminal_detail_gap => coalesce(p_has_terminal_detail_gap, false),
            p_has_open_detail_gap => coalesce(p_has_open_detail_gap, false),
            p_last_terminal_run => p_last_terminal_run
        ) as coverage
        offset 0
    ) as cv
    cross join lateral (
        select connection_summary.connection_health(
            p_connection_status => (p_connection).status,
            p_schedule => sc.schedule,
            p_schedule_active_run_id => (p_schedule).active_run_id,
            p_attention => p_attention,
            p_last_run => p_last_run,
            p_freshness => fr.freshness,
            p_coverage => cv.coverage,
            p_surface_lease => p_surface_lease,
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
