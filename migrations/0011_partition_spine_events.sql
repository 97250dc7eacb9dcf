-- 0011_partition_spine_events: spine_events becomes a table partitioned by
-- range of event_seq, one partition per period of arrival (retention: a
-- period of old events is dropped whole, in O(1), by
-- drop_spine_events_before(); open_spine_event_period() starts the next).
--
-- The existing table is not copied: it is renamed spine_events_p0 and
-- attached as period 0's partition (event_seq below 2^44), keeping its rows
-- and indexes; its privileges are granted again on the new parent. The primary
-- key becomes owner-keyed, (owner_id, event_seq), on the index 0010 built.
-- 0010's validated bound proves the range, so the attach scans nothing. New events keep landing in spine_events_p0 until the first
-- open_spine_event_period(). On an empty table the partition is created
-- anew instead, exactly as a new installation has it.
--
-- Locks: ACCESS EXCLUSIVE on spine_events for the transaction: inserts, COPY
-- and diagnostics wait; overview and for_route do not read the table and keep
-- serving. Duration: milliseconds, whatever the table's size (catalog changes
-- only, no scan, no copy). Old code keeps serving afterwards: the table keeps
-- its name, columns, primary key, triggers and privileges. Runs in one
-- transaction.

lock table connection_summary.spine_events in access exclusive mode;

-- 1. The old table steps aside: its identity position and notification
-- triggers remembered, then renamed spine_events_p0 with its index names, or
-- dropped when empty.
do $$
declare
    v_trigger text;
begin
    perform set_config(
        'connection_summary.next_event_seq',
        (select nextval(pg_get_serial_sequence('connection_summary.spine_events', 'event_seq')))::text,
        true
    );
    perform set_config(
        'connection_summary.had_notifications',
        exists (
            select from pg_trigger
            where tgrelid = 'connection_summary.spine_events'::regclass and tgname like 'notify\_%'
        )::text,
        true
    );
    if not exists (select from connection_summary.spine_events) then
        drop table connection_summary.spine_events;
        return;
    end if;
    alter table connection_summary.spine_events rename to spine_events_p0;
    alter table connection_summary.spine_events_p0 alter column event_seq drop identity;
    alter table connection_summary.spine_events_p0 drop constraint spine_events_pkey;
    alter table connection_summary.spine_events_p0
    add constraint spine_events_p0_pkey primary key
    using index spine_events_owner_event_seq_idx;
    alter index connection_summary.spine_events_source_run_idx
    rename to spine_events_p0_source_run_idx;
    for v_trigger in
        select tgname from pg_trigger
        where tgrelid = 'connection_summary.spine_events_p0'::regclass and not tgisinternal
    loop
        execute format('drop trigger %I on connection_summary.spine_events_p0', v_trigger);
    end loop;
end;
$$;

-- 2. The partitioned table, as sql/030_spine_events.sql and
-- sql/045_accepted_domain.sql define it.
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
    recorded_at timestamptz not null default clock_timestamp(),
    primary key (owner_id, event_seq)
)
partition by range (event_seq);

alter table connection_summary.spine_events
add constraint spine_events_owner_id_length check (
    octet_length(owner_id) between 1 and 255
),
add constraint spine_events_source_kind_length check (
    octet_length(source_kind) between 1 and 255
),
add constraint spine_events_source_id_length check (
    octet_length(source_id) between 1 and 255
),
add constraint spine_events_run_id_length check (
    octet_length(run_id) between 1 and 255
),
add constraint spine_events_occurred_at_in_range check (
    occurred_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
),
add constraint spine_events_recorded_at_in_range check (
    recorded_at between timestamptz '0001-01-02 00:00:00+00' and timestamptz '9999-12-30 00:00:00+00'
);

create index spine_events_source_run_idx
on connection_summary.spine_events (source_kind, source_id, run_id, occurred_at desc)
where run_id is not null;

create table connection_summary.spine_event_periods (
    period int primary key,
    opened_at timestamptz not null
);

insert into connection_summary.spine_event_periods (period, opened_at)
values (0, '-infinity');

create table connection_summary.spine_event_retention (
    singleton boolean primary key default true,
    dropped_before timestamptz not null,
    dropped_at timestamptz not null default now(),
    constraint spine_event_retention_singleton check (singleton)
);

-- 3. Period 0: the old table attached (0010's bound proves its range: no
-- scan) or a new partition; the identity where the old one was; the old
-- table's privileges; the maintenance triggers attached before anyone can
-- write.
do $$
declare
    v_grant text;
begin
    perform setval(
        pg_get_serial_sequence('connection_summary.spine_events', 'event_seq'),
        current_setting('connection_summary.next_event_seq')::bigint,
        false
    );
    if to_regclass('connection_summary.spine_events_p0') is null then
        create table connection_summary.spine_events_p0
        partition of connection_summary.spine_events
        for values from (minvalue) to (17592186044416);
    else
        alter table connection_summary.spine_events
        attach partition connection_summary.spine_events_p0
        for values from (minvalue) to (17592186044416);
        alter table connection_summary.spine_events_p0
        drop constraint spine_events_first_period;
        -- The old table's privileges, table-wide and per column, granted on
        -- the parent and revoked on the partition: it is reached through the
        -- parent only, like every partition (a direct write would skip the
        -- parent's statement triggers). Revoking a table privilege revokes it
        -- on every column too.
        for v_grant in
            with acl as (
                select a.grantee, a.privilege_type, null::name as column_name
                from pg_class as c
                cross join lateral aclexplode(c.relacl) as a
                where c.oid = 'connection_summary.spine_events_p0'::regclass
                    and a.grantee <> c.relowner and a.grantee <> 0
                union all
                select a.grantee, a.privilege_type, t.attname
                from pg_attribute as t
                cross join lateral aclexplode(t.attacl) as a
                where t.attrelid = 'connection_summary.spine_events_p0'::regclass
                    and a.grantee <> 0
            )

            select format(
                'grant %s%s on connection_summary.spine_events to %s', acl.privilege_type,
                ' (' || quote_ident(acl.column_name) || ')', acl.grantee::regrole
            )
            from acl
            union all
            select distinct format(
                'revoke all on connection_summary.spine_events_p0 from %s', acl.grantee::regrole
            )
            from acl
        loop
            execute v_grant;
        end loop;
    end if;
    -- An upgrade (the routines exist): writers keep writing through the same
    -- triggers from this commit on, not from the routines' commit.
    if to_regprocedure('connection_summary.spine_events_refold()') is not null then
        create trigger spine_events_refold_runs
        after insert on connection_summary.spine_events
        referencing new table as new_events
        for each statement
        execute function connection_summary.spine_events_refold();
        create trigger spine_events_append_only
        before update or delete on connection_summary.spine_events
        for each statement
        execute function connection_summary.spine_events_append_only();
        create trigger spine_events_truncate_read_model
        after truncate on connection_summary.spine_events
        for each statement
        execute function connection_summary.spine_events_truncated();
    end if;
    if current_setting('connection_summary.had_notifications')::boolean then
        perform connection_summary.set_change_notifications(p_enabled => true);
    end if;
end;
$$;

comment on table connection_summary.spine_events is
'Input (callers write): the append-only event log of runs. A run is the events with one (owner_id, source_kind, source_id, run_id); they are folded into run_evidence when the inserting transaction commits. UPDATE and DELETE are refused (docs/input-tables.md).';

comment on column connection_summary.spine_events.event_seq is 'Arrival number set by the database; breaks ties between equal event times.';
comment on column connection_summary.spine_events.owner_id is 'The owner, 1-255 bytes.';
comment on column connection_summary.spine_events.event_type is 'Open vocabulary; run.started, run.completed, run.failed, run.cancelled, run.abandoned and run.browser_surface_* have meaning.';
comment on column connection_summary.spine_events.status is 'Open vocabulary; a terminal event''s status is the run''s status, a browser-surface event''s is the lease status.';
comment on column connection_summary.spine_events.source_kind is 'What produced the run, 1-255 bytes; connector for connector runs (only those are attributed to connections).';
comment on column connection_summary.spine_events.source_id is 'The producer''s id, 1-255 bytes; the connector_id for connector runs.';
comment on column connection_summary.spine_events.run_id is 'The run, 1-255 bytes; NULL: the event belongs to no run.';
comment on column connection_summary.spine_events.occurred_at is 'When it happened, by the producer''s clock (events count at the latest when they arrived: recorded_at).';
comment on column connection_summary.spine_events.connector_instance_id is 'Explicit connection of the run, when the producer knows it.';
comment on column connection_summary.spine_events.connection_id is 'The same as connector_instance_id, under its other name.';
comment on column connection_summary.spine_events.data is 'Details: reason, known_gaps, collection_facts.streams, browser_surface {browser_surface_profile_key, browser_surface_status, browser_surface_wait_reason, browser_surface_lease_id}.';
comment on column connection_summary.spine_events.recorded_at is 'When the database received the event (writers cannot set it); runs order events by least(occurred_at, recorded_at).';

comment on table connection_summary.spine_events_p0 is
'Partition of spine_events: the events of period 0, received before the first open_spine_event_period() (docs/scale-out.md, retention).';

comment on table connection_summary.spine_event_periods is
'Package state: the periods of arrival of spine_events, one partition each (open_spine_event_period, drop_spine_events_before).';
comment on column connection_summary.spine_event_periods.period is 'The period: its partition spine_events_p<period> holds event_seq from period * 2^44 (period 0: from the start).';
comment on column connection_summary.spine_event_periods.opened_at is 'When the period started receiving events (-infinity for period 0).';

comment on table connection_summary.spine_event_retention is
'Package state: how far spine_events have been dropped (drop_spine_events_before). One row, or none while nothing was dropped.';
comment on column connection_summary.spine_event_retention.singleton is 'Always true: the table holds one row.';
comment on column connection_summary.spine_event_retention.dropped_before is 'Events that occurred before this instant are gone; runs that began before it keep their stored evidence through rebuild_run_evidence().';
comment on column connection_summary.spine_event_retention.dropped_at is 'When the last drop ran.';
