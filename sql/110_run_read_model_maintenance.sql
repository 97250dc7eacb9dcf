-- Keeping run_evidence and run_heads equal to their live definitions
-- (run_evidence_live, run_heads_live) as spine_events grows.
--
-- Incremental: each statement that inserts events folds ITS new events, per
-- run (fold_events over the transition table), and queues those folds
-- (run_maintenance_queue); at commit a deferred constraint trigger merges the
-- transaction's folds into the stored rows (merge_folds). The cost of an
-- insert is therefore proportional to the events it inserts, whatever the
-- length of their runs; out-of-order and duplicate-looking events need no
-- special case, because every choice of the fold is made by an ordering key.
--
-- Concurrency: writers of the same (owner_id, source_kind, source_id) are
-- serialized by transaction-scoped advisory locks, all taken at commit, in one
-- global order, before any row of the read model is touched. A transaction
-- therefore holds none of the projection's locks while it runs, and two
-- transactions that write connectors in opposite orders cannot deadlock on
-- them. The merge statement takes a fresh snapshot after the locks (READ
-- COMMITTED), so it merges into the row the writer it waited for committed.
-- Under REPEATABLE READ or SERIALIZABLE, a conflicting writer gets a
-- serialization failure (40001, retry) instead of a lost update.
--
-- The trigger functions are SECURITY DEFINER: writers need no privilege on
-- the read model, and cannot write it themselves.

-- Merges the folds this transaction queued into run_evidence and refreshes
-- the heads of the claims the merge touched.
create or replace function connection_summary.merge_queued_folds()
returns jsonb
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
-- Every commit that inserted events runs these statements. Their generic
-- plans (index scans on the keys) are as good as custom ones, and re-planning
-- them per commit would cost more than executing them (bench/ingest.py).
set plan_cache_mode = force_generic_plan
-- Short statements whose estimates can be large (generic plans, young
-- tables without statistics): JIT compilation would cost far more than it saves.
set jit = off
as $$
declare
    v_folds connection_summary.run_maintenance_queue[];
    v_claims jsonb;
begin
    -- This transaction's queue rows (the only ones it can see), merged to one
    -- fold per run.
    with taken as (
        delete from connection_summary.run_maintenance_queue
        returning owner_id, source_kind, source_id, run_id, fold
    )

    select array_agg(row(
        t.owner_id, t.source_kind, t.source_id, t.run_id, t.fold, false
    )::connection_summary.run_maintenance_queue)
    into v_folds
    from (
        select q.owner_id, q.source_kind, q.source_id, q.run_id, connection_summary.merged_folds(q.fold) as fold
        from taken as q
        group by q.owner_id, q.source_kind, q.source_id, q.run_id
    ) as t;
    if v_folds is null then
        return '[]'::jsonb;
    end if;

    -- Every lock of the transaction is taken here, in hash order, before any
    -- row of the read model is touched: two committing writers never wait on
    -- each other in a cycle.
    perform pg_advisory_xact_lock(
        1668181869,  -- namespace of this package's run-maintenance locks
        hashtext(g.owner_id || chr(31) || g.source_kind || chr(31) || g.source_id)
    )
    from (select distinct m.owner_id, m.source_kind, m.source_id from unnest(v_folds) as m) as g
    order by hashtext(g.owner_id || chr(31) || g.source_kind || chr(31) || g.source_id);

    -- One statement merges the folds and collects the claims to refresh: the
    -- claims the runs had before (a run whose claim changes, say a later event
    -- adds a browser profile key, must leave its old claim's heads) and the
    -- claims they have now (RETURNING, so the new rows are not read again).
    with old_claims as (
        select r.owner_id, r.source_kind, r.source_id, r.claim_kind, r.claim_value
        from connection_summary.run_evidence as r
        inner join unnest(v_folds) as m
            on r.owner_id = m.owner_id and r.source_kind = m.source_kind
            and r.source_id = m.source_id and r.run_id = m.run_id
    ),

    merged as (
        insert into connection_summary.run_evidence as r (
            owner_id, source_kind, source_id, run_id,
        first_at, last_at, event_count, has_started, newest_status, terminal_status,
        terminal_event_seq, failure_reason, surface_profile_key, surface_status,
        surface_wait_reason, surface_lease_id, explicit_connection_id, known_gaps,
        collection_facts, newest_status_at, newest_status_seq, terminal_at, failure_at,
        failure_seq, profile_at, profile_seq, surface_at, surface_seq, explicit_at,
        explicit_seq
        )
        select m.owner_id, m.source_kind, m.source_id, m.run_id, (m.fold).*
        from unnest(v_folds) as m
        on conflict (owner_id, source_kind, source_id, run_id) do update set (
        first_at, last_at, event_count, has_started, newest_status, terminal_status,
        terminal_event_seq, failure_reason, surface_profile_key, surface_status,
        surface_wait_reason, surface_lease_id, explicit_connection_id, known_gaps,
        collection_facts, newest_status_at, newest_status_seq, terminal_at, failure_at,
        failure_seq, profile_at, profile_seq, surface_at, surface_seq, explicit_at,
        explicit_seq
        ) = (
            select (f.fold).*
            from (
                select connection_summary.merge_folds(
                    p_a => connection_summary.stored_fold(p_run => r),
                    p_b => connection_summary.stored_fold(p_run => excluded)
                ) as fold
            ) as f
        )
        returning r.owner_id, r.source_kind, r.source_id, r.claim_kind, r.claim_value
    )

    select coalesce(jsonb_agg(distinct jsonb_build_array(
        c.owner_id, c.source_kind, c.source_id, c.claim_kind, c.claim_value)), '[]')
    into v_claims
    from (select * from old_claims union select * from merged) as c;

    return connection_summary.refresh_claim_heads(p_claims => v_claims);
end;
$$;

comment on function connection_summary.merge_queued_folds() is
'Merges the run folds this transaction queued into run_evidence and refreshes the heads of their claims; returns those claims, [owner_id, connector_id, claim_kind, claim_value].';

-- A stored run row as a fold (its columns of run_fold).
create or replace function connection_summary.stored_fold(p_run connection_summary.run_evidence)
returns connection_summary.run_fold
language sql
immutable
parallel safe
as $$
    select row(
        p_run.first_at, p_run.last_at, p_run.event_count, p_run.has_started,
        p_run.newest_status, p_run.terminal_status, p_run.terminal_event_seq,
        p_run.failure_reason, p_run.surface_profile_key, p_run.surface_status,
        p_run.surface_wait_reason, p_run.surface_lease_id, p_run.explicit_connection_id,
        p_run.known_gaps, p_run.collection_facts, p_run.newest_status_at,
        p_run.newest_status_seq, p_run.terminal_at, p_run.failure_at, p_run.failure_seq,
        p_run.profile_at, p_run.profile_seq, p_run.surface_at, p_run.surface_seq,
        p_run.explicit_at, p_run.explicit_seq
    )::connection_summary.run_fold
$$;

-- Returns every connector claim it refreshed, [owner_id, connector_id,
-- claim_kind, claim_value] (for connection_states, which keeps each
-- connection's heads). Every one, not only those whose head run ids changed:
-- a head run whose events moved it (a later last_at, a new terminal event)
-- keeps its id in its claim but can overtake another claim's head in a
-- connection that reads both (its own claim and the unclaimed runs it owns).
create or replace function connection_summary.refresh_claim_heads(p_claims jsonb)
returns jsonb
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
-- Short statements whose estimates can be large (generic plans, young
-- tables without statistics): JIT compilation would cost far more than it saves.
set jit = off
as $$
-- p_claims: [[owner_id, source_kind, source_id, claim_kind, claim_value], ...]
declare
    v_moved jsonb;
begin
    with claims as (
        select distinct
            c ->> 0 as owner_id, c ->> 1 as source_kind, c ->> 2 as source_id,
            c ->> 3 as claim_kind, c ->> 4 as claim_value
        from jsonb_array_elements(p_claims) as c
    ),

    heads as (
        select c.*, h.latest_run_id, h.succeeded_run_id, h.terminal_run_id
        from claims as c
        cross join lateral connection_summary.run_claim_heads(
            p_owner_id => c.owner_id,
            p_source_kind => c.source_kind,
            p_source_id => c.source_id,
            p_claim_kind => c.claim_kind,
            p_claim_value => c.claim_value
        ) as h
    ),

    emptied as (
        delete from connection_summary.run_heads as rh
        using heads as h
        where rh.owner_id = h.owner_id and rh.source_kind = h.source_kind
            and rh.source_id = h.source_id and rh.claim_kind = h.claim_kind
            and rh.claim_value = h.claim_value and h.latest_run_id is null
    ),

    stored as (
    insert into connection_summary.run_heads as rh (
        owner_id, source_kind, source_id, claim_kind, claim_value,
        latest_run_id, succeeded_run_id, terminal_run_id
    )
    select
        h.owner_id, h.source_kind, h.source_id, h.claim_kind, h.claim_value,
        h.latest_run_id, h.succeeded_run_id, h.terminal_run_id
    from heads as h
    where h.latest_run_id is not null
    on conflict (owner_id, source_kind, source_id, claim_kind, claim_value) do update set
        latest_run_id = excluded.latest_run_id,
        succeeded_run_id = excluded.succeeded_run_id,
        terminal_run_id = excluded.terminal_run_id
    where (rh.latest_run_id, rh.succeeded_run_id, rh.terminal_run_id)
        is distinct from (excluded.latest_run_id, excluded.succeeded_run_id, excluded.terminal_run_id)
    )

    -- The statements above run whether or not this reads them.
    select coalesce(jsonb_agg(jsonb_build_array(
        c.owner_id, c.source_id, c.claim_kind, c.claim_value
    )), '[]')
    into v_moved
    from claims as c
    where c.source_kind = 'connector';

    -- Under REPEATABLE READ the heads above were chosen from this transaction's
    -- snapshot. Lock the chosen runs: if a concurrent writer changed one since
    -- (moved it to another claim, say), this raises a serialization failure
    -- (40001, retry) instead of storing a head that no longer belongs to its
    -- claim. READ COMMITTED needs none of this (each statement sees the latest
    -- commits after the advisory lock); SERIALIZABLE detects it by itself.
    if current_setting('transaction_isolation') = 'repeatable read' then
        perform 1
        from connection_summary.run_evidence as r
        inner join connection_summary.run_heads as h
            on r.owner_id = h.owner_id and r.source_kind = h.source_kind
            and r.source_id = h.source_id
            and r.run_id in (h.latest_run_id, h.succeeded_run_id, h.terminal_run_id)
        where (h.owner_id, h.source_kind, h.source_id, h.claim_kind, h.claim_value) in (
            select c ->> 0, c ->> 1, c ->> 2, c ->> 3, c ->> 4
            from jsonb_array_elements(p_claims) as c
        )
        for share of r;
    end if;
    return v_moved;
end;
$$;

create or replace function connection_summary.spine_events_refold()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_first boolean;
begin
    if not exists (select from new_events as n where n.run_id is not null) then
        return null;
    end if;
    -- starts_fold: the first queue row of the transaction (or the first since
    -- the last fold, under SET CONSTRAINTS ... IMMEDIATE) queues the commit
    -- trigger; the rest only wait to be merged with it. The flag is set before
    -- the insert: an immediate trigger fires, and clears it, inside the insert.
    v_first := coalesce(current_setting('connection_summary.fold_queued', true), '') <> 'on';
    perform set_config('connection_summary.fold_queued', 'on', true);
    insert into connection_summary.run_maintenance_queue (
        owner_id, source_kind, source_id, run_id, fold, starts_fold
    )
    select
        n.owner_id, n.source_kind, n.source_id, n.run_id,
        connection_summary.fold_events(n),
        v_first and row_number() over () = 1
    from new_events as n
    where n.run_id is not null
    group by n.owner_id, n.source_kind, n.source_id, n.run_id;
    return null;
end;
$$;

comment on function connection_summary.spine_events_refold() is
'Statement trigger on spine_events: folds the statement''s new events per run and queues the folds for the commit.';

-- At commit (one trigger event per transaction): merge what the transaction
-- queued.
create or replace function connection_summary.run_maintenance_on_commit()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform set_config('connection_summary.fold_queued', '', true);
    -- Runs first, then connection states: one order of locks for everyone.
    perform connection_summary.refresh_connection_states(
        p_head_groups => connection_summary.merge_queued_folds()
    );
    return null;
end;
$$;

comment on function connection_summary.run_maintenance_on_commit() is
'Deferred trigger on run_maintenance_queue and connection_state_queue: merges the folds, then recomputes the connection states, the committing transaction queued.';

create or replace function connection_summary.rebuild_run_evidence()
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
-- Repair and upgrade path: replaces the read model with the live fold.
-- Runs that began before the retention horizon (spine_event_retention) may
-- have lost events to drop_spine_events_before(): their stored rows are kept
-- as they are. Blocks writers of spine_events for its duration; readers see
-- the old rows until it commits. Returns the number of runs refolded.
declare
    v_runs bigint;
    v_horizon timestamptz;
begin
    lock table connection_summary.spine_events in share row exclusive mode;
    select r.dropped_before into v_horizon from connection_summary.spine_event_retention as r;
    delete from connection_summary.run_heads;
    delete from connection_summary.run_evidence as r
    where v_horizon is null or r.first_at >= v_horizon;
    insert into connection_summary.run_evidence (
        owner_id, source_kind, source_id, run_id,
        first_at, last_at, event_count, has_started, newest_status, terminal_status,
        terminal_event_seq, failure_reason, surface_profile_key, surface_status,
        surface_wait_reason, surface_lease_id, explicit_connection_id, known_gaps,
        collection_facts, newest_status_at, newest_status_seq, terminal_at, failure_at,
        failure_seq, profile_at, profile_seq, surface_at, surface_seq, explicit_at,
        explicit_seq
    )
    select v.*
    from connection_summary.run_evidence_live as v
    where not exists (
        select
        from connection_summary.run_evidence as r
        where r.owner_id = v.owner_id and r.source_kind = v.source_kind
            and r.source_id = v.source_id and r.run_id = v.run_id
    );
    get diagnostics v_runs = row_count;
    insert into connection_summary.run_heads (
        owner_id, source_kind, source_id, claim_kind, claim_value,
        latest_run_id, succeeded_run_id, terminal_run_id
    )
    select
        h.owner_id, h.source_kind, h.source_id, h.claim_kind, h.claim_value,
        h.latest_run_id, h.succeeded_run_id, h.terminal_run_id
    from connection_summary.run_heads_live as h;
    insert into connection_summary.read_model_versions as m (read_model, definition_md5)
    values ('run_evidence', connection_summary.run_fold_definition_md5())
    on conflict (read_model) do update
    set definition_md5 = excluded.definition_md5, rebuilt_at = now();
    -- The connections' stored heads come from run_heads.
    perform connection_summary.rebuild_connection_states();
    return v_runs;
end;
$$;

comment on function connection_summary.rebuild_run_evidence() is
'Rebuilds run_evidence and run_heads from spine_events (repair, upgrades), keeping the stored rows of runs that began before the retention horizon; returns the number of runs refolded.';

create or replace function connection_summary.run_fold_definition_md5()
returns text
language sql
stable
-- pg_get_viewdef qualifies names by the search_path: pin it so the hash is stable.
set search_path = pg_catalog, pg_temp
as $$
    select md5(
        pg_get_viewdef('connection_summary.run_evidence_live'::regclass)
        || pg_get_functiondef('connection_summary.fold_event(connection_summary.run_fold,connection_summary.spine_events)'::regprocedure)
        || pg_get_functiondef('connection_summary.merge_folds(connection_summary.run_fold,connection_summary.run_fold)'::regprocedure)
        || pg_get_functiondef('connection_summary.fold_key_newer(timestamptz,bigint,timestamptz,bigint)'::regprocedure)
        || pg_get_functiondef('connection_summary.run_claim_heads(text,text,text,text,text)'::regprocedure)
    )
$$;

create or replace trigger spine_events_refold_runs
after insert on connection_summary.spine_events
referencing new table as new_events
for each statement
execute function connection_summary.spine_events_refold();

-- A constraint trigger cannot be replaced in place.
drop trigger if exists run_maintenance_on_commit on connection_summary.run_maintenance_queue;

-- SET CONSTRAINTS connection_summary.run_maintenance_on_commit IMMEDIATE folds
-- at the end of each statement instead (a transaction that reads its own
-- events back); the projection's locks are then held from that statement on.
create constraint trigger run_maintenance_on_commit
after insert on connection_summary.run_maintenance_queue
deferrable initially deferred
for each row
when (new.starts_fold)
execute function connection_summary.run_maintenance_on_commit();

-- spine_events is append-only: an UPDATE or DELETE would silently desync the
-- read model, so it is refused (TRUNCATE, an operator's tool, empties both).
create or replace function connection_summary.spine_events_append_only()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception 'connection_summary.spine_events is append-only (% refused)', tg_op
        using errcode = '55000',
        hint = 'to repair, fix the source and call connection_summary.rebuild_run_evidence()';
end;
$$;

create or replace trigger spine_events_append_only
before update or delete on connection_summary.spine_events
for each statement
execute function connection_summary.spine_events_append_only();

create or replace function connection_summary.spine_events_truncated()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    truncate connection_summary.run_heads, connection_summary.run_evidence;
    -- No event is left to have been dropped.
    delete from connection_summary.spine_event_retention;
    -- Not TRUNCATE: this transaction's queue rows have commit triggers pending.
    delete from connection_summary.run_maintenance_queue;
    -- Every connection's stored heads are gone with them.
    perform connection_summary.queue_every_connection_state();
    return null;
end;
$$;

create or replace trigger spine_events_truncate_read_model
after truncate on connection_summary.spine_events
for each statement
execute function connection_summary.spine_events_truncated();
