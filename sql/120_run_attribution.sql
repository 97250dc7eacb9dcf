-- Run rules (docs/contract.md §Run evidence, §Attribution): which runs
-- belong to a connection and which are its heads (applied when its
-- connection_states row is stored), what status a run has at p_now and the
-- run summary object (applied at read time). All are small SQL functions that
-- the planner inlines into their callers.

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
-- connector (owns_unclaimed_runs()). So a run is never handed to a sibling.
create or replace function connection_summary.connection_claims(
    p_profile_key text,
    p_connection_id text,
    p_owns_unclaimed_runs boolean
)
returns table (claim_kind text, claim_value text)
language sql
immutable
parallel safe
as $$
    select 'profile', p_profile_key
    union all
    select 'connection', p_connection_id
    union all
    select 'none', '' where p_owns_unclaimed_runs
$$;

-- Whether a connection gets its connector's unclaimed runs: it is active and
-- the owner's only active connection of that connector. One row; a set so
-- that callers join it laterally (a scalar SQL function holding a subquery is
-- never inlined).
create or replace function connection_summary.owns_unclaimed_runs(
    p_owner_id text,
    p_connector_id text,
    p_status text
)
returns table (owns_unclaimed_runs boolean)
language sql
stable
parallel safe
as $$
    select p_status = 'active' and count(*) = 1
    from connection_summary.connections as n
    where n.owner_id = p_owner_id and n.connector_id = p_connector_id and n.status = 'active'
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
                -- docs/contract.md §Run evidence: a surface_failed run without a run.failed
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

-- The heads of one connection over the claims it owns: its latest, latest
-- succeeded and latest terminal run, each the newest by (last_at, run_id)
-- among its claims' heads. p_live = false reads each claim's stored heads
-- (run_heads: how connection_states keeps them); p_live = true evaluates the
-- same head rule now on run_evidence through its claim indexes (the scoped
-- read). Either way nothing is folded from spine_events.
create or replace function connection_summary.connection_heads(
    p_owner_id text,
    p_connector_id text,
    p_connection_id text,
    p_profile_key text,
    p_owns_unclaimed_runs boolean,
    p_live boolean
)
returns table (latest_run_id text, succeeded_run_id text, terminal_run_id text)
language sql
stable
parallel safe
as $$
    select
        (array_agg(r.run_id order by r.last_at desc, r.run_id desc) filter (where c.head = 'latest'))[1],
        (array_agg(r.run_id order by r.last_at desc, r.run_id desc) filter (where c.head = 'succeeded'))[1],
        (array_agg(r.run_id order by r.last_at desc, r.run_id desc) filter (where c.head = 'terminal'))[1]
    from (
        -- The candidates first (offset 0), then each one's run by its key
        -- (a lateral, fenced lookup): whatever the statistics, the plan cannot
        -- turn around and scan runs to evaluate the heads once per run.
        select v.head, v.run_id
        from connection_summary.connection_claims(
            p_profile_key => p_profile_key,
            p_connection_id => p_connection_id,
            p_owns_unclaimed_runs => p_owns_unclaimed_runs
        ) as cl
        cross join lateral (
            select h.latest_run_id, h.succeeded_run_id, h.terminal_run_id
            from connection_summary.run_heads as h
            where not p_live and h.owner_id = p_owner_id and h.source_kind = 'connector'
                and h.source_id = p_connector_id and h.claim_kind = cl.claim_kind
                and h.claim_value = cl.claim_value
            union all
            select h.latest_run_id, h.succeeded_run_id, h.terminal_run_id
            from connection_summary.run_claim_heads(
                p_owner_id => p_owner_id,
                p_source_kind => 'connector',
                p_source_id => p_connector_id,
                p_claim_kind => cl.claim_kind,
                p_claim_value => cl.claim_value
            ) as h
            where p_live
        ) as h
        cross join lateral (
            values ('latest', h.latest_run_id), ('succeeded', h.succeeded_run_id), ('terminal', h.terminal_run_id)
        ) as v (head, run_id)
        where v.run_id is not null
        offset 0
    ) as c
    cross join lateral (
        select r0.run_id, r0.last_at
        from connection_summary.run_evidence as r0
        where r0.owner_id = p_owner_id and r0.source_kind = 'connector'
            and r0.source_id = p_connector_id and r0.run_id = c.run_id
        offset 0
    ) as r
$$;

-- When the lease of a started, unsettled run expires (active_runs); no row
-- for any other run, whose status no lease changes. The succeeded and
-- terminal heads are settled by definition, so only the latest run needs it.
-- A set-returning function joined laterally: a scalar SQL function holding a
-- subquery is never inlined.
create or replace function connection_summary.run_lease(
    p_owner_id text,
    p_run connection_summary.run_evidence
)
returns table (lease_expires_at timestamptz)
language sql
stable
parallel safe
as $$
    select a.lease_expires_at
    from connection_summary.active_runs as a
    where p_run.settled_status is null and p_run.has_started
        and a.run_id = p_run.run_id and a.owner_id = p_owner_id
$$;

-- The run summaries of a connection's three heads: last_run,
-- last_successful_run and last_terminal_run (always deep: coverage reads its
-- gaps and facts). Each is one lookup by the run's key; a run's lease (for the
-- status of a started, unsettled run) is looked up only for such a run.
create or replace function connection_summary.connection_runs(
    p_owner_id text,
    p_connector_id text,
    p_latest_run_id text,
    p_succeeded_run_id text,
    p_terminal_run_id text,
    p_now timestamptz,
    p_deep boolean
)
returns table (last_run jsonb, last_successful_run jsonb, last_terminal_run jsonb)
language sql
stable
parallel safe
as $$
    -- Each summary is a plain column (offset 0) by the time the rules read
    -- it: a rule given a subquery as an argument it reads more than once would
    -- not be inlined.
    select l.summary, s.summary, t.summary
    from (
        select connection_summary.run_summary(
            p_run => r, p_lease_expires_at => x.lease_expires_at, p_now => p_now, p_deep => p_deep
        ) as summary
        from (select 1) as one
        left join lateral (
            select r0.*
            from connection_summary.run_evidence as r0
            where r0.owner_id = p_owner_id and r0.source_kind = 'connector'
                and r0.source_id = p_connector_id and r0.run_id = p_latest_run_id
        ) as r on true
        left join lateral connection_summary.run_lease(p_owner_id => p_owner_id, p_run => r) as x on true
        offset 0
    ) as l
    cross join lateral (
        select connection_summary.run_summary(
            p_run => r, p_lease_expires_at => null, p_now => p_now, p_deep => p_deep
        ) as summary
        from (select 1) as one
        left join lateral (
            select r0.*
            from connection_summary.run_evidence as r0
            where r0.owner_id = p_owner_id and r0.source_kind = 'connector'
                and r0.source_id = p_connector_id and r0.run_id = p_succeeded_run_id
        ) as r on true
        offset 0
    ) as s
    cross join lateral (
        select connection_summary.run_summary(
            p_run => r, p_lease_expires_at => null, p_now => p_now, p_deep => true
        ) as summary
        from (select 1) as one
        left join lateral (
            select r0.*
            from connection_summary.run_evidence as r0
            where r0.owner_id = p_owner_id and r0.source_kind = 'connector'
                and r0.source_id = p_connector_id and r0.run_id = p_terminal_run_id
        ) as r on true
        offset 0
    ) as t
$$;
