-- Read-time run rules (CONTRACT §4): which runs belong to a connection, what
-- status a run has at p_now, and the run summary object. They depend on the
-- read time and on the current connections, so they are never stored.
-- All are small SQL functions that the planner inlines into the readers.

-- The browser profile key a connection's runs are stamped with.
create or replace function connection_summary.expected_profile_key(
    p_connector_id text,
    p_connector_instance_id text,
    p_manifest jsonb
)
returns text
language sql
immutable
parallel safe
as $$
    select case
        -- A legacy default connection (instance id = connector id) has the bare base key.
        when p_connector_instance_id = p_connector_id
            then coalesce(p_manifest #>> '{browser_surface,profile_key}', p_connector_id)
        else coalesce(p_manifest #>> '{browser_surface,profile_key}', p_connector_id)
            || ':' || p_connector_instance_id
    end
$$;

-- The attribution rule, written once. A run claims at most one of:
--   ('profile', key)        -- it carries a browser profile key
--   ('connection', id)      -- else it carries an explicit connection id
--   ('none', '')            -- else
-- (see run_evidence.claim_kind). A connection owns the profile claim of its
-- expected key, the connection claim of its own id, and the unclaimed runs of
-- its connector only while it is the owner's sole active connection of that
-- connector. So a run is never handed to a sibling.
create or replace function connection_summary.connection_claims(
    p_connector_id text,
    p_connector_instance_id text,
    p_manifest jsonb,
    p_sole_active boolean
)
returns table (claim_kind text, claim_value text)
language sql
immutable
parallel safe
as $$
    select 'profile', connection_summary.expected_profile_key(
        p_connector_id => p_connector_id,
        p_connector_instance_id => p_connector_instance_id,
        p_manifest => p_manifest
    )
    union all
    select 'connection', p_connector_instance_id
    union all
    select 'none', '' where p_sole_active
$$;

-- Status of a run at p_now: a settled status stands; a started, unfinished run
-- is in_progress while a live lease in active_runs holds it, else an orphan.
create or replace function connection_summary.run_status(
    p_settled_status text,
    p_has_started boolean,
    p_lease_expires_at timestamptz,
    p_now timestamptz
)
returns text
language sql
immutable
parallel safe
as $$
    select case
        when p_settled_status is not null then p_settled_status
        when p_has_started and p_lease_expires_at > p_now then 'in_progress'
        when p_has_started then 'failed'
    end
$$;

-- The run summary object (last_run, last_successful_run, recent_runs entries).
-- p_deep adds the terminal event's known_gaps and collection_facts.
create or replace function connection_summary.run_summary(
    p_run connection_summary.run_evidence,
    p_lease_expires_at timestamptz,
    p_now timestamptz,
    p_deep boolean
)
returns jsonb
language sql
-- STABLE, not IMMUTABLE: jsonb_build_object renders timestamptz by TimeZone,
-- and a function is only inlined when its body is no more volatile than declared.
stable
parallel safe
as $$
    select case when p_run.run_id is not null then
        jsonb_build_object(
            'run_id', p_run.run_id,
            'status', connection_summary.run_status(
                p_settled_status => p_run.settled_status,
                p_has_started => p_run.has_started,
                p_lease_expires_at => p_lease_expires_at,
                p_now => p_now
            ),
            'started_at', p_run.first_at,
            'last_at', p_run.last_at,
            'finished_at', case
                when p_run.terminal_status is not null
                    or connection_summary.run_status(
                        p_settled_status => p_run.settled_status,
                        p_has_started => p_run.has_started,
                        p_lease_expires_at => p_lease_expires_at,
                        p_now => p_now
                    ) in ('succeeded', 'failed', 'cancelled', 'abandoned', 'surface_failed')
                    then p_run.last_at
            end,
            'event_count', p_run.event_count,
            'failure_reason', coalesce(
                p_run.failure_reason,
                case
                    when p_run.settled_status is null and p_run.has_started
                        and not coalesce(p_lease_expires_at > p_now, false)
                        then 'orphaned_started_run'
                end,
                -- Seed requirement: a surface_failed run without a run.failed
                -- reason shows the browser-surface evidence.
                case
                    when p_run.settled_status = 'surface_failed'
                        then coalesce(
                            p_run.surface_wait_reason, p_run.surface_status, 'browser_surface_failed'
                        )
                end
            )
        )
        || case when p_run.surface_status is not null or p_run.surface_profile_key is not null
            then jsonb_build_object('browser_surface', jsonb_build_object(
                'profile_key', p_run.surface_profile_key,
                'status', p_run.surface_status,
                'wait_reason', p_run.surface_wait_reason,
                'lease_id', p_run.surface_lease_id
            ))
            else '{}'::jsonb
        end
        || case when p_deep
            then jsonb_build_object(
                'known_gaps', coalesce(p_run.known_gaps, '[]'::jsonb),
                'collection_facts', p_run.collection_facts
            )
            else '{}'::jsonb
        end
    end
$$;

-- The scope of a read: the connections to summarize, their connectors, and
-- the connectors of which the owner has exactly one active connection (whose
-- unclaimed runs that connection gets). Readers compute it once and pass it
-- down, so that no later step reads connections or connectors again.
-- This one is for given ids (the scoped read); overview_scope() pages.
create or replace function connection_summary.connection_scope(
    p_owner_id text,
    p_connection_ids text[]
)
returns table (
    connections connection_summary.connections[],
    connectors connection_summary.connectors[],
    sole_active_connectors text[]
)
language sql
stable
parallel safe
as $$
    with scoped as materialized (
        select c
        from connection_summary.connections as c
        where c.owner_id = p_owner_id and c.connector_instance_id = any(p_connection_ids)
    )

    select
        (select array_agg(s.c) from scoped as s),
        (
            select array_agg(k)
            from connection_summary.connectors as k
            where k.connector_id in (select (s.c).connector_id from scoped as s)
        ),
        (
            select array_agg(a.connector_id)
            from (
                select n.connector_id
                from connection_summary.connections as n
                where n.owner_id = p_owner_id and n.status = 'active'
                    and n.connector_id in (select (s.c).connector_id from scoped as s)
                group by n.connector_id
                having count(*) = 1
            ) as a
        )
$$;

-- The claims of the connections in scope: connection_claims() applied to
-- each. Everything that attributes runs starts here.
create or replace function connection_summary.owned_claims(
    p_connections connection_summary.connections[],
    p_connectors connection_summary.connectors[],
    p_sole_active_connectors text[]
)
returns table (connector_instance_id text, connector_id text, claim_kind text, claim_value text)
language sql
stable
parallel safe
as $$
    select c.connector_instance_id, c.connector_id, cl.claim_kind, cl.claim_value
    from unnest(p_connections) as c
    left join unnest(p_connectors) as k on c.connector_id = k.connector_id
    cross join lateral connection_summary.connection_claims(
        p_connector_id => c.connector_id,
        p_connector_instance_id => c.connector_instance_id,
        p_manifest => k.manifest,
        p_sole_active => c.status = 'active'
        and coalesce(c.connector_id = any(p_sole_active_connectors), false)
    ) as cl
$$;

-- Last run, last successful run and last terminal run of each given
-- connection, by (last_at, run_id) over the runs the connection claims.
-- p_deep = false (the overview): the claims' heads come from the stored
-- run_heads, read once as a set. p_deep = true (scoped reads): the same head
-- rule is evaluated now on run_evidence through its claim indexes, and the
-- summaries carry known_gaps and collection_facts. Either way nothing is
-- folded from spine_events and no window of recent runs is involved.
-- last_terminal_run is always deep: coverage reads its gaps and facts.
create or replace function connection_summary.attributed_runs(
    p_owner_id text,
    p_connections connection_summary.connections[],
    p_connectors connection_summary.connectors[],
    p_sole_active_connectors text[],
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
    with claims as materialized (
        select *
        from connection_summary.owned_claims(
            p_connections => p_connections,
            p_connectors => p_connectors,
            p_sole_active_connectors => p_sole_active_connectors
        )
    ),

    stored_heads as materialized (
        select h.*
        from connection_summary.run_heads as h
        where not p_deep and h.owner_id = p_owner_id and h.source_kind = 'connector'
            and h.source_id in (select claims.connector_id from claims)
    ),

    -- Materialized: without statistics the planner may otherwise drive the
    -- head lookups from run_evidence and repeat them per run.
    claimed as materialized (
        select
            cl.connector_instance_id, cl.connector_id,
            h.latest_run_id, h.succeeded_run_id, h.terminal_run_id
        from claims as cl
        inner join stored_heads as h
            on cl.connector_id = h.source_id and cl.claim_kind = h.claim_kind
            and cl.claim_value = h.claim_value
        where not p_deep
        union all
        select
            cl.connector_instance_id, cl.connector_id,
            h.latest_run_id, h.succeeded_run_id, h.terminal_run_id
        from claims as cl
        cross join lateral connection_summary.run_claim_heads(
            p_owner_id => p_owner_id,
            p_source_kind => 'connector',
            p_source_id => cl.connector_id,
            p_claim_kind => cl.claim_kind,
            p_claim_value => cl.claim_value
        ) as h
        where p_deep
    ),

    -- Materialized: each candidate's run is then looked up by its full key
    -- (run_evidence_pkey). Flattened, a generic plan may scan all the runs of
    -- each connector through a claim index and filter on the run id, which
    -- grows with the connector's history.
    candidates as materialized (
        select cd.connector_instance_id, cd.connector_id, v.head, v.run_id
        from claimed as cd
        cross join lateral (
            values
            ('latest', cd.latest_run_id),
            ('succeeded', cd.succeeded_run_id),
            ('terminal', cd.terminal_run_id)
        ) as v (head, run_id)
        where v.run_id is not null
    ),

    picked as (
        select distinct on (cd.connector_instance_id, cd.head)
            cd.connector_instance_id, cd.head, r as run, a.lease_expires_at
        from candidates as cd
        inner join connection_summary.run_evidence as r
            on r.owner_id = p_owner_id and r.source_kind = 'connector'
            and cd.connector_id = r.source_id and cd.run_id = r.run_id
        left join connection_summary.active_runs as a
            on a.run_id = r.run_id and a.owner_id = p_owner_id
        order by cd.connector_instance_id, cd.head, r.last_at desc, r.run_id desc
    )

    select
        c.connector_instance_id,
        (array_agg(connection_summary.run_summary(
            p_run => p.run, p_lease_expires_at => p.lease_expires_at,
            p_now => p_now, p_deep => p_deep
        )) filter (where p.head = 'latest'))[1],
        (array_agg(connection_summary.run_summary(
            p_run => p.run, p_lease_expires_at => p.lease_expires_at,
            p_now => p_now, p_deep => p_deep
        )) filter (where p.head = 'succeeded'))[1],
        (array_agg(connection_summary.run_summary(
            p_run => p.run, p_lease_expires_at => p.lease_expires_at,
            p_now => p_now, p_deep => true
        )) filter (where p.head = 'terminal'))[1]
    from (select distinct claims.connector_instance_id from claims) as c
    left join picked as p on c.connector_instance_id = p.connector_instance_id
    group by c.connector_instance_id
$$;
