-- 0004_summary_type: the composite row type of overview() and for_route().
-- Locks: none on existing tables. Duration: instant. Runs in one transaction.

-- The one row shape returned by overview() and for_route() (docs/contract.md §Read functions).
-- A type, not a table: nothing of it is stored; it is computed at read time.
create type connection_summary.summary as (
    connection_id text,
    connector_instance_id text,
    connector_id text,
    owner_id text,
    display_name text,
    connector_display_name text,
    status text,
    source_kind text,
    created_at timestamptz,
    revoked_at timestamptz,
    depth text,
    observed_at timestamptz,
    cursor text,
    streams text [],
    stream_records jsonb,
    stream_count int,
    total_records bigint,
    total_records_state text,
    retained_bytes jsonb,
    total_retained_bytes bigint,
    schedule jsonb,
    last_run jsonb,
    last_successful_run jsonb,
    freshness jsonb,
    coverage text,
    connection_health jsonb,
    rendered_verdict jsonb
);
