-- Test-only helpers, loaded into the test template database (never shipped).
-- pgTAP files build their scenarios with these instead of repeating INSERTs.
--
-- Conventions:
--   * Times are minutes after a fixed origin: cs_test.at(90) = 2024-06-01 01:30 UTC.
--     cs_test.now() (origin + 1 day) is the default read time, so results never
--     depend on the wall clock.
--   * Connector runs are source_kind 'connector', source_id = connector id (docs/input-tables.md).
--   * cs_test.run_of(...) reads one head of attributed_runs for one connection;
--     cs_test.paths() yields (false, true) so one pgTAP statement checks the
--     overview path (stored run_heads) and the deep path (live heads) alike.
create schema if not exists cs_test;

-- --- time ------------------------------------------------------------------------------------

create or replace function cs_test.at(p_minutes numeric)
returns timestamptz
language sql
immutable
as $$
    select timestamptz '2024-06-01 00:00:00+00' + make_interval(secs => p_minutes * 60)
$$;

create or replace function cs_test.now()
returns timestamptz
language sql
immutable
as $$
    select cs_test.at(24 * 60)
$$;

-- --- catalog ---------------------------------------------------------------------------------

-- A connector; p_profile_key becomes manifest.browser_surface.profile_key.
create or replace function cs_test.add_connector(
    p_connector_id text,
    p_profile_key text default null,
    p_manifest jsonb default '{}',
    p_display_name text default null
)
returns text
language sql
as $$
    insert into connection_summary.connectors (connector_id, display_name, manifest)
    values (
        p_connector_id,
        p_display_name,
        case
            when p_profile_key is null then p_manifest
            else p_manifest || jsonb_build_object(
                'browser_surface',
                coalesce(p_manifest -> 'browser_surface', '{}'::jsonb)
                || jsonb_build_object('profile_key', p_profile_key)
            )
        end
    )
    returning connector_id
$$;

-- A connection (connector instance). The connector is created bare when missing.
create or replace function cs_test.add_connection(
    p_owner_id text,
    p_connector_id text,
    p_instance_id text,
    p_status text default 'active',
    p_created_at timestamptz default timestamptz '2024-01-01 00:00:00+00',
    p_source_kind text default 'account',
    p_display_name text default null,
    p_revoked_at timestamptz default null
)
returns text
language plpgsql
as $$
begin
    insert into connection_summary.connectors (connector_id)
    values (p_connector_id)
    on conflict (connector_id) do nothing;
    insert into connection_summary.connections (
        connector_instance_id, owner_id, connector_id, display_name, status,
        source_kind, created_at, revoked_at
    )
    values (
        p_instance_id, p_owner_id, p_connector_id, p_display_name, p_status,
        p_source_kind, p_created_at, p_revoked_at
    );
    return p_instance_id;
end;
$$;

create or replace function cs_test.set_connection_status(p_instance_id text, p_status text)
returns text
language sql
as $$
    update connection_summary.connections
    set status = p_status
    where connector_instance_id = p_instance_id
    returning status
$$;

-- --- spine events ----------------------------------------------------------------------------

-- One connector event. p_instance_id goes to the connector_instance_id column,
-- p_connection_id to the connection_id column; ids inside p_data are left as given.
create or replace function cs_test.add_event(
    p_owner_id text,
    p_connector_id text,
    p_run_id text,
    p_event_type text,
    p_status text,
    p_occurred_at timestamptz,
    p_instance_id text default null,
    p_data jsonb default '{}',
    p_connection_id text default null
)
returns bigint
language sql
as $$
    insert into connection_summary.spine_events (
        owner_id, event_type, status, source_kind, source_id, run_id, occurred_at,
        connector_instance_id, connection_id, data
    )
    values (
        p_owner_id, p_event_type, p_status, 'connector', p_connector_id, p_run_id,
        p_occurred_at, p_instance_id, p_connection_id, p_data
    )
    returning event_seq
$$;

-- A browser-surface lease event: event type run.browser_surface_<p_status> unless
-- given; status = the lease status; data.browser_surface carries the key, the
-- surface status, the wait reason and the lease id (only the keys given).
create or replace function cs_test.add_browser_event(
    p_owner_id text,
    p_connector_id text,
    p_run_id text,
    p_status text,
    p_occurred_at timestamptz,
    p_profile_key text default null,
    p_wait_reason text default null,
    p_surface_status text default null,
    p_lease_id text default null,
    p_event_type text default null,
    p_instance_id text default null,
    p_data jsonb default '{}'
)
returns bigint
language sql
as $$
    select cs_test.add_event(
        p_owner_id => p_owner_id,
        p_connector_id => p_connector_id,
        p_run_id => p_run_id,
        p_event_type => coalesce(p_event_type, 'run.browser_surface_' || coalesce(p_status, 'updated')),
        p_status => p_status,
        p_occurred_at => p_occurred_at,
        p_instance_id => p_instance_id,
        p_data => p_data || jsonb_build_object('browser_surface', jsonb_strip_nulls(jsonb_build_object(
            'browser_surface_profile_key', p_profile_key,
            'browser_surface_status', p_surface_status,
            'browser_surface_wait_reason', p_wait_reason,
            'browser_surface_lease_id', p_lease_id
        )))
    )
$$;

-- A whole run in one call: run.started at p_started_at, then (when p_status is
-- given) the terminal event at p_finished_at: run.completed for 'succeeded',
-- run.cancelled / run.abandoned for those, run.failed otherwise. p_data goes
-- on the terminal event; p_instance_id on both.
create or replace function cs_test.add_run(
    p_owner_id text,
    p_connector_id text,
    p_run_id text,
    p_status text,
    p_started_at timestamptz,
    p_finished_at timestamptz default null,
    p_instance_id text default null,
    p_data jsonb default '{}'
)
returns text
language plpgsql
as $$
begin
    perform cs_test.add_event(
        p_owner_id => p_owner_id, p_connector_id => p_connector_id, p_run_id => p_run_id,
        p_event_type => 'run.started', p_status => 'started', p_occurred_at => p_started_at,
        p_instance_id => p_instance_id
    );
    if p_status is not null then
        perform cs_test.add_event(
            p_owner_id => p_owner_id, p_connector_id => p_connector_id, p_run_id => p_run_id,
            p_event_type => case p_status
                when 'succeeded' then 'run.completed'
                when 'cancelled' then 'run.cancelled'
                when 'abandoned' then 'run.abandoned'
                else 'run.failed'
            end,
            p_status => p_status,
            p_occurred_at => coalesce(p_finished_at, p_started_at + interval '1 minute'),
            p_instance_id => p_instance_id,
            p_data => p_data
        );
    end if;
    return p_run_id;
end;
$$;

-- A run lease held by a live runtime (active_runs).
create or replace function cs_test.add_lease(
    p_owner_id text,
    p_run_id text,
    p_lease_expires_at timestamptz,
    p_instance_id text default null
)
returns text
language sql
as $$
    insert into connection_summary.active_runs (run_id, owner_id, connector_instance_id, lease_expires_at)
    values (p_run_id, p_owner_id, p_instance_id, p_lease_expires_at)
    returning run_id
$$;

-- --- reading run evidence --------------------------------------------------------------------

-- The two run paths of attributed_runs: false = overview (stored heads), true = deep.
create or replace function cs_test.paths()
returns setof boolean
language sql
immutable
as $$
    values (false), (true)
$$;

create or replace function cs_test.path_name(p_deep boolean)
returns text
language sql
immutable
as $$
    select case when p_deep then 'deep' else 'overview' end
$$;

-- The three head runs of given connections (stored states), as the overview
-- (p_deep false: stored heads) or the scoped read (p_deep true: heads
-- evaluated now) summarizes them.
create or replace function cs_test.attributed_runs(
    p_owner_id text,
    p_connection_ids text[],
    p_now timestamptz,
    p_deep boolean
)
returns table (
    connector_instance_id text,
    last_run jsonb,
    last_successful_run jsonb,
    last_terminal_run jsonb
)
language sql
stable
parallel safe
as $$
    select s.connector_instance_id, r.last_run, r.last_successful_run, r.last_terminal_run
    from connection_summary.connection_states as s
    cross join lateral connection_summary.state_heads(p_state => s, p_live => p_deep) as h
    cross join lateral connection_summary.connection_runs(
        p_owner_id => s.owner_id,
        p_connector_id => s.connector_id,
        p_latest_run_id => h.latest_run_id,
        p_succeeded_run_id => h.succeeded_run_id,
        p_terminal_run_id => h.terminal_run_id,
        p_now => p_now,
        p_deep => p_deep
    ) as r
    where s.owner_id = p_owner_id and s.connector_instance_id = any(p_connection_ids)
$$;

-- One head ('last_run', 'last_successful_run' or 'last_terminal_run') of one
-- connection, as attributed_runs returns it; NULL when the connection has none
-- (or is not the owner's).
create or replace function cs_test.run_of(
    p_owner_id text,
    p_connection_id text,
    p_head text,
    p_deep boolean,
    p_now timestamptz default cs_test.now()
)
returns jsonb
language sql
stable
as $$
    select case p_head
        when 'last_run' then a.last_run
        when 'last_successful_run' then a.last_successful_run
        when 'last_terminal_run' then a.last_terminal_run
    end
    from cs_test.attributed_runs(
        p_owner_id => p_owner_id,
        p_connection_ids => array[p_connection_id],
        p_now => p_now,
        p_deep => p_deep
    ) as a
    where a.connector_instance_id = p_connection_id
$$;

-- The run ids of a connection's three heads, e.g. '{r2,r1,r2}' (last run, last
-- successful, last terminal; NULL entries for missing heads).
create or replace function cs_test.head_ids(
    p_owner_id text,
    p_connection_id text,
    p_deep boolean,
    p_now timestamptz default cs_test.now()
)
returns text []
language sql
stable
as $$
    select array[
        cs_test.run_of(p_owner_id, p_connection_id, 'last_run', p_deep, p_now) ->> 'run_id',
        cs_test.run_of(p_owner_id, p_connection_id, 'last_successful_run', p_deep, p_now) ->> 'run_id',
        cs_test.run_of(p_owner_id, p_connection_id, 'last_terminal_run', p_deep, p_now) ->> 'run_id'
    ]
$$;

-- Rows where the overview and deep paths disagree for the owner's connections,
-- ignoring the keys only the deep summaries carry. Empty when they agree.
create or replace function cs_test.path_disagreements(
    p_owner_id text,
    p_now timestamptz default cs_test.now()
)
returns table (connector_instance_id text, overview jsonb, deep jsonb)
language sql
stable
as $$
    with ids as (
        select array_agg(c.connector_instance_id) as ids
        from connection_summary.connections as c
        where c.owner_id = p_owner_id
    ),
    shallow as (
        select a.*
        from ids cross join cs_test.attributed_runs(p_owner_id, ids.ids, p_now, false) as a
    ),
    deep as (
        select a.*
        from ids cross join cs_test.attributed_runs(p_owner_id, ids.ids, p_now, true) as a
    )
    select
        coalesce(s.connector_instance_id, d.connector_instance_id),
        jsonb_build_array(s.last_run, s.last_successful_run, s.last_terminal_run),
        jsonb_build_array(
            d.last_run - 'known_gaps' - 'collection_facts',
            d.last_successful_run - 'known_gaps' - 'collection_facts',
            d.last_terminal_run
        )
    from shallow as s
    full join deep as d on s.connector_instance_id = d.connector_instance_id
    where s.connector_instance_id is null or d.connector_instance_id is null
        or jsonb_build_array(s.last_run, s.last_successful_run, s.last_terminal_run)
        is distinct from jsonb_build_array(
            d.last_run - 'known_gaps' - 'collection_facts',
            d.last_successful_run - 'known_gaps' - 'collection_facts',
            d.last_terminal_run
        )
$$;

-- --- the stored read model against its live definition ----------------------------------

-- Rows of run_evidence not in run_evidence_live and the reverse ('stored' /
-- 'live' says which side has the row). Empty when the stored model is exact.
create or replace function cs_test.run_evidence_diff()
returns table (side text, run jsonb)
language sql
stable
as $$
    with stored as (
        -- The stored columns, without the generated ones the live view lacks.
        select r.owner_id, r.source_kind, r.source_id, r.run_id, (connection_summary.stored_fold(r)).*
        from connection_summary.run_evidence as r
    ),

    live as (select * from connection_summary.run_evidence_live)

    select 'stored', to_jsonb(s) from (select * from stored except all select * from live) as s
    union all
    select 'live', to_jsonb(l) from (select * from live except all select * from stored) as l
$$;

create or replace function cs_test.run_heads_diff()
returns table (side text, head jsonb)
language sql
stable
as $$
    select 'stored', to_jsonb(s) from (
        select * from connection_summary.run_heads
        except all
        select * from connection_summary.run_heads_live
    ) as s
    union all
    select 'live', to_jsonb(l) from (
        select * from connection_summary.run_heads_live
        except all
        select * from connection_summary.run_heads
    ) as l
$$;

-- ============================================================================================
-- Operational fixtures (schedules, retained sizes, detail gaps, attention records,
-- browser-surface leases) for the summary functions: add them below this line.
-- ============================================================================================

-- -- Summary fixtures --------------------------------------------------------------------------
-- Helpers for the summary tests (tests/sql/test_summary_*.sql): one row per call
-- into the operational tables, plus cs_test.summary() that reads one connection
-- through the overview (p_deep = false) or the scoped read (p_deep = true).

-- A schedule row. Every column can be given; the defaults describe an enabled,
-- hourly schedule with no history and no backoff.
create or replace function cs_test.add_schedule(
    p_owner_id text,
    p_instance_id text,
    p_enabled boolean default true,
    p_interval_seconds int default 3600,
    p_next_due_at timestamptz default null,
    p_last_started_at timestamptz default null,
    p_last_finished_at timestamptz default null,
    p_last_successful_at timestamptz default null,
    p_last_error_code text default null,
    p_active_run_id text default null,
    p_consecutive_failures int default 0,
    p_backoff_next_run_at timestamptz default null,
    p_backoff_reason_class text default null
)
returns text
language sql
as $$
    insert into connection_summary.schedules (
        connector_instance_id, owner_id, enabled, interval_seconds, next_due_at,
        last_started_at, last_finished_at, last_successful_at, last_error_code,
        active_run_id, consecutive_failures, backoff_next_run_at, backoff_reason_class
    )
    values (
        p_instance_id, p_owner_id, p_enabled, p_interval_seconds, p_next_due_at,
        p_last_started_at, p_last_finished_at, p_last_successful_at, p_last_error_code,
        p_active_run_id, p_consecutive_failures, p_backoff_next_run_at, p_backoff_reason_class
    )
    returning connector_instance_id
$$;

-- One retained_size_streams row (record_count may be NULL).
create or replace function cs_test.add_stream_size(
    p_owner_id text,
    p_instance_id text,
    p_stream text,
    p_record_count bigint,
    p_dirty boolean default false,
    p_current_record_json_bytes bigint default 0,
    p_record_history_json_bytes bigint default 0,
    p_blob_bytes bigint default 0
)
returns text
language sql
as $$
    insert into connection_summary.retained_size_streams (
        connector_instance_id, stream, owner_id, connector_id, record_count,
        current_record_json_bytes, record_history_json_bytes, blob_bytes,
        last_record_updated_at, dirty
    )
    select
        p_instance_id, p_stream, p_owner_id, c.connector_id, p_record_count,
        p_current_record_json_bytes, p_record_history_json_bytes, p_blob_bytes,
        cs_test.at(0), p_dirty
    from (select 1) as one
    left join connection_summary.connections as c on c.connector_instance_id = p_instance_id
    returning stream
$$;

-- One retained_size_connections row (any byte count may be NULL).
create or replace function cs_test.add_connection_size(
    p_owner_id text,
    p_instance_id text,
    p_current_record_json_bytes bigint,
    p_record_history_json_bytes bigint,
    p_blob_bytes bigint,
    p_dirty boolean default false
)
returns text
language sql
as $$
    insert into connection_summary.retained_size_connections (
        connector_instance_id, owner_id, current_record_json_bytes,
        record_history_json_bytes, blob_bytes, dirty
    )
    values (
        p_instance_id, p_owner_id, p_current_record_json_bytes,
        p_record_history_json_bytes, p_blob_bytes, p_dirty
    )
    returning connector_instance_id
$$;

-- One detail gap (status pending | in_progress | recovered | terminal).
create or replace function cs_test.add_gap(
    p_owner_id text,
    p_instance_id text,
    p_gap_id text,
    p_status text,
    p_stream text default null,
    p_reason text default null,
    p_next_attempt_at timestamptz default null
)
returns text
language sql
as $$
    insert into connection_summary.detail_gaps (
        gap_id, owner_id, connector_instance_id, stream, status, reason, next_attempt_at
    )
    values (p_gap_id, p_owner_id, p_instance_id, p_stream, p_status, p_reason, p_next_attempt_at)
    returning gap_id
$$;

-- One attention record; by default open, requiring a response, never expiring.
create or replace function cs_test.add_attention(
    p_owner_id text,
    p_instance_id text,
    p_attention_id text,
    p_lifecycle text default 'open',
    p_reason_code text default 'confirm_scope',
    p_response_required boolean default true,
    p_owner_action text default null,
    p_expires_at timestamptz default null,
    p_created_at timestamptz default cs_test.at(0)
)
returns text
language sql
as $$
    insert into connection_summary.attention_records (
        attention_id, owner_id, connector_instance_id, lifecycle, reason_code,
        response_required, owner_action, expires_at, created_at
    )
    values (
        p_attention_id, p_owner_id, p_instance_id, p_lifecycle, p_reason_code,
        p_response_required, p_owner_action, p_expires_at, p_created_at
    )
    returning attention_id
$$;

-- One browser_surface_leases row.
create or replace function cs_test.add_surface_lease(
    p_owner_id text,
    p_lease_id text,
    p_profile_key text,
    p_status text,
    p_requested_at timestamptz,
    p_connector_id text default null,
    p_run_id text default null,
    p_wait_reason text default null
)
returns text
language sql
as $$
    insert into connection_summary.browser_surface_leases (
        lease_id, owner_id, connector_id, profile_key, run_id, status, wait_reason, requested_at
    )
    values (
        p_lease_id, p_owner_id, p_connector_id, p_profile_key, p_run_id, p_status,
        p_wait_reason, p_requested_at
    )
    returning lease_id
$$;

-- The summary row of one connection: from the overview (p_deep = false; found by
-- connection id among the owner's overview rows) or from the scoped read
-- (p_deep = true; for_route by the same id). NULL when that read has no row.
create or replace function cs_test.summary(
    p_owner_id text,
    p_connection_id text,
    p_deep boolean,
    p_now timestamptz default cs_test.now()
)
returns connection_summary.summary
language plpgsql
stable
as $$
declare
    v_row connection_summary.summary;
begin
    if p_deep then
        select * into v_row
        from connection_summary.for_route(
            p_owner_id => p_owner_id, p_route_id => p_connection_id, p_now => p_now
        );
    else
        select * into v_row
        from connection_summary.overview(p_owner_id => p_owner_id, p_now => p_now) as o
        where o.connection_id = p_connection_id;
    end if;
    if v_row.connection_id is null then
        return null;
    end if;
    return v_row;
end;
$$;

-- connection_health.state and reason_code of one connection on one path, as 'state/reason'.
create or replace function cs_test.health(
    p_owner_id text,
    p_connection_id text,
    p_deep boolean,
    p_now timestamptz default cs_test.now()
)
returns text
language sql
stable
as $$
    select (s.connection_health ->> 'state') || '/' || (s.connection_health ->> 'reason_code')
    from cs_test.summary(p_owner_id, p_connection_id, p_deep, p_now) as s
$$;

-- --- roles -----------------------------------------------------------------------------------

-- Runs p_sql as p_role (SET LOCAL ROLE: real role switching) and returns its
-- single value as text, or 'ERROR <sqlstate>' when it fails. The role is reset
-- before returning, so pgTAP records the result as the test's own role.
create or replace function cs_test.as_role(p_role text, p_sql text)
returns text
language plpgsql
as $$
declare
    v_result text;
begin
    execute format('set local role %I', p_role);
    begin
        execute p_sql into v_result;
    exception when others then
        v_result := 'ERROR ' || sqlstate;
    end;
    reset role;
    return v_result;
end;
$$;
