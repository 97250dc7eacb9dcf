-- The run fold (docs/design.md): how the events of one run become one run row.
--
-- A run is the set of events with one (owner_id, source_kind, source_id,
-- run_id). An event's time is least(occurred_at, recorded_at): an event dated
-- after it reached the database counts as happening on arrival, so a producer
-- with a clock far ahead cannot hide the runs that follow (docs/security.md).
--
-- Every field of the fold is a choice by an ordering key: the earliest and
-- latest time, a count, a flag, and the value of the newest (or, for the
-- failure reason, earliest) event of some kind by (time, event_seq). A fold
-- (run_fold) keeps those keys, so two folds of disjoint sets of events merge
-- into the fold of their union without the events: fold_event() adds one
-- event, merge_folds() merges two folds. They are the ONLY definition of the
-- fold: the aggregate fold_events() is built from them, the view
-- run_evidence_live, the write path (each statement folds its new events and
-- the commit merges them into the stored rows) and rebuild_run_evidence() all
-- use it, and the property tests compare the stored rows with the view.
-- Because the keys order the choices, events that arrive out of order, in any
-- statement, fold to the same row.

-- Is (p_at, p_seq) newer than (p_than_at, p_than_seq)? A missing key is older
-- than anything.
create or replace function connection_summary.fold_key_newer(
    p_at timestamptz, p_seq bigint, p_than_at timestamptz, p_than_seq bigint
)
returns boolean
language sql
immutable
parallel safe
as $$
    select p_at is not null and (p_than_at is null or (p_at, p_seq) > (p_than_at, p_than_seq))
$$;

-- One event added to a fold (NULL: the empty fold).
create or replace function connection_summary.fold_event(
    p_fold connection_summary.run_fold,
    p_event connection_summary.spine_events
)
returns connection_summary.run_fold
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    f connection_summary.run_fold := p_fold;
    v_at timestamptz := least(p_event.occurred_at, p_event.recorded_at);
    v_seq bigint := p_event.event_seq;
    v_surface jsonb := p_event.data -> 'browser_surface';
    v_explicit text := coalesce(
        p_event.connector_instance_id, p_event.connection_id,
        p_event.data ->> 'connector_instance_id', p_event.data ->> 'connection_id'
    );
begin
    if f is null then
        f := row(
            v_at, v_at, 0, false, null, null, null, null, null, null, null, null, null, null, null,
            null, null, null, null, null, null, null, null, null, null, null
        )::connection_summary.run_fold;
    end if;
    f.first_at := least(f.first_at, v_at);
    f.last_at := greatest(f.last_at, v_at);
    f.event_count := f.event_count + 1;
    f.has_started := f.has_started or p_event.event_type = 'run.started';
    if p_event.status is not null
        and connection_summary.fold_key_newer(v_at, v_seq, f.newest_status_at, f.newest_status_seq) then
        f.newest_status := p_event.status;
        f.newest_status_at := v_at;
        f.newest_status_seq := v_seq;
    end if;
    -- The newest terminal event: the run's status (its own, else the one its
    -- type implies), its known gaps and collection facts.
    if p_event.event_type in ('run.completed', 'run.failed', 'run.cancelled', 'run.abandoned')
        and connection_summary.fold_key_newer(v_at, v_seq, f.terminal_at, f.terminal_event_seq) then
        f.terminal_status := coalesce(p_event.status, case p_event.event_type
            when 'run.completed' then 'succeeded'
            when 'run.failed' then 'failed'
            when 'run.cancelled' then 'cancelled'
            when 'run.abandoned' then 'abandoned'
        end);
        f.terminal_at := v_at;
        f.terminal_event_seq := v_seq;
        f.known_gaps := p_event.data -> 'known_gaps';
        f.collection_facts := p_event.data -> 'collection_facts';
    end if;
    -- The earliest failure that says why: a failed or rejected event, or a
    -- run.failed whatever its status (it may say surface_failed).
    if (p_event.status in ('failed', 'rejected') or p_event.event_type = 'run.failed')
        and p_event.data ->> 'reason' is not null
        and (f.failure_at is null or (v_at, v_seq) < (f.failure_at, f.failure_seq)) then
        f.failure_reason := p_event.data ->> 'reason';
        f.failure_at := v_at;
        f.failure_seq := v_seq;
    end if;
    -- A run carries a profile key when any of its events does (the newest
    -- wins): a later lease event without one does not un-stamp the run.
    if nullif(v_surface ->> 'browser_surface_profile_key', '') is not null
        and connection_summary.fold_key_newer(v_at, v_seq, f.profile_at, f.profile_seq) then
        f.surface_profile_key := v_surface ->> 'browser_surface_profile_key';
        f.profile_at := v_at;
        f.profile_seq := v_seq;
    end if;
    -- The other browser-surface fields come from data.browser_surface of the
    -- newest run.browser_surface_* event, never from the event's status column.
    if starts_with(p_event.event_type, 'run.browser_surface_')
        and connection_summary.fold_key_newer(v_at, v_seq, f.surface_at, f.surface_seq) then
        f.surface_status := v_surface ->> 'browser_surface_status';
        f.surface_wait_reason := v_surface ->> 'browser_surface_wait_reason';
        f.surface_lease_id := v_surface ->> 'browser_surface_lease_id';
        f.surface_at := v_at;
        f.surface_seq := v_seq;
    end if;
    if v_explicit is not null
        and connection_summary.fold_key_newer(v_at, v_seq, f.explicit_at, f.explicit_seq) then
        f.explicit_connection_id := v_explicit;
        f.explicit_at := v_at;
        f.explicit_seq := v_seq;
    end if;
    return f;
end;
$$;

comment on function connection_summary.fold_event(connection_summary.run_fold, connection_summary.spine_events) is
'The run fold: one event added to a fold (docs/design.md).';

-- Two folds of disjoint sets of events of one run merged: the fold of their
-- union. Each choice keeps the side with the newer (or earlier) key.
create or replace function connection_summary.merge_folds(
    p_a connection_summary.run_fold,
    p_b connection_summary.run_fold
)
returns connection_summary.run_fold
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    f connection_summary.run_fold := p_a;
begin
    if p_a is null then
        return p_b;
    elsif p_b is null then
        return p_a;
    end if;
    f.first_at := least(p_a.first_at, p_b.first_at);
    f.last_at := greatest(p_a.last_at, p_b.last_at);
    f.event_count := p_a.event_count + p_b.event_count;
    f.has_started := p_a.has_started or p_b.has_started;
    if connection_summary.fold_key_newer(
        p_b.newest_status_at, p_b.newest_status_seq, p_a.newest_status_at, p_a.newest_status_seq) then
        f.newest_status := p_b.newest_status;
        f.newest_status_at := p_b.newest_status_at;
        f.newest_status_seq := p_b.newest_status_seq;
    end if;
    if connection_summary.fold_key_newer(
        p_b.terminal_at, p_b.terminal_event_seq, p_a.terminal_at, p_a.terminal_event_seq) then
        f.terminal_status := p_b.terminal_status;
        f.terminal_at := p_b.terminal_at;
        f.terminal_event_seq := p_b.terminal_event_seq;
        f.known_gaps := p_b.known_gaps;
        f.collection_facts := p_b.collection_facts;
    end if;
    -- The earliest failure: b wins when it has one and a has none or a later one.
    if p_b.failure_at is not null and (
        p_a.failure_at is null or (p_b.failure_at, p_b.failure_seq) < (p_a.failure_at, p_a.failure_seq)
    ) then
        f.failure_reason := p_b.failure_reason;
        f.failure_at := p_b.failure_at;
        f.failure_seq := p_b.failure_seq;
    end if;
    if connection_summary.fold_key_newer(p_b.profile_at, p_b.profile_seq, p_a.profile_at, p_a.profile_seq) then
        f.surface_profile_key := p_b.surface_profile_key;
        f.profile_at := p_b.profile_at;
        f.profile_seq := p_b.profile_seq;
    end if;
    if connection_summary.fold_key_newer(p_b.surface_at, p_b.surface_seq, p_a.surface_at, p_a.surface_seq) then
        f.surface_status := p_b.surface_status;
        f.surface_wait_reason := p_b.surface_wait_reason;
        f.surface_lease_id := p_b.surface_lease_id;
        f.surface_at := p_b.surface_at;
        f.surface_seq := p_b.surface_seq;
    end if;
    if connection_summary.fold_key_newer(p_b.explicit_at, p_b.explicit_seq, p_a.explicit_at, p_a.explicit_seq) then
        f.explicit_connection_id := p_b.explicit_connection_id;
        f.explicit_at := p_b.explicit_at;
        f.explicit_seq := p_b.explicit_seq;
    end if;
    return f;
end;
$$;

comment on function connection_summary.merge_folds(connection_summary.run_fold, connection_summary.run_fold) is
'The run fold: two folds of disjoint sets of events of one run merged (docs/design.md).';

-- The aggregates of the fold: events into a fold, and folds into one.
create or replace aggregate connection_summary.fold_events(connection_summary.spine_events) ( -- noqa: LT01
    sfunc = connection_summary.fold_event,
    stype = connection_summary.run_fold,
    combinefunc = connection_summary.merge_folds,
    parallel = safe
);

create or replace aggregate connection_summary.merged_folds(connection_summary.run_fold) ( -- noqa: LT01
    sfunc = connection_summary.merge_folds,
    stype = connection_summary.run_fold,
    combinefunc = connection_summary.merge_folds,
    parallel = safe
);

-- The fold of every run computed live from spine_events: what run_evidence
-- stores (its columns, in its order, less the generated ones). Filter it on
-- its key columns: those filters reach the spine index.
create or replace view connection_summary.run_evidence_live as
select
    g.owner_id,
    g.source_kind,
    g.source_id,
    g.run_id,
    (g.fold).* -- noqa: AL03
from (
    select
        e.owner_id,
        e.source_kind,
        e.source_id,
        e.run_id,
        connection_summary.fold_events(e) as fold
    from connection_summary.spine_events as e
    where e.run_id is not null
    group by e.owner_id, e.source_kind, e.source_id, e.run_id
) as g;

comment on view connection_summary.run_evidence_live is
'The run fold computed live from spine_events; run_evidence stores the same rows.';

-- The head rule: the latest, latest succeeded and latest terminal run of one
-- attribution claim, by (last_at, run_id). Used to maintain run_heads and,
-- unchanged, by the deep read path.
create or replace function connection_summary.run_claim_heads(
    p_owner_id text,
    p_source_kind text,
    p_source_id text,
    p_claim_kind text,
    p_claim_value text
)
returns table (latest_run_id text, succeeded_run_id text, terminal_run_id text)
language sql
stable
parallel safe
as $$
    select
        (
            select r.run_id from connection_summary.run_evidence as r
            where r.owner_id = p_owner_id and r.source_kind = p_source_kind
                and r.source_id = p_source_id and r.claim_kind = p_claim_kind
                and r.claim_value = p_claim_value
            order by r.last_at desc, r.run_id desc
            limit 1
        ),
        (
            select r.run_id from connection_summary.run_evidence as r
            where r.owner_id = p_owner_id and r.source_kind = p_source_kind
                and r.source_id = p_source_id and r.claim_kind = p_claim_kind
                and r.claim_value = p_claim_value and r.settled_status = 'succeeded'
            order by r.last_at desc, r.run_id desc
            limit 1
        ),
        (
            select r.run_id from connection_summary.run_evidence as r
            where r.owner_id = p_owner_id and r.source_kind = p_source_kind
                and r.source_id = p_source_id and r.claim_kind = p_claim_kind
                and r.claim_value = p_claim_value and r.terminal_status is not null
            order by r.last_at desc, r.run_id desc
            limit 1
        )
$$;

-- run_heads computed live from run_evidence (for rebuilds and tests).
create or replace view connection_summary.run_heads_live as
select
    c.owner_id,
    c.source_kind,
    c.source_id,
    c.claim_kind,
    c.claim_value,
    h.latest_run_id,
    h.succeeded_run_id,
    h.terminal_run_id
from (
    select distinct
        r.owner_id,
        r.source_kind,
        r.source_id,
        r.claim_kind,
        r.claim_value
    from connection_summary.run_evidence as r
) as c
cross join lateral connection_summary.run_claim_heads(
    p_owner_id => c.owner_id,
    p_source_kind => c.source_kind,
    p_source_id => c.source_id,
    p_claim_kind => c.claim_kind,
    p_claim_value => c.claim_value
) as h;
