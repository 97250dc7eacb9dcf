-- Keeping run_evidence and run_heads equal to their live definitions
-- (run_evidence_live, run_heads_live) as spine_events grows.
--
-- Each statement that inserts events queues the keys of the runs it touched
-- (run_maintenance_queue); at commit a deferred constraint trigger folds every
-- run the transaction touched, once. A touched run is refolded from ALL its
-- events (not merged incrementally), so out-of-order arrival needs no special
-- case.
--
-- Concurrency: writers of the same (owner_id, source_kind, source_id) are
-- serialized by transaction-scoped advisory locks, all taken at commit, in one
-- global order, before any row of the read model is touched. A transaction
-- therefore holds none of the projection's locks while it runs, and two
-- transactions that write connectors in opposite orders cannot deadlock on
-- them. Each refold statement takes a fresh snapshot (READ COMMITTED), so it
-- sees every event committed by the writer it waited for. Under REPEATABLE
-- READ or SERIALIZABLE, a conflicting writer gets a serialization failure
-- (40001, retry) instead of a lost update.
--
-- The trigger functions are SECURITY DEFINER: writers need no privilege on
-- the read model, and cannot write it themselves.

create or replace function connection_summary.refold_runs(p_keys jsonb)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
-- Every insert into spine_events runs these statements. Their generic plans
-- (index scans on = ANY($n)) are as good as custom ones, and re-planning them
-- per statement cost more than executing them: 0.9 vs 0.35 ms per single-row
-- insert (bench/ingest.py).
set plan_cache_mode = force_generic_plan
as $$
-- p_keys: [[owner_id, source_kind, source_id, run_id], ...] of the touched runs.
declare
    v_owners text[];
    v_kinds text[];
    v_sources text[];
    v_runs text[];
    v_claims jsonb;
begin
    if p_keys is null or jsonb_array_length(p_keys) = 0 then
        return;
    end if;

    -- Every lock of the transaction is taken here, in hash order, before any
    -- row of the read model is touched: two committing writers never wait on
    -- each other in a cycle.
    perform pg_advisory_xact_lock(
        1668181869,  -- namespace of this package's run-maintenance locks
        hashtext(g.owner_id || chr(31) || g.source_kind || chr(31) || g.source_id)
    )
    from (
        select distinct k ->> 0 as owner_id, k ->> 1 as source_kind, k ->> 2 as source_id
        from jsonb_array_elements(p_keys) as k
    ) as g
    order by hashtext(g.owner_id || chr(31) || g.source_kind || chr(31) || g.source_id);

    select
        array_agg(distinct k ->> 0), array_agg(distinct k ->> 1),
        array_agg(distinct k ->> 2), array_agg(distinct k ->> 3)
    into v_owners, v_kinds, v_sources, v_runs
    from jsonb_array_elements(p_keys) as k;

    -- One statement refolds the touched runs and collects the claims to refresh:
    -- the claims the runs had before (a run whose claim changes, say a later
    -- event adds a browser profile key, must leave its old claim's heads) and
    -- the claims they have now (RETURNING, so the new rows are not read again).
    -- The ANY() filters reach the spine index through the view; the hashed
    -- semi-join then keeps exactly the touched runs (a per-row containment test
    -- on the key array would cost runs x keys).
    with old_claims as (
        select r.owner_id, r.source_kind, r.source_id, r.claim_kind, r.claim_value
        from connection_summary.run_evidence as r
        where r.owner_id = any(v_owners) and r.source_kind = any(v_kinds)
            and r.source_id = any(v_sources) and r.run_id = any(v_runs)
            and (r.owner_id, r.source_kind, r.source_id, r.run_id) in (
                select k ->> 0, k ->> 1, k ->> 2, k ->> 3 from jsonb_array_elements(p_keys) as k
            )
    ),

    refolded as (
        insert into connection_summary.run_evidence as r (
            owner_id, source_kind, source_id, run_id, first_at, last_at, event_count,
            has_started, newest_status, terminal_status, terminal_event_seq, failure_reason,
            surface_profile_key, surface_status, surface_wait_reason, surface_lease_id,
            explicit_connection_id, known_gaps, collection_facts
        )
        select
            v.owner_id, v.source_kind, v.source_id, v.run_id, v.first_at, v.last_at,
            v.event_count, v.has_started, v.newest_status, v.terminal_status,
            v.terminal_event_seq, v.failure_reason, v.surface_profile_key, v.surface_status,
            v.surface_wait_reason, v.surface_lease_id, v.explicit_connection_id,
            v.known_gaps, v.collection_facts
        from connection_summary.run_evidence_live as v
        where v.owner_id = any(v_owners) and v.source_kind = any(v_kinds)
            and v.source_id = any(v_sources) and v.run_id = any(v_runs)
            and (v.owner_id, v.source_kind, v.source_id, v.run_id) in (
                select k ->> 0, k ->> 1, k ->> 2, k ->> 3 from jsonb_array_elements(p_keys) as k
            )
        on conflict (owner_id, source_kind, source_id, run_id) do update set
            first_at = excluded.first_at,
            last_at = excluded.last_at,
            event_count = excluded.event_count,
            has_started = excluded.has_started,
            newest_status = excluded.newest_status,
            terminal_status = excluded.terminal_status,
            terminal_event_seq = excluded.terminal_event_seq,
            failure_reason = excluded.failure_reason,
            surface_profile_key = excluded.surface_profile_key,
            surface_status = excluded.surface_status,
            surface_wait_reason = excluded.surface_wait_reason,
            surface_lease_id = excluded.surface_lease_id,
            explicit_connection_id = excluded.explicit_connection_id,
            known_gaps = excluded.known_gaps,
            collection_facts = excluded.collection_facts
        returning r.owner_id, r.source_kind, r.source_id, r.claim_kind, r.claim_value
    )

    select coalesce(jsonb_agg(distinct jsonb_build_array(
        c.owner_id, c.source_kind, c.source_id, c.claim_kind, c.claim_value)), '[]')
    into v_claims
    from (select * from old_claims union select * from refolded) as c;

    perform connection_summary.refresh_run_heads(p_claims => v_claims);
end;
$$;

comment on function connection_summary.refold_runs(jsonb) is
'Refolds the given runs from spine_events into run_evidence and refreshes the heads of their claims.';

create or replace function connection_summary.refresh_run_heads(p_claims jsonb)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
-- p_claims: [[owner_id, source_kind, source_id, claim_kind, claim_value], ...]
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
    )

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
        is distinct from (excluded.latest_run_id, excluded.succeeded_run_id, excluded.terminal_run_id);

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
end;
$$;

create or replace function connection_summary.spine_events_refold()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into connection_summary.run_maintenance_queue (run_keys)
    select jsonb_agg(distinct jsonb_build_array(n.owner_id, n.source_kind, n.source_id, n.run_id))
    from new_events as n
    where n.run_id is not null
    having count(*) > 0;
    return null;
end;
$$;

comment on function connection_summary.spine_events_refold() is
'Statement trigger on spine_events: queues the touched runs for the commit-time fold.';

-- At commit: the first firing folds every run this transaction queued (its
-- own queue rows are the only ones it can see) and empties them; the later
-- firings of the same commit find nothing.
create or replace function connection_summary.run_maintenance_on_commit()
returns trigger
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_keys jsonb;
begin
    with taken as (
        delete from connection_summary.run_maintenance_queue
        returning run_keys
    )

    select jsonb_agg(distinct k.key)
    into v_keys
    from taken as t
    cross join lateral jsonb_array_elements(t.run_keys) as k (key);
    perform connection_summary.refold_runs(p_keys => v_keys);
    return null;
end;
$$;

comment on function connection_summary.run_maintenance_on_commit() is
'Deferred trigger on run_maintenance_queue: folds the runs the committing transaction touched.';

create or replace function connection_summary.rebuild_run_evidence()
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
-- Repair and upgrade path: replaces the whole read model with the live fold.
-- Blocks writers of spine_events for its duration; readers see the old rows
-- until it commits. Returns the number of runs.
declare
    v_runs bigint;
begin
    lock table connection_summary.spine_events in share row exclusive mode;
    delete from connection_summary.run_heads;
    delete from connection_summary.run_evidence;
    insert into connection_summary.run_evidence (
        owner_id, source_kind, source_id, run_id, first_at, last_at, event_count,
        has_started, newest_status, terminal_status, terminal_event_seq, failure_reason,
        surface_profile_key, surface_status, surface_wait_reason, surface_lease_id,
        explicit_connection_id, known_gaps, collection_facts
    )
    select
        v.owner_id, v.source_kind, v.source_id, v.run_id, v.first_at, v.last_at,
        v.event_count, v.has_started, v.newest_status, v.terminal_status,
        v.terminal_event_seq, v.failure_reason, v.surface_profile_key, v.surface_status,
        v.surface_wait_reason, v.surface_lease_id, v.explicit_connection_id,
        v.known_gaps, v.collection_facts
    from connection_summary.run_evidence_live as v;
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
    return v_runs;
end;
$$;

comment on function connection_summary.rebuild_run_evidence() is
'Rebuilds run_evidence and run_heads from spine_events (repair, upgrades); returns the number of runs.';

create or replace function connection_summary.run_fold_definition_md5()
returns text
language sql
stable
-- pg_get_viewdef qualifies names by the search_path: pin it so the hash is stable.
set search_path = pg_catalog, pg_temp
as $$
    select md5(
        pg_get_viewdef('connection_summary.run_evidence_live'::regclass)
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
    -- Not TRUNCATE: this transaction's queue rows have commit triggers pending.
    delete from connection_summary.run_maintenance_queue;
    return null;
end;
$$;

create or replace trigger spine_events_truncate_read_model
after truncate on connection_summary.spine_events
for each statement
execute function connection_summary.spine_events_truncated();

-- First install, or a changed fold: rebuild the stored rows now, in the same
-- transaction as the new definitions, so readers never see a mix.
do $$
begin
    if not exists (
        select 1 from connection_summary.read_model_versions
        where read_model = 'run_evidence'
            and definition_md5 = connection_summary.run_fold_definition_md5()
    ) then
        perform connection_summary.rebuild_run_evidence();
    end if;
end;
$$;
