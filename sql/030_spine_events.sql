-- The append-only event log. event_type and status are open vocabularies:
-- runtimes emit values this package does not know, and they are carried.

create table connection_summary.spine_events (
    event_seq bigint generated always as identity primary key,
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
    recorded_at timestamptz not null default clock_timestamp()
);

-- Required (docs/contract.md §Input tables): source-scoped run grouping is index-backed from the first
-- start. Migrations build the same index CONCURRENTLY (0002).
create index spine_events_source_run_idx
on connection_summary.spine_events (source_kind, source_id, run_id, occurred_at desc)
where run_id is not null;
