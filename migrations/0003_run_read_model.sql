-- 0003_run_read_model: the stored run read model (run_evidence, run_heads).
-- Locks: creates new tables only. The routines applied after the migrations
-- then attach the maintenance trigger to spine_events (SHARE ROW EXCLUSIVE:
-- writers of spine_events wait, readers do not) and fill the read model from
-- the existing events in the same transaction -- about 10-20 s per million
-- events on 2 cores, during which inserts into spine_events wait.
-- Old code keeps serving reads throughout. Runs in one transaction.

-- The stored run read model (docs/contract.md §Run evidence), kept by a trigger on spine_events.
--
-- run_evidence: one row per run, i.e. per (owner_id, source_kind, source_id,
-- run_id). owner_id is part of the key so that two owners reusing a run id can
-- never share a run. Every column is a pure function of the run's events
-- (the fold in 100_run_fold.sql); nothing here depends on the read time or on
-- the current set of connections -- those rules are applied by the readers.
create table connection_summary.run_evidence (
    owner_id text not null,
    source_kind text not null,
    source_id text not null,
    run_id text not null,
    first_at timestamptz not null,
    last_at timestamptz not null,
    event_count int not null,
    has_started boolean not null,
    newest_status text,
    terminal_status text,
    terminal_event_seq bigint,
    failure_reason text,
    surface_profile_key text,
    surface_status text,
    surface_wait_reason text,
    surface_lease_id text,
    explicit_connection_id text,
    known_gaps jsonb,
    collection_facts jsonb,
    -- The status a run keeps whatever the read time: a terminal status, or for
    -- a run that never said run.started, its newest status. NULL means "started,
    -- not finished": in_progress or orphaned, decided from active_runs at read time.
    settled_status text generated always as (
        coalesce(terminal_status, case when not has_started then newest_status end)
    ) stored,
    -- Attribution claim (docs/contract.md §Attribution): a profile key beats an
    -- explicit connection id, which beats nothing.
    claim_kind text generated always as (
        case
            when surface_profile_key is not null then 'profile'
            when explicit_connection_id is not null then 'connection'
            else 'none'
        end
    ) stored,
    claim_value text generated always as (
        coalesce(surface_profile_key, explicit_connection_id, '')
    ) stored,
    primary key (owner_id, source_kind, source_id, run_id)
);

-- Latest run of a claim, latest succeeded run, latest terminal run: the deep
-- path and the head maintenance each read the top row of one of these.
create index run_evidence_claim_latest_idx
on connection_summary.run_evidence (
    owner_id, source_kind, source_id, claim_kind, claim_value, last_at desc, run_id desc
);

create index run_evidence_claim_succeeded_idx
on connection_summary.run_evidence (
    owner_id, source_kind, source_id, claim_kind, claim_value, last_at desc, run_id desc
)
where settled_status = 'succeeded';

create index run_evidence_claim_terminal_idx
on connection_summary.run_evidence (
    owner_id, source_kind, source_id, claim_kind, claim_value, last_at desc, run_id desc
)
where terminal_status is not null;

-- run_heads: the bounded per-claim read model the overview reads. One row per
-- (owner, connector, claim) naming the latest, latest succeeded and latest
-- terminal run of that claim, ordered by (last_at, run_id).
create table connection_summary.run_heads (
    owner_id text not null,
    source_kind text not null,
    source_id text not null,
    claim_kind text not null,
    claim_value text not null,
    latest_run_id text not null,
    succeeded_run_id text,
    terminal_run_id text,
    primary key (owner_id, source_kind, source_id, claim_kind, claim_value),
    constraint run_heads_claim_kind_check check (claim_kind in ('profile', 'connection', 'none'))
);

-- Which version of the fold built the stored rows; the routine installer
-- rebuilds the read model when the fold's definition changes.
create table connection_summary.read_model_versions (
    read_model text primary key,
    definition_md5 text not null,
    rebuilt_at timestamptz not null default now()
);
