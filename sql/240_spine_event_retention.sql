-- Retention of spine_events: periods of arrival, each its own partition,
-- dropped whole once they are older than what the operator keeps.
--
-- spine_events is partitioned by range of event_seq, its primary key. Period
-- k's partition, spine_events_p<k>, holds event_seq from k * 2^44 to
-- (k + 1) * 2^44 (period 0 from the start). open_spine_event_period() (a
-- scheduler calls it monthly, say) creates the next period's partition, then
-- moves the identity to its range: events received from then on land there.
-- drop_spine_events_before() drops the partitions of the periods whose every
-- event was received before a given time: O(1), whatever their size.
--
-- What the events summarized stays: run_evidence, run_heads and
-- connection_states are never derived from events at read time, so every
-- connection keeps its last run and last successful run, however old. Only
-- what reads events directly loses them: diagnostics' latest_run_events.
-- rebuild_run_evidence() refolds only the runs begun after the retention
-- horizon (spine_event_retention) and keeps the stored rows of the others.
--
-- Partitioning by arrival, not by occurred_at: the primary key stays event_seq
-- (a partitioned table's keys must include its partition key); an event's own
-- dates, which producers set and may get wrong, never decide where it goes or
-- when it is dropped; and no default partition or row moves are needed, since
-- the identity only ever produces values of the open period.
--
-- Both functions take a short lock on spine_events for the DDL (ATTACH: SHARE
-- UPDATE EXCLUSIVE, writers continue; DROP: ACCESS EXCLUSIVE, writers wait
-- milliseconds, no scan). Run them with a lock_timeout (docs/scale-out.md).

-- The width of a period's event_seq range: 2^44 (17.6 trillion events).
create or replace function connection_summary.spine_event_period_width()
returns bigint
language sql
immutable
parallel safe
as $$
    select 17592186044416::bigint
$$;

-- Every period with its partition and the span in which it received events
-- (opened_at NULL: period 0, since the start; closed_at NULL: the open
-- period, receiving now).
create or replace function connection_summary.spine_event_partitions()
returns table (
    period int, partition_name text, first_event_seq bigint, opened_at timestamptz,
    closed_at timestamptz
)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select
        p.period,
        'spine_events_p' || p.period,
        case when p.period > 0 then p.period * connection_summary.spine_event_period_width() end,
        -- Period 0 has received events since the start: no time (and no
        -- -infinity, which clients cannot represent).
        nullif(p.opened_at, '-infinity'),
        lead(p.opened_at) over (order by p.period)
    from connection_summary.spine_event_periods as p
    order by p.period
$$;

-- Opens the next period: creates its partition, then moves the identity to
-- its range. p_opened_at dates the period (default now(); an import of old
-- events may date its periods in the past, in order). Returns the new
-- partition's name.
create or replace function connection_summary.open_spine_event_period(
    p_opened_at timestamptz default now()
)
returns text
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_last connection_summary.spine_event_periods;
    v_period int;
    v_name text;
    v_width bigint := connection_summary.spine_event_period_width();
begin
    -- One opener or dropper at a time; writers are not blocked by this lock.
    perform pg_advisory_xact_lock(1668181872, 0);
    select * into v_last
    from connection_summary.spine_event_periods
    order by period desc
    limit 1;
    if p_opened_at is null or not isfinite(p_opened_at) or p_opened_at > now()
        or p_opened_at <= v_last.opened_at then
        raise exception 'invalid p_opened_at %: must be finite, not in the future, and after the open period''s start (%)',
            p_opened_at, v_last.opened_at
            using errcode = '22023';
    end if;
    v_period := v_last.period + 1;
    if v_period >= 524287 then
        raise exception 'spine_events has no event_seq range left for another period'
            using errcode = '54000';
    end if;
    v_name := 'spine_events_p' || v_period;
    -- Built detached and attached (SHARE UPDATE EXCLUSIVE on the parent):
    -- writers of the open period keep writing meanwhile.
    execute format(
        'create table connection_summary.%I (like connection_summary.spine_events '
        'including constraints including defaults)', v_name
    );
    execute format(
        'alter table connection_summary.spine_events attach partition connection_summary.%I '
        'for values from (%s) to (%s)', v_name, v_period * v_width, (v_period + 1) * v_width
    );
    execute format(
        'comment on table connection_summary.%I is %L', v_name,
        format(
            'Partition of spine_events: the events of period %s, received from %s on '
            '(docs/scale-out.md, retention).', v_period, p_opened_at
        )
    );
    insert into connection_summary.spine_event_periods (period, opened_at)
    values (v_period, p_opened_at);
    -- Only now: every new event_seq belongs to a partition that exists.
    perform setval(
        pg_get_serial_sequence('connection_summary.spine_events', 'event_seq'),
        v_period * v_width, false
    );
    return v_name;
end;
$$;

-- Drops the partitions of the periods whose every event was received before
-- p_before (the periods closed by then), never the open one. Returns the names
-- of the partitions dropped.
create or replace function connection_summary.drop_spine_events_before(p_before timestamptz)
returns setof text
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_period record;
begin
    if p_before is null or not isfinite(p_before) or p_before > now() then
        raise exception 'invalid p_before %: must be a finite time, not in the future', p_before
            using errcode = '22023';
    end if;
    perform pg_advisory_xact_lock(1668181872, 0);
    for v_period in
        select p.period, p.partition_name, p.closed_at
        from connection_summary.spine_event_partitions() as p
        where p.closed_at <= p_before
        order by p.period
    loop
        execute format('drop table connection_summary.%I', v_period.partition_name);
        delete from connection_summary.spine_event_periods where period = v_period.period;
        insert into connection_summary.spine_event_retention as r (dropped_before)
        values (v_period.closed_at)
        on conflict (singleton) do update
        set dropped_before = greatest(r.dropped_before, excluded.dropped_before),
            dropped_at = now();
        return next v_period.partition_name;
    end loop;
end;
$$;

comment on function connection_summary.spine_event_period_width() is
'Retention: the number of event_seq values of one period''s partition (2^44).';

comment on function connection_summary.spine_event_partitions() is
'Retention: the periods of spine_events, their partitions, first event_seq and the span in which each received events (closed_at NULL: the open one).';

comment on function connection_summary.open_spine_event_period(timestamptz) is
'Retention: creates the next period''s partition of spine_events and moves event_seq to its range; returns the partition''s name. Call it on a schedule (monthly, say).';

comment on function connection_summary.drop_spine_events_before(timestamptz) is
'Retention: drops the partitions of the periods closed before p_before (every event received earlier); stored run evidence is kept. Returns the partitions dropped.';
