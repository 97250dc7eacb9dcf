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
    -- explicit connection id, which beats nothing. A key or id longer than any
    -- connection's can belong to no connection: it claims 'unmatchable' and is
    -- never indexed raw.
    claim_kind text generated always as (
        case
            when surface_profile_key is not null
                then case when octet_length(surface_profile_key) <= 511 then 'profile' else 'unmatchable' end
            when explicit_connection_id is not null
                then case when octet_length(explicit_connection_id) <= 255 then 'connection' else 'unmatchable' end
            else 'none'
        end
    ) stored,
    claim_value text generated always as (
        case
            when surface_profile_key is not null
                then case when octet_length(surface_profile_key) <= 511 then surface_profile_key else '' end
            when explicit_connection_id is not null
                then case when octet_length(explicit_connection_id) <= 255 then explicit_connection_id else '' end
            else ''
        end
    ) stored,
    -- The ordering keys of the fields a fold chooses (run_fold): with them, new
    -- events merge into the stored row instead of refolding the whole run.
    newest_status_at timestamptz,
    newest_status_seq bigint,
    terminal_at timestamptz,
    failure_at timestamptz,
    failure_seq bigint,
    profile_at timestamptz,
    profile_seq bigint,
    surface_at timestamptz,
    surface_seq bigint,
    explicit_at timestamptz,
    explicit_seq bigint,
    primary key (owner_id, source_kind, source_id, run_id)
);

-- Latest run of a claim, latest succeeded run, latest terminal run: the head
-- maintenance and the live head rule each read the top row of one of these.
-- The claim comes before the connector: a lookup of one run by its primary
-- key can then never be planned as a scan of a claim index bounded by the
-- connector and filtered on run_id (migrations/0009_claim_index_order.sql).
create index run_evidence_latest_by_claim_idx
on connection_summary.run_evidence (
    owner_id, claim_kind, claim_value, source_kind, source_id, last_at desc, run_id desc
);

create index run_evidence_succeeded_by_claim_idx
on connection_summary.run_evidence (
    owner_id, claim_kind, claim_value, source_kind, source_id, last_at desc, run_id desc
)
where settled_status = 'succeeded';

create index run_evidence_terminal_by_claim_idx
on connection_summary.run_evidence (
    owner_id, claim_kind, claim_value, source_kind, source_id, last_at desc, run_id desc
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
    constraint run_heads_claim_kind_check check (claim_kind in ('profile', 'connection', 'none', 'unmatchable'))
);

-- Which version of the fold built the stored rows; the routine installer
-- rebuilds the read model when the fold's definition changes.
create table connection_summary.read_model_versions (
    read_model text primary key,
    definition_md5 text not null,
    rebuilt_at timestamptz not null default now()
);

-- The fold of a set of events of one run: everything the stored run row
-- keeps, plus, for each field chosen by an ordering key, that key (the event's
-- time and event_seq), so that two folds merge without their events.
create type connection_summary.run_fold as (
    first_at timestamptz,
    last_at timestamptz,
    event_count int,
    has_started boolean,
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
    newest_status_at timestamptz,
    newest_status_seq bigint,
    terminal_at timestamptz,
    failure_at timestamptz,
    failure_seq bigint,
    profile_at timestamptz,
    profile_seq bigint,
    surface_at timestamptz,
    surface_seq bigint,
    explicit_at timestamptz,
    explicit_seq bigint
);

-- The folds of the events each statement of a transaction inserted, one row
-- per statement and run, merged into run_evidence once, at commit, with every
-- lock taken in one order. Its rows never outlive the transaction that wrote
-- them, so it is unlogged. starts_fold marks the row whose commit trigger
-- folds the whole queue (one trigger event per transaction, not per row).
create unlogged table connection_summary.run_maintenance_queue (
    owner_id text not null,
    source_kind text not null,
    source_id text not null,
    run_id text not null,
    fold connection_summary.run_fold not null,
    starts_fold boolean not null
);
