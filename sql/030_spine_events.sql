-- The append-only event log. event_type and status are open vocabularies:
-- runtimes emit values this package does not know, and they are carried.

create table connection_summary.spine_events (
    event_seq bigint generated always as identity,
    owner_id text not null,
    event_type text not null,
    status text,
    source_kind text not null,
    source_id text not null,
    run_id text,
    occurred_at timestamptz not null,
    connector_instance_id text,
    connection_id text,
    data jsonb not null default '{}',
    -- When the database received the event. Writers cannot set it (no INSERT
    -- privilege on the column); the run fold orders events by
    -- least(occurred_at, recorded_at), so an event dated in the future counts
    -- as happening when it arrived.
    recorded_at timestamptz not null default clock_timestamp(),
    -- Owner-keyed (docs/scale-out.md): event_seq alone is unique too (the identity).
    primary key (owner_id, event_seq)
)
-- Retention (docs/scale-out.md): partitioned by arrival. Each period of
-- arrivals (a month, say) has its own partition, a range of 2^44 event_seq
-- values; opening the next period moves the identity to its range. A period
-- of old events is dropped whole, in O(1); run_evidence keeps what they
-- summarized. The partition key is in the primary key: ids stay as they were,
-- and an event's own dates (however odd) never decide where it is stored.
partition by range (event_seq);

-- The first period: every event before the first open_spine_event_period().
create table connection_summary.spine_events_p0
partition of connection_summary.spine_events
for values from (minvalue) to (17592186044416);

-- When each period's partition started receiving events.
create table connection_summary.spine_event_periods (
    period int primary key,
    opened_at timestamptz not null
);

insert into connection_summary.spine_event_periods (period, opened_at)
values (0, '-infinity');

-- How far events have been dropped (connection_summary.drop_spine_events_before).
-- rebuild_run_evidence() keeps the stored rows of runs that began before it.
create table connection_summary.spine_event_retention (
    singleton boolean primary key default true,
    dropped_before timestamptz not null,
    dropped_at timestamptz not null default now(),
    constraint spine_event_retention_singleton check (singleton)
);

-- Required (docs/contract.md §Input tables): source-scoped run grouping is index-backed from the first
-- start. Migrations build the same index CONCURRENTLY (0002).
create index spine_events_source_run_idx
on connection_summary.spine_events (source_kind, source_id, run_id, occurred_at desc)
where run_id is not null;
