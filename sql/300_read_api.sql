-- The read API (docs/contract.md §Read functions, §Scope and paging): overview, for_route, diagnostics and their
-- *_json forms. All STABLE and free of writes, so they run in read-only
-- transactions and on hot standbys.
--
-- They are the only functions readers may execute. Each is SECURITY DEFINER
-- (readers have no privilege on any table) with search_path pinned to
-- pg_catalog, so no object a caller can create is ever resolved inside them;
-- the SQL helpers they inline are parsed under that same pinned path, and
-- nobody but the package's owner may execute those helpers directly. Each
-- authorizes the reading role for the owner first (authorize_read).

-- Owner and route ids are 1 to 256 characters; anything else is the
-- caller's mistake (22023), reported before any table is read.
create or replace function connection_summary.check_id(p_what text, p_value text)
returns void
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
begin
    if p_value is null or p_value = '' or length(p_value) > 256 then
        raise exception 'invalid %: must be 1 to 256 characters', p_what
            using errcode = '22023';
    end if;
end;
$$;

-- The overview: every non-draft connection of the owner, shallow, in
-- (connector_id, created_at, connector_instance_id) order, optionally paged.
-- One statement: an index range scan of the owner's stored states after the
-- cursor's position, each summarized at p_now.
create or replace function connection_summary.overview(
    p_owner_id text,
    p_now timestamptz default now(),
    p_limit int default null,
    p_after text default null
)
returns setof connection_summary.summary
language plpgsql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
-- Plan-stable: the statement is planned once per session and its generic
-- plan (an index range scan and key lookups) reused.
set plan_cache_mode = force_generic_plan
-- Short statements whose estimates can be large (generic plans, young
-- tables without statistics): JIT compilation would cost far more than it saves.
set jit = off
as $$
declare
    v_after record;
begin
    perform connection_summary.check_id(p_what => 'owner id', p_value => p_owner_id);
    if p_limit is not null and (p_limit < 1 or p_limit > 1000) then
        raise exception 'invalid limit %: must be between 1 and 1000, or NULL for all', p_limit
            using errcode = '22023';
    end if;
    perform connection_summary.check_now(p_now => p_now);
    -- Checked here, not only while paging: a bad cursor is an error even
    -- when the owner has no connections to page through.
    select * into v_after
    from connection_summary.cursor_decode(p_owner_id => p_owner_id, p_cursor => p_after);
    perform connection_summary.authorize_read(p_owner_id => p_owner_id);
    -- Without a cursor the position is before every row: ids are never empty.
    return query
    select b.*
    from connection_summary.connection_states as s
    cross join lateral connection_summary.summarize(p_state => s, p_now => p_now, p_deep => false) as b
    where s.owner_id = p_owner_id
        and (s.connector_id, s.created_at, s.connector_instance_id) > (
            coalesce(v_after.connector_id, ''),
            coalesce(v_after.created_at, '-infinity'),
            coalesce(v_after.connector_instance_id, '')
        )
    order by s.connector_id, s.created_at, s.connector_instance_id
    limit p_limit;
end;
$$;

-- Route resolution: the exact connection id, else a connector id when exactly
-- one non-draft connection of the owner has it. NULL when neither.
create or replace function connection_summary.resolve_route(p_owner_id text, p_route_id text)
returns text
language sql
stable
parallel safe
as $$
    select coalesce(
        (
            select s.connector_instance_id
            from connection_summary.connection_states as s
            where s.owner_id = p_owner_id and s.connector_instance_id = p_route_id
        ),
        (
            select min(s.connector_instance_id)
            from connection_summary.connection_states as s
            where s.owner_id = p_owner_id and s.connector_id = p_route_id
            having count(*) = 1
        )
    )
$$;

-- The scoped read: 0 or 1 row for one connection, through the deep run path,
-- touching only that connection's rows.
create or replace function connection_summary.for_route(
    p_owner_id text,
    p_route_id text,
    p_now timestamptz default now()
)
returns setof connection_summary.summary
language plpgsql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
-- Short statements whose estimates can be large (generic plans, young
-- tables without statistics): JIT compilation would cost far more than it saves.
set jit = off
as $$
begin
    perform connection_summary.check_id(p_what => 'owner id', p_value => p_owner_id);
    perform connection_summary.check_id(p_what => 'route id', p_value => p_route_id);
    perform connection_summary.check_now(p_now => p_now);
    perform connection_summary.authorize_read(p_owner_id => p_owner_id);
    return query
    select b.*
    from connection_summary.connection_states as s
    cross join lateral connection_summary.summarize(p_state => s, p_now => p_now, p_deep => true) as b
    where s.owner_id = p_owner_id
        and s.connector_instance_id = connection_summary.resolve_route(
            p_owner_id => p_owner_id, p_route_id => p_route_id
        );
end;
$$;

-- Every run attributed to a connection, newest first by (last_at, run_id),
-- at most p_limit: the top p_limit of each claim's index, merged.
create or replace function connection_summary.recent_runs(
    p_owner_id text,
    p_connection_id text,
    p_now timestamptz,
    p_limit int
)
returns setof jsonb
language sql
stable
parallel safe
as $$
    select connection_summary.run_summary(
        p_run => r, p_lease_expires_at => x.lease_expires_at, p_now => p_now, p_deep => true
    )
    from connection_summary.connection_states as s
    cross join lateral connection_summary.connection_claims(
        p_profile_key => s.profile_key,
        p_connection_id => s.connector_instance_id,
        p_owns_unclaimed_runs => s.owns_unclaimed_runs
    ) as cl
    cross join lateral (
        select r0.*
        from connection_summary.run_evidence as r0
        where r0.owner_id = p_owner_id and r0.source_kind = 'connector'
            and r0.source_id = s.connector_id and r0.claim_kind = cl.claim_kind
            and r0.claim_value = cl.claim_value
        order by r0.last_at desc, r0.run_id desc
        limit p_limit
    ) as r
    left join lateral connection_summary.run_lease(p_owner_id => p_owner_id, p_run => r) as x on true
    where s.owner_id = p_owner_id and s.connector_instance_id = p_connection_id
    order by r.last_at desc, r.run_id desc
    limit p_limit
$$;

-- Owner diagnostics for one connection: the deep summary row as jsonb, plus
-- recent_runs (newest first) and latest_run_events (the events of last_run,
-- in occurrence order). NULL when the route resolves to nothing.
create or replace function connection_summary.diagnostics(
    p_owner_id text,
    p_route_id text,
    p_now timestamptz default now(),
    p_run_limit int default 20
)
returns jsonb
language plpgsql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
-- Short statements whose estimates can be large (generic plans, young
-- tables without statistics): JIT compilation would cost far more than it saves.
set jit = off
as $$
declare
    v_summary connection_summary.summary;
begin
    if p_run_limit is null or p_run_limit < 1 or p_run_limit > 1000 then
        raise exception 'invalid run limit %: must be between 1 and 1000', p_run_limit
            using errcode = '22023';
    end if;
    select * into v_summary
    from connection_summary.for_route(p_owner_id => p_owner_id, p_route_id => p_route_id, p_now => p_now);
    if v_summary.connection_id is null then
        return null;
    end if;
    return to_jsonb(v_summary)
        || jsonb_build_object(
            'recent_runs', coalesce((
                select jsonb_agg(rr.run)
                from connection_summary.recent_runs(
                    p_owner_id => p_owner_id,
                    p_connection_id => v_summary.connection_id,
                    p_now => p_now,
                    p_limit => p_run_limit
                ) as rr (run)
            ), '[]'::jsonb),
            'latest_run_events', coalesce((
                select jsonb_agg(jsonb_build_object(
                    'event_seq', e.event_seq,
                    'event_type', e.event_type,
                    'status', e.status,
                    'occurred_at', e.occurred_at,
                    'connector_instance_id', e.connector_instance_id,
                    'connection_id', e.connection_id,
                    'data', e.data
                ) order by least(e.occurred_at, e.recorded_at), e.event_seq)
                from connection_summary.spine_events as e
                where e.source_kind = 'connector' and e.source_id = v_summary.connector_id
                    and e.run_id = v_summary.last_run ->> 'run_id' and e.owner_id = p_owner_id
            ), '[]'::jsonb)
        );
end;
$$;

create or replace function connection_summary.overview_json(
    p_owner_id text,
    p_now timestamptz default now(),
    p_limit int default null,
    p_after text default null
)
returns jsonb
language sql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(jsonb_agg(o.summary order by o.position), '[]'::jsonb)
    from (
        select to_jsonb(s) as summary, row_number() over () as position
        from connection_summary.overview(
            p_owner_id => p_owner_id, p_now => p_now, p_limit => p_limit, p_after => p_after
        ) as s
    ) as o
$$;

create or replace function connection_summary.for_route_json(
    p_owner_id text,
    p_route_id text,
    p_now timestamptz default now()
)
returns jsonb
language sql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
as $$
    select to_jsonb(f)
    from connection_summary.for_route(
        p_owner_id => p_owner_id, p_route_id => p_route_id, p_now => p_now
    ) as f
$$;
