-- Evidence gathering shared by the overview and the scoped read.
--
-- One statement. The caller has already read the connections and connectors
-- in scope (overview_scope(), connection_scope()) and passes them in; every
-- other input table is read once, as a set, restricted to the owner and to
-- those connections (index scans on (owner_id, connector_instance_id)); the
-- rows are joined per connection and handed to the one row builder. The
-- overview passes a page and p_deep = false; the scoped read passes one
-- connection and p_deep = true. That is the only difference between them: the
-- run path (stored heads vs. the deep head lookup) follows p_deep, see
-- attributed_runs().

create or replace function connection_summary.connection_summaries(
    p_owner_id text,
    p_connections connection_summary.connections[],
    p_connectors connection_summary.connectors[],
    p_sole_active_connectors text[],
    p_now timestamptz,
    p_deep boolean
)
returns setof connection_summary.summary
language sql
stable
parallel safe
as $$
    with scope as materialized (
        select coalesce(array_agg(c.connector_instance_id), '{}') as ids
        from unnest(p_connections) as c
    ),

    stream_rows as materialized (
        select
            s.connector_instance_id,
            jsonb_agg(jsonb_build_object(
                'stream', s.stream, 'record_count', s.record_count, 'dirty', s.dirty
            )) as stream_rows
        from connection_summary.retained_size_streams as s
        where s.owner_id = p_owner_id and s.connector_instance_id = any((select scope.ids from scope)::text[])
        group by s.connector_instance_id
    ),

    retained as materialized (
        select r.connector_instance_id, r as size_row
        from connection_summary.retained_size_connections as r
        where r.owner_id = p_owner_id and r.connector_instance_id = any((select scope.ids from scope)::text[])
    ),

    schedules as materialized (
        select s.connector_instance_id, s as schedule_row
        from connection_summary.schedules as s
        where s.owner_id = p_owner_id and s.connector_instance_id = any((select scope.ids from scope)::text[])
    ),

    -- The attention record that asks the owner for something now: open,
    -- acknowledged or in progress, unexpired, needing a response or an action.
    attention as materialized (
        select distinct on (a.connector_instance_id)
            a.connector_instance_id,
            jsonb_build_object(
                'attention_id', a.attention_id,
                'reason_code', a.reason_code,
                'response_required', a.response_required,
                'owner_action', a.owner_action
            ) as attention
        from connection_summary.attention_records as a
        where a.owner_id = p_owner_id and a.connector_instance_id = any((select scope.ids from scope)::text[])
            and a.lifecycle in ('open', 'acknowledged', 'in_progress')
            and (a.expires_at is null or a.expires_at > p_now)
            and (a.response_required or a.owner_action is not null)
        order by a.connector_instance_id, a.created_at desc, a.attention_id desc
    ),

    gaps as materialized (
        select
            g.connector_instance_id,
            bool_or(g.status = 'terminal') as has_terminal,
            bool_or(g.status in ('pending', 'in_progress')) as has_open
        from connection_summary.detail_gaps as g
        where g.owner_id = p_owner_id and g.connector_instance_id = any((select scope.ids from scope)::text[])
        group by g.connector_instance_id
    ),

    conns as materialized (
        select
            c::connection_summary.connections as connection,
            k::connection_summary.connectors as connector,
            connection_summary.expected_profile_key(
                p_connector_id => c.connector_id,
                p_connector_instance_id => c.connector_instance_id,
                p_manifest => k.manifest
            ) as profile_key
        from unnest(p_connections) as c
        inner join unnest(p_connectors) as k on c.connector_id = k.connector_id
        where c.owner_id = p_owner_id and c.status <> 'draft'
    ),

    -- Each connection's newest lease that is not finished (released, expired
    -- or cancelled), found by its expected browser profile key.
    leases as materialized (
        select distinct on (l.profile_key)
            l.profile_key,
            jsonb_build_object(
                'lease_id', l.lease_id, 'status', l.status, 'wait_reason', l.wait_reason,
                'requested_at', l.requested_at
            ) as lease
        from connection_summary.browser_surface_leases as l
        where l.owner_id = p_owner_id
            and l.profile_key = any(array(select conns.profile_key from conns))
            and l.status not in ('released', 'expired', 'cancelled')
        order by l.profile_key, l.requested_at desc, l.lease_id desc
    ),

    runs as materialized (
        select *
        from connection_summary.attributed_runs(
            p_owner_id => p_owner_id,
            p_connections => p_connections,
            p_connectors => p_connectors,
            p_sole_active_connectors => p_sole_active_connectors,
            p_now => p_now,
            p_deep => p_deep
        )
    )

    select b.*
    from conns as c
    left join stream_rows as sr on (c.connection).connector_instance_id = sr.connector_instance_id
    left join retained as rt on (c.connection).connector_instance_id = rt.connector_instance_id
    left join schedules as sc on (c.connection).connector_instance_id = sc.connector_instance_id
    left join attention as at on (c.connection).connector_instance_id = at.connector_instance_id
    left join gaps as g on (c.connection).connector_instance_id = g.connector_instance_id
    left join leases as l on c.profile_key = l.profile_key
    left join runs as r on (c.connection).connector_instance_id = r.connector_instance_id
    cross join lateral connection_summary.build_summary(
        p_connection => c.connection,
        p_connector => c.connector,
        p_depth => case when p_deep then 'deep' else 'overview' end,
        p_now => p_now,
        p_stream_rows => sr.stream_rows,
        p_retained => rt.size_row,
        p_schedule => sc.schedule_row,
        p_last_run => r.last_run,
        p_last_successful_run => r.last_successful_run,
        p_last_terminal_run => r.last_terminal_run,
        p_attention => at.attention,
        p_has_terminal_detail_gap => g.has_terminal,
        p_has_open_detail_gap => g.has_open,
        p_surface_lease => l.lease
    ) as b
    order by
        (c.connection).connector_id,
        (c.connection).created_at,
        (c.connection).connector_instance_id
$$;
