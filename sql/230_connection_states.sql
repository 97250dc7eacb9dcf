-- Keeping connection_states equal to its live definition,
-- connection_states_live, as the input tables change.
--
-- Write time: statement triggers on every input table queue what changed
-- (connection_state_queue: a connection, an owner's connector, an owner's
-- browser profile key, a catalog connector). At commit, after the run folds
-- are merged (which queues the connectors whose run heads moved), one
-- function takes every lock of the phase in one global order and recomputes
-- the affected connections' rows from the live definition: writers hold none
-- of these locks while they run, and two committing writers never wait on
-- each other in a cycle.
--
-- Locks, in this order (after the run locks of merge_queued_folds):
--   1. per connector id: exclusive for a catalog change, shared for a change
--      to an owner's connections of it. A catalog change resolves the owners
--      of its connectors after this lock, so a connection committed by a
--      concurrent transaction is either seen, or that transaction (waiting
--      for the shared lock) reads the new catalog row when it recomputes.
--   2. per owner: every recomputation of an owner's rows is serialized, so
--      the last one reads everything the others committed (READ COMMITTED:
--      each statement after the lock takes a fresh snapshot). Under
--      REPEATABLE READ the snapshot predates the lock, so every refresh also
--      rewrites its owner's row of connection_state_refreshes: of two
--      refreshes of one owner at once, the later raises a serialization
--      failure (40001, retry) even when they write no row in common (one
--      adds a run's events, the other the connection that reads them).
-- No lock is wider than one owner, except the catalog change's.

-- Everything of a connection's summary that does not depend on the read
-- time, for every non-draft connection (the draft filter lives here only).
-- A set-returning SQL function returning the table's own row type (so its
-- columns are the table's, in order), inlined wherever it is read: a read of
-- the view restricted to some connections scans only their rows.
create or replace function connection_summary.connection_state_rows()
returns setof connection_summary.connection_states
language sql
stable
parallel safe
as $$
    select
        c.owner_id,
        c.connector_instance_id,
        c.connector_id,
        c.created_at,
        coalesce(c.display_name, k.display_name, c.connector_id) as display_name,
        coalesce(k.display_name, c.connector_id) as connector_display_name,
        c.status,
        c.source_kind,
        c.revoked_at,
        connection_summary.cursor_encode(
            p_owner_id => c.owner_id,
            p_connector_id => c.connector_id,
            p_created_at => c.created_at,
            p_connector_instance_id => c.connector_instance_id
        ) as cursor,
        a.profile_key,
        a.owns_unclaimed_runs,
        h.latest_run_id,
        h.succeeded_run_id,
        h.terminal_run_id,
        sc.streams,
        sc.stream_records,
        sc.stream_count,
        sc.total_records,
        sc.total_records_state,
        rb.retained_bytes,
        (rb.retained_bytes ->> 'total_bytes')::bigint as total_retained_bytes,
        sch.connector_instance_id is not null as has_schedule,
        sch.enabled as schedule_enabled,
        sch.interval_seconds as schedule_interval_seconds,
        sch.next_due_at as schedule_next_due_at,
        sch.last_started_at as schedule_last_started_at,
        sch.last_successful_at as schedule_last_successful_at,
        sch.active_run_id as schedule_active_run_id,
        sch.consecutive_failures as schedule_consecutive_failures,
        sch.backoff_next_run_at as schedule_backoff_next_run_at,
        sch.backoff_reason_class as schedule_backoff_reason_class,
        connection_summary.maximum_staleness_seconds(p_manifest => k.manifest) as maximum_staleness_seconds,
        coalesce(att.candidates, '[]'::jsonb) as attention_candidates,
        coalesce(g.has_terminal, false) as has_terminal_detail_gap,
        coalesce(g.has_open, false) as has_open_detail_gap,
        l.lease_id as surface_lease_id,
        l.status as surface_lease_status,
        l.wait_reason as surface_lease_wait_reason,
        l.requested_at as surface_lease_requested_at
    from connection_summary.connections as c
    inner join connection_summary.connectors as k on c.connector_id = k.connector_id
    cross join lateral (
        select
            connection_summary.expected_profile_key(
                p_connector_id => c.connector_id,
                p_connector_instance_id => c.connector_instance_id,
                p_manifest => k.manifest
            ) as profile_key,
            o.owns_unclaimed_runs
        from connection_summary.owns_unclaimed_runs(
            p_owner_id => c.owner_id, p_connector_id => c.connector_id, p_status => c.status
        ) as o
        offset 0
    ) as a
    cross join lateral connection_summary.connection_heads(
        p_owner_id => c.owner_id,
        p_connector_id => c.connector_id,
        p_connection_id => c.connector_instance_id,
        p_profile_key => a.profile_key,
        p_owns_unclaimed_runs => a.owns_unclaimed_runs,
        p_live => false
    ) as h
    -- The stream rows as a plain column (a subquery as the argument would
    -- stop stream_counts() from being inlined).
    cross join lateral (
        select jsonb_agg(jsonb_build_object(
            'stream', s.stream, 'record_count', s.record_count, 'dirty', s.dirty
        )) as stream_rows
        from connection_summary.retained_size_streams as s
        where s.owner_id = c.owner_id and s.connector_instance_id = c.connector_instance_id
    ) as sr
    cross join lateral connection_summary.stream_counts(
        p_manifest => k.manifest, p_stream_rows => sr.stream_rows
    ) as sc
    left join connection_summary.retained_size_connections as r
        on c.owner_id = r.owner_id and c.connector_instance_id = r.connector_instance_id
    cross join lateral (
        select connection_summary.retained_bytes(
            p_present => r.connector_instance_id is not null,
            p_dirty => r.dirty,
            p_record_json_bytes => r.current_record_json_bytes,
            p_record_changes_json_bytes => r.record_history_json_bytes,
            p_blob_bytes => r.blob_bytes
        ) as retained_bytes
    ) as rb
    left join connection_summary.schedules as sch
        on c.owner_id = sch.owner_id and c.connector_instance_id = sch.connector_instance_id
    -- The attention records that ask the owner for something (open,
    -- acknowledged or in progress; needing a response or an action), newest
    -- first; the read takes the first one not expired at p_now.
    left join lateral (
        select jsonb_agg(jsonb_build_object(
            'attention_id', at.attention_id,
            'reason_code', at.reason_code,
            'response_required', at.response_required,
            'owner_action', at.owner_action,
            'expires_at', at.expires_at
        ) order by at.created_at desc, at.attention_id desc) as candidates
        from connection_summary.attention_records as at
        where at.owner_id = c.owner_id and at.connector_instance_id = c.connector_instance_id
            and at.lifecycle in ('open', 'acknowledged', 'in_progress')
            and (at.response_required or at.owner_action is not null)
    ) as att on true
    left join lateral (
        select
            bool_or(dg.status = 'terminal') as has_terminal,
            bool_or(dg.status in ('pending', 'in_progress')) as has_open
        from connection_summary.detail_gaps as dg
        where dg.owner_id = c.owner_id and dg.connector_instance_id = c.connector_instance_id
    ) as g on true
    -- The newest lease of its profile key that is not finished (released,
    -- expired or cancelled).
    left join lateral (
        select bl.lease_id, bl.status, bl.wait_reason, bl.requested_at
        from connection_summary.browser_surface_leases as bl
        where bl.owner_id = c.owner_id and bl.profile_key = a.profile_key
            and bl.status not in ('released', 'expired', 'cancelled')
        order by bl.requested_at desc, bl.lease_id desc
        limit 1
    ) as l on true
    where c.status <> 'draft'
$$;

create or replace view connection_summary.connection_states_live as
select * from connection_summary.connection_state_rows(); -- noqa: AM04

-- Recomputes the rows of what this transaction queued, and the stored heads
-- of the connections that read the claims whose runs this commit merged
-- (p_head_groups, [[owner_id, connector_id, claim_kind, claim_value], ...]:
-- only the head columns, a few key lookups), taking the locks described at
-- the top of this file.
create or replace function connection_summary.refresh_connection_states(p_head_groups jsonb)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
-- Short statements whose estimates can be large (generic plans, young
-- tables without statistics): JIT compilation would cost far more than it saves.
set jit = off
as $$
declare
    v_entries jsonb;
    v_whole boolean;
begin
    with taken as (
        delete from connection_summary.connection_state_queue
        returning kind, owner_id, key
    )

    select jsonb_agg(distinct x.e)
    into v_entries
    from (
        select jsonb_build_array(t.kind, t.owner_id, t.key)
        from taken as t
        where t.kind <> 'start'
        union all
        select jsonb_build_array('heads', g ->> 0, g ->> 1, g ->> 2, g ->> 3)
        from jsonb_array_elements(coalesce(p_head_groups, '[]')) as g
    ) as x (e);
    if v_entries is null then
        return;
    end if;
    -- Most commits only add events to runs: their heads alone may move (step
    -- 4), and nothing is recomputed whole (steps 1 and 3 are skipped).
    v_whole := jsonb_path_exists(v_entries, 'strict $[*] ? (@[0] != "heads")');

    if v_whole then
        -- 1. Connector locks, in hash order: exclusive where the catalog row
        -- changed, shared where an owner's connections of it changed.
        perform case
            when c.catalog then pg_advisory_xact_lock(1668181870, hashtext(c.connector_id))
            else pg_advisory_xact_lock_shared(1668181870, hashtext(c.connector_id))
        end
        from (
            select e ->> 2 as connector_id, bool_or(e ->> 0 = 'catalog') as catalog
            from jsonb_array_elements(v_entries) as e
            where e ->> 0 in ('catalog', 'connector')
            group by e ->> 2
        ) as c
        order by hashtext(c.connector_id);
    end if;

    -- A catalog change concerns every owner of its connector, resolved now
    -- that no transaction can commit a new one unseen.
    if jsonb_path_exists(v_entries, 'strict $[*] ? (@[0] == "catalog")') then
        select jsonb_agg(e) into v_entries
        from (
            select e
            from jsonb_array_elements(v_entries) as e
            where e ->> 0 <> 'catalog'
            union
            select jsonb_build_array('connector', o.owner_id, o.connector_id)
            from (
                select n.owner_id, n.connector_id
                from connection_summary.connections as n
                where n.connector_id in (
                    select e ->> 2 from jsonb_array_elements(v_entries) as e where e ->> 0 = 'catalog'
                )
                union
                select s.owner_id, s.connector_id
                from connection_summary.connection_states as s
                where s.connector_id in (
                    select e ->> 2 from jsonb_array_elements(v_entries) as e where e ->> 0 = 'catalog'
                )
            ) as o
        ) as x (e);
    end if;
    if v_entries is null then
        return;
    end if;

    -- 2. Owner locks, in hash order; then each owner's refresh row rewritten
    -- (see the top of this file).
    perform pg_advisory_xact_lock(1668181871, hashtext(o.owner_id))
    from (select distinct e ->> 1 as owner_id from jsonb_array_elements(v_entries) as e) as o
    order by hashtext(o.owner_id);
    insert into connection_summary.connection_state_refreshes (owner_id, refreshed_at)
    select distinct e ->> 1, now()
    from jsonb_array_elements(v_entries) as e
    on conflict (owner_id) do update set refreshed_at = excluded.refreshed_at;

    if v_whole then
        -- 3. The connections concerned, recomputed: upserted from the live
        -- definition, or deleted where it has no row for them any more (deleted,
        -- draft, moved to another owner).
        with entries as (
            select e ->> 0 as kind, e ->> 1 as owner_id, e ->> 2 as key
            from jsonb_array_elements(v_entries) as e
        ),

        targets as (
            select en.owner_id, en.key as connector_instance_id
            from entries as en
            where en.kind = 'connection'
            union
            select n.owner_id, n.connector_instance_id
            from entries as en
            inner join connection_summary.connections as n
                on n.owner_id = en.owner_id and n.connector_id = en.key
            where en.kind = 'connector'
            union
            select s.owner_id, s.connector_instance_id
            from entries as en
            inner join connection_summary.connection_states as s
                on s.owner_id = en.owner_id and s.connector_id = en.key
            where en.kind = 'connector'
            union
            select s.owner_id, s.connector_instance_id
            from entries as en
            inner join connection_summary.connection_states as s
                on s.owner_id = en.owner_id and s.profile_key = en.key
            where en.kind = 'profile'
        ),

        fresh as (
            insert into connection_summary.connection_states as s
            select v.*
            from targets as t
            cross join lateral (
                select l.*
                from connection_summary.connection_states_live as l
                where l.owner_id = t.owner_id and l.connector_instance_id = t.connector_instance_id
                offset 0
            ) as v
            on conflict (owner_id, connector_instance_id) do update set (
                connector_id, created_at, display_name, connector_display_name, status, source_kind,
                revoked_at, cursor, profile_key, owns_unclaimed_runs, latest_run_id, succeeded_run_id,
                terminal_run_id, streams, stream_records, stream_count, total_records,
                total_records_state, retained_bytes, total_retained_bytes, has_schedule,
                schedule_enabled, schedule_interval_seconds, schedule_next_due_at,
                schedule_last_started_at, schedule_last_successful_at, schedule_active_run_id,
                schedule_consecutive_failures, schedule_backoff_next_run_at,
                schedule_backoff_reason_class, maximum_staleness_seconds, attention_candidates,
                has_terminal_detail_gap, has_open_detail_gap, surface_lease_id, surface_lease_status,
                surface_lease_wait_reason, surface_lease_requested_at
            ) = (
                excluded.connector_id, excluded.created_at, excluded.display_name,
                excluded.connector_display_name, excluded.status, excluded.source_kind,
                excluded.revoked_at, excluded.cursor, excluded.profile_key,
                excluded.owns_unclaimed_runs, excluded.latest_run_id, excluded.succeeded_run_id,
                excluded.terminal_run_id, excluded.streams, excluded.stream_records,
                excluded.stream_count, excluded.total_records, excluded.total_records_state,
                excluded.retained_bytes, excluded.total_retained_bytes, excluded.has_schedule,
                excluded.schedule_enabled, excluded.schedule_interval_seconds,
                excluded.schedule_next_due_at, excluded.schedule_last_started_at,
                excluded.schedule_last_successful_at, excluded.schedule_active_run_id,
                excluded.schedule_consecutive_failures, excluded.schedule_backoff_next_run_at,
                excluded.schedule_backoff_reason_class, excluded.maximum_staleness_seconds,
                excluded.attention_candidates, excluded.has_terminal_detail_gap,
                excluded.has_open_detail_gap, excluded.surface_lease_id,
                excluded.surface_lease_status, excluded.surface_lease_wait_reason,
                excluded.surface_lease_requested_at
            )
            returning s.owner_id, s.connector_instance_id
        )

        delete from connection_summary.connection_states as s
        using targets as t
        where s.owner_id = t.owner_id and s.connector_instance_id = t.connector_instance_id
            and not exists (
                select from fresh as f
                where f.owner_id = t.owner_id and f.connector_instance_id = t.connector_instance_id
            );
    end if;

    -- 4. Heads that may have moved, where the rows were not recomputed whole
    -- above: the head rule over the stored claims (run_heads, as merged), for
    -- the connections that read a claim this commit merged runs into. A run
    -- that already heads its claim can move (a later last_at, a terminal
    -- event) and overtake another claim's head in a connection reading both.
    -- Only rows whose heads did change are written.
    with claims as (
        select distinct
            e ->> 1 as owner_id, e ->> 2 as connector_id, e ->> 3 as claim_kind,
            e ->> 4 as claim_value
        from jsonb_array_elements(v_entries) as e
        where e ->> 0 = 'heads' and not exists (
            select
            from jsonb_array_elements(v_entries) as c
            where c ->> 0 = 'connector' and c ->> 1 = e ->> 1 and c ->> 2 = e ->> 2
        )
    ),

    readers as (
        select distinct s.owner_id, s.connector_instance_id
        from claims as g
        inner join connection_summary.connection_states as s
            on s.owner_id = g.owner_id and s.connector_id = g.connector_id
        cross join lateral connection_summary.connection_claims(
            p_profile_key => s.profile_key,
            p_connection_id => s.connector_instance_id,
            p_owns_unclaimed_runs => s.owns_unclaimed_runs
        ) as c
        where c.claim_kind = g.claim_kind and c.claim_value = g.claim_value
    ),

    heads as (
        select s.owner_id, s.connector_instance_id, h.latest_run_id, h.succeeded_run_id,
            h.terminal_run_id
        from readers as r
        inner join connection_summary.connection_states as s
            on s.owner_id = r.owner_id and s.connector_instance_id = r.connector_instance_id
        cross join lateral connection_summary.connection_heads(
            p_owner_id => s.owner_id,
            p_connector_id => s.connector_id,
            p_connection_id => s.connector_instance_id,
            p_profile_key => s.profile_key,
            p_owns_unclaimed_runs => s.owns_unclaimed_runs,
            p_live => false
        ) as h
        where (s.latest_run_id, s.succeeded_run_id, s.terminal_run_id)
        is distinct from (h.latest_run_id, h.succeeded_run_id, h.terminal_run_id)
    )

    update connection_summary.connection_states as s
    set (latest_run_id, succeeded_run_id, terminal_run_id)
        = (h.latest_run_id, h.succeeded_run_id, h.terminal_run_id)
    from heads as h
    where s.owner_id = h.owner_id and s.connector_instance_id = h.connector_instance_id;
end;
$$;

-- Statement trigger on every input table connection_states depends on:
-- queues, per changed row, what it concerns. tg_argv: the queue kind, then
-- the columns holding the owner and the key ('' for no owner column).
-- Dynamic SQL because the transition tables an event has differ (INSERT: new
-- rows, DELETE: old rows, UPDATE: both); these tables change far less often
-- than spine_events, whose path (spine_events_refold) is static.
create or replace function connection_summary.queue_connection_states()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_kind text := tg_argv[0];
    v_owner text := case when tg_argv[1] = '' then 'null::text' else 't.' || quote_ident(tg_argv[1]) end;
    v_key text := quote_ident(tg_argv[2]);
    v_source text;
    v_queued bigint;
begin
    v_source := case tg_op
        when 'INSERT' then 'select * from new_rows'
        when 'DELETE' then 'select * from old_rows'
        else 'select * from new_rows union all select * from old_rows'
    end;
    execute format(
        'insert into connection_summary.connection_state_queue (kind, owner_id, key, starts_maintenance)'
        ' select distinct %L, %s, t.%s, false from (%s) as t',
        v_kind, v_owner, v_key, v_source
    );
    get diagnostics v_queued = row_count;
    if v_queued > 0 then
        perform connection_summary.start_maintenance();
    end if;
    return null;
end;
$$;

-- Every stored connection is concerned (after a TRUNCATE of an input table).
create or replace function connection_summary.queue_every_connection_state()
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into connection_summary.connection_state_queue (kind, owner_id, key, starts_maintenance)
    select 'connector', s.owner_id, s.connector_id, false
    from connection_summary.connection_states as s
    union
    select 'connector', n.owner_id, n.connector_id, false
    from connection_summary.connections as n;
    if found then
        perform connection_summary.start_maintenance();
    end if;
end;
$$;

-- After TRUNCATE of an input table (spine_events: spine_events_truncated(),
-- once the run read model is emptied).
create or replace function connection_summary.queue_all_connection_states()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform connection_summary.queue_every_connection_state();
    return null;
end;
$$;

-- Makes sure the commit trigger will run for this transaction: the first
-- caller since the last maintenance (the flag is shared with the run folds'
-- queue) inserts the queue row whose constraint trigger fires at commit.
create or replace function connection_summary.start_maintenance()
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    if coalesce(current_setting('connection_summary.fold_queued', true), '') <> 'on' then
        perform set_config('connection_summary.fold_queued', 'on', true);
        insert into connection_summary.connection_state_queue (kind, owner_id, key, starts_maintenance)
        values ('start', null, '', true);
    end if;
end;
$$;

-- A constraint trigger cannot be replaced in place. Named as the run queue's:
-- SET CONSTRAINTS connection_summary.run_maintenance_on_commit IMMEDIATE
-- applies to both.
drop trigger if exists run_maintenance_on_commit on connection_summary.connection_state_queue;

create constraint trigger run_maintenance_on_commit
after insert on connection_summary.connection_state_queue
deferrable initially deferred
for each row
when (new.starts_maintenance)
execute function connection_summary.run_maintenance_on_commit();

-- The triggers, table by table: (kind, owner column, key column).
do $$
declare
    v record;
    v_event text;
begin
    for v in
        select *
        from (
            values
            ('connections', 'connector', 'owner_id', 'connector_id'),
            ('connectors', 'catalog', '', 'connector_id'),
            ('retained_size_streams', 'connection', 'owner_id', 'connector_instance_id'),
            ('retained_size_connections', 'connection', 'owner_id', 'connector_instance_id'),
            ('schedules', 'connection', 'owner_id', 'connector_instance_id'),
            ('attention_records', 'connection', 'owner_id', 'connector_instance_id'),
            ('detail_gaps', 'connection', 'owner_id', 'connector_instance_id'),
            ('browser_surface_leases', 'profile', 'owner_id', 'profile_key')
        ) as t (table_name, kind, owner_column, key_column)
    loop
        foreach v_event in array array['insert', 'update', 'delete'] loop
            execute format(
                'create or replace trigger %I after %s on connection_summary.%I'
                ' referencing %s for each statement'
                ' execute function connection_summary.queue_connection_states(%L, %L, %L)',
                v.table_name || '_queue_states_' || v_event, v_event, v.table_name,
                case v_event
                    when 'insert' then 'new table as new_rows'
                    when 'delete' then 'old table as old_rows'
                    else 'old table as old_rows new table as new_rows'
                end,
                v.kind, v.owner_column, v.key_column
            );
        end loop;
        execute format(
            'create or replace trigger %I after truncate on connection_summary.%I'
            ' for each statement execute function connection_summary.queue_all_connection_states()',
            v.table_name || '_queue_states_truncate', v.table_name
        );
    end loop;
end;
$$;

-- Repair and upgrade path: replaces every stored connection state with the
-- live definition. Returns the number of rows.
create or replace function connection_summary.rebuild_connection_states()
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set jit = off
as $$
declare
    v_rows bigint;
begin
    lock table connection_summary.connection_states in exclusive mode;
    delete from connection_summary.connection_states;
    insert into connection_summary.connection_states
    select l.* from connection_summary.connection_states_live as l;
    get diagnostics v_rows = row_count;
    insert into connection_summary.read_model_versions as m (read_model, definition_md5)
    values ('connection_states', connection_summary.connection_states_definition_md5())
    on conflict (read_model) do update
    set definition_md5 = excluded.definition_md5, rebuilt_at = now();
    return v_rows;
end;
$$;

create or replace function connection_summary.connection_states_definition_md5()
returns text
language sql
stable
-- pg_get_viewdef qualifies names by the search_path: pin it so the hash is stable.
set search_path = pg_catalog, pg_temp
as $$
    select md5(
        connection_summary.run_fold_definition_md5()
        || string_agg(pg_get_functiondef(p.oid), '' order by p.oid::regprocedure::text)
    )
    from pg_proc as p
    where p.oid in (
        'connection_summary.connection_state_rows()'::regprocedure,
        'connection_summary.connection_heads(text,text,text,text,boolean,boolean)'::regprocedure,
        'connection_summary.connection_claims(text,text,boolean)'::regprocedure,
        'connection_summary.owns_unclaimed_runs(text,text,text)'::regprocedure,
        'connection_summary.expected_profile_key(text,text,jsonb)'::regprocedure,
        'connection_summary.stream_counts(jsonb,jsonb)'::regprocedure,
        'connection_summary.retained_bytes(boolean,boolean,bigint,bigint,bigint)'::regprocedure,
        'connection_summary.maximum_staleness_seconds(jsonb)'::regprocedure,
        'connection_summary.cursor_encode(text,text,timestamptz,text)'::regprocedure,
        'connection_summary.cursor_payload(text,timestamptz,text)'::regprocedure,
        'connection_summary.cursor_check(text,text)'::regprocedure
    )
$$;

-- First install, or a changed definition: rebuild the stored rows now, in the
-- same transaction as the new definitions, so readers never see a mix.
do $$
begin
    if not exists (
        select 1 from connection_summary.read_model_versions
        where read_model = 'run_evidence'
            and definition_md5 = connection_summary.run_fold_definition_md5()
    ) then
        perform connection_summary.rebuild_run_evidence();
    end if;
    if not exists (
        select 1 from connection_summary.read_model_versions
        where read_model = 'connection_states'
            and definition_md5 = connection_summary.connection_states_definition_md5()
    ) then
        perform connection_summary.rebuild_connection_states();
    end if;
end;
$$;
