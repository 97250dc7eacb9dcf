-- The run fold (CONTRACT §4): how the events of one run become one run row.
--
-- This view is the ONLY definition of the fold. The trigger that keeps
-- run_evidence, rebuild_run_evidence() and the property tests all read it, so
-- the stored read model and the live fold cannot drift apart.
--
-- A run is the set of events with one (owner_id, source_kind, source_id,
-- run_id). An event's time is least(occurred_at, recorded_at): an event dated
-- after it reached the database counts as happening on arrival, so a producer
-- with a clock far ahead cannot hide the runs that follow (docs/security.md).
-- "newest" and "earliest" order by (that time, event_seq), so events that
-- arrive out of order fold to the same row.
-- Filter it on its key columns: those filters reach the spine index.

create or replace view connection_summary.run_evidence_live as
select -- noqa: ST06
    -- (columns in run_evidence's order)
    folded.owner_id,
    folded.source_kind,
    folded.source_id,
    folded.run_id,
    folded.first_at,
    folded.last_at,
    folded.event_count,
    folded.has_started,
    folded.newest_status,
    folded.terminal_status,
    folded.terminal_event_seq,
    folded.failure_reason,
    folded.surface_profile_key,
    folded.surface ->> 'status' as surface_status,
    folded.surface ->> 'wait_reason' as surface_wait_reason,
    folded.surface ->> 'lease_id' as surface_lease_id,
    folded.explicit_connection_id,
    folded.known_gaps,
    folded.collection_facts
from (
    select
        e.owner_id,
        e.source_kind,
        e.source_id,
        e.run_id,
        min(e.at) as first_at,
        max(e.at) as last_at,
        count(*)::int as event_count,
        bool_or(e.event_type = 'run.started') as has_started,
        (
            array_agg(e.status order by e.at desc, e.event_seq desc)
            filter (where e.status is not null)
        )[1] as newest_status,
        (array_agg(
            coalesce(
                e.status,
                case e.event_type
                    when 'run.completed' then 'succeeded'
                    when 'run.failed' then 'failed'
                    when 'run.cancelled' then 'cancelled'
                    when 'run.abandoned' then 'abandoned'
                end
            ) order by e.at desc, e.event_seq desc
        ) filter (
            where e.event_type in ('run.completed', 'run.failed', 'run.cancelled', 'run.abandoned')
        ))[1] as terminal_status,
        (array_agg(e.event_seq order by e.at desc, e.event_seq desc) filter (
            where e.event_type in ('run.completed', 'run.failed', 'run.cancelled', 'run.abandoned')
        ))[1] as terminal_event_seq,
        -- The earliest failure that says why: a failed or rejected event, or a
        -- run.failed whatever its status (it may say surface_failed).
        (
            array_agg(e.data ->> 'reason' order by e.at, e.event_seq)
            filter (
                where (e.status in ('failed', 'rejected') or e.event_type = 'run.failed')
                and e.data ->> 'reason' is not null
            )
        )[1] as failure_reason,
        -- A run carries a profile key when any of its events does (the newest
        -- wins): a later lease event without one does not un-stamp the run.
        (
            array_agg(
                e.data -> 'browser_surface' ->> 'browser_surface_profile_key'
                order by e.at desc, e.event_seq desc
            ) filter (
                where nullif(e.data -> 'browser_surface' ->> 'browser_surface_profile_key', '')
                is not null
            )
        )[1] as surface_profile_key,
        -- The other browser-surface fields come from the newest
        -- run.browser_surface_* event; a lease event's own status is the lease status.
        (array_agg(
            jsonb_build_object(
                'status', coalesce(e.data -> 'browser_surface' ->> 'browser_surface_status', e.status),
                'wait_reason', e.data -> 'browser_surface' ->> 'browser_surface_wait_reason',
                'lease_id', e.data -> 'browser_surface' ->> 'browser_surface_lease_id'
            ) order by e.at desc, e.event_seq desc
        ) filter (where starts_with(e.event_type, 'run.browser_surface_')))[1] as surface,
        (array_agg(
            coalesce(
                e.connector_instance_id, e.connection_id,
                e.data ->> 'connector_instance_id', e.data ->> 'connection_id'
            ) order by e.at desc, e.event_seq desc
        ) filter (where coalesce(
            e.connector_instance_id, e.connection_id,
            e.data ->> 'connector_instance_id', e.data ->> 'connection_id'
        ) is not null))[1] as explicit_connection_id,
        (array_agg(e.data -> 'known_gaps' order by e.at desc, e.event_seq desc) filter (
            where e.event_type in ('run.completed', 'run.failed', 'run.cancelled', 'run.abandoned')
        ))[1] as known_gaps,
        (array_agg(e.data -> 'collection_facts' order by e.at desc, e.event_seq desc) filter (
            where e.event_type in ('run.completed', 'run.failed', 'run.cancelled', 'run.abandoned')
        ))[1] as collection_facts
    from (
        select
            s.*,
            least(s.occurred_at, s.recorded_at) as at
        from connection_summary.spine_events as s
    ) as e
    where e.run_id is not null
    group by e.owner_id, e.source_kind, e.source_id, e.run_id
) as folded;

comment on view connection_summary.run_evidence_live is
'The run fold of CONTRACT §4 computed live from spine_events; run_evidence stores the same rows.';

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
