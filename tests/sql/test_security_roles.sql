-- Least privilege and owner confinement, with real role switching
-- (docs/security.md): a reader executes only the read API and reads no
-- table; a confined reader reads only its owners, whatever p_owner_id it
-- passes; a writer writes the input tables and never the read model; a role
-- with no grant can do nothing.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(44);

create role cs_t_reader;
grant connection_summary_reader to cs_t_reader;
create role cs_t_alice;
grant connection_summary_confined_reader to cs_t_alice;
insert into connection_summary.reader_scopes (role_name, owner_id) values ('cs_t_alice', 'A');
-- An application login that gets its confinement through membership.
create role cs_t_alice_app;
grant cs_t_alice to cs_t_alice_app;
-- A role both confined and an unconfined reader: confinement wins.
create role cs_t_both;
grant connection_summary_reader, cs_t_alice to cs_t_both;
create role cs_t_writer;
grant connection_summary_writer to cs_t_writer;
create role cs_t_nobody;

select cs_test.add_connector('shop');
select cs_test.add_connection('A', 'shop', 'a1');
select cs_test.add_connection('A', 'shop', 'a2');
select cs_test.add_connection('B', 'shop', 'b1');
select cs_test.add_run('A', 'shop', 'ra', 'succeeded', cs_test.at(10), p_instance_id => 'a1');
select cs_test.add_run('B', 'shop', 'rb', 'succeeded', cs_test.at(10), p_instance_id => 'b1');

-- An unconfined reader: every owner, through every read function, no table.
select is(cs_test.as_role('cs_t_reader', $$select count(*) from connection_summary.overview('A')$$), '2',
    'reader: overview of A');
select is(cs_test.as_role('cs_t_reader', $$select count(*) from connection_summary.overview('B')$$), '1',
    'reader: overview of B');
select is(cs_test.as_role('cs_t_reader',
    $$select connection_id from connection_summary.for_route(p_owner_id => 'B', p_route_id => 'b1')$$), 'b1',
    'reader: for_route');
select is(cs_test.as_role('cs_t_reader',
    $$select connection_summary.diagnostics(p_owner_id => 'A', p_route_id => 'a1') ->> 'connection_id'$$), 'a1',
    'reader: diagnostics');
select is(cs_test.as_role('cs_t_reader',
    $$select jsonb_array_length(connection_summary.overview_json(p_owner_id => 'A'))$$), '2',
    'reader: overview_json');
select is(cs_test.as_role('cs_t_reader',
    $$select connection_summary.for_route_json(p_owner_id => 'A', p_route_id => 'a2') ->> 'connection_id'$$), 'a2',
    'reader: for_route_json');
select is(cs_test.as_role('cs_t_reader', format('select count(*) from connection_summary.%I', t)), 'ERROR 42501',
    format('reader: no SELECT on %s', t))
from unnest(array['connections', 'spine_events', 'run_evidence', 'run_heads', 'reader_scopes']) as t;
select is(cs_test.as_role('cs_t_reader',
    $$select count(*) from connection_summary.resolve_route(p_owner_id => 'A', p_route_id => 'a1')$$),
    'ERROR 42501', 'reader: inner helpers are not executable');
select is(cs_test.as_role('cs_t_reader', $$select connection_summary.rebuild_run_evidence()$$),
    'ERROR 42501', 'reader: rebuild_run_evidence is not executable');

-- A confined reader: its owner only, by any function and any argument.
select is(cs_test.as_role('cs_t_alice', $$select count(*) from connection_summary.overview('A')$$), '2',
    'confined: overview of its owner');
select is(cs_test.as_role('cs_t_alice', $$select count(*) from connection_summary.overview('B')$$),
    'ERROR 42501', 'confined: overview of another owner is refused');
select is(cs_test.as_role('cs_t_alice',
    $$select count(*) from connection_summary.overview('B', p_limit => 1)$$),
    'ERROR 42501', 'confined: a paged overview of another owner is refused');
select is(cs_test.as_role('cs_t_alice',
    $$select count(*) from connection_summary.for_route(p_owner_id => 'B', p_route_id => 'b1')$$),
    'ERROR 42501', 'confined: for_route of another owner is refused');
select is(cs_test.as_role('cs_t_alice',
    $$select count(*) from connection_summary.for_route(p_owner_id => 'B', p_route_id => 'nothing-here')$$),
    'ERROR 42501', 'confined: refused before the route is even resolved');
select is(cs_test.as_role('cs_t_alice',
    $$select connection_summary.diagnostics(p_owner_id => 'B', p_route_id => 'b1')::text$$),
    'ERROR 42501', 'confined: diagnostics of another owner is refused');
select is(cs_test.as_role('cs_t_alice',
    $$select connection_summary.overview_json(p_owner_id => 'B')::text$$),
    'ERROR 42501', 'confined: overview_json of another owner is refused');
select is(cs_test.as_role('cs_t_alice',
    $$select connection_summary.for_route_json(p_owner_id => 'B', p_route_id => 'b1')::text$$),
    'ERROR 42501', 'confined: for_route_json of another owner is refused');
select is(cs_test.as_role('cs_t_alice', $$select count(*) from connection_summary.connections$$),
    'ERROR 42501', 'confined: no table is readable');
select is(cs_test.as_role('cs_t_alice',
    $$select count(*) from connection_summary.overview('A') where owner_id <> 'A'$$), '0',
    'confined: 0 rows of another owner in its own overview');
select is(cs_test.as_role('cs_t_alice',
    $$select connection_id from connection_summary.for_route(p_owner_id => 'A', p_route_id => 'a1')$$), 'a1',
    'confined: for_route of its owner');
select is(cs_test.as_role('cs_t_alice_app', $$select count(*) from connection_summary.overview('A')$$), '2',
    'confined through membership: its owner');
select is(cs_test.as_role('cs_t_alice_app', $$select count(*) from connection_summary.overview('B')$$),
    'ERROR 42501', 'confined through membership: another owner is refused');
select is(cs_test.as_role('cs_t_both', $$select count(*) from connection_summary.overview('B')$$),
    'ERROR 42501', 'confined and a reader: confinement wins');
select is(cs_test.as_role('cs_t_both', $$select count(*) from connection_summary.overview('A')$$), '2',
    'confined and a reader: its own owner');
-- SET ROLE to the group it was given does not shed the confinement.
select is(cs_test.as_role('connection_summary_confined_reader',
    $$select count(*) from connection_summary.overview('A')$$),
    'ERROR 42501', 'the confined-reader group itself reads no owner');
update connection_summary.reader_scopes set owner_id = 'B' where role_name = 'cs_t_alice';
select is(cs_test.as_role('cs_t_alice', $$select count(*) from connection_summary.overview('A')$$),
    'ERROR 42501', 'a changed scope applies to the next read');

-- A writer: the input tables, never the read model.
select is(cs_test.as_role('cs_t_writer', $$
    insert into connection_summary.spine_events (
        owner_id, event_type, status, source_kind, source_id, run_id, occurred_at, connector_instance_id
    ) values ('A', 'run.completed', 'succeeded', 'connector', 'shop', 'rw', now(), 'a2')
    returning event_seq::text$$),
    'ERROR 42501', 'writer: cannot read events back (RETURNING a column needs SELECT)');
select is(cs_test.as_role('cs_t_writer', $$
    with w as (
        insert into connection_summary.spine_events (
            owner_id, event_type, status, source_kind, source_id, run_id, occurred_at, connector_instance_id
        ) values ('A', 'run.completed', 'succeeded', 'connector', 'shop', 'rw', now(), 'a2')
    ) select 'inserted'$$),
    'inserted', 'writer: inserts events');
select is(
    (select settled_status from connection_summary.run_evidence where owner_id = 'A' and run_id = 'rw'),
    'succeeded', 'writer: the trigger folded the event into the read model on its behalf');
select is(cs_test.as_role('cs_t_writer', $$
    with w as (
        insert into connection_summary.spine_events (
            owner_id, event_type, source_kind, source_id, run_id, occurred_at, recorded_at
        ) values ('A', 'run.started', 'connector', 'shop', 'rx', now(), now() + interval '1 year')
    ) select 'inserted'$$),
    'ERROR 42501', 'writer: recorded_at is the database''s to set');
select is(cs_test.as_role('cs_t_writer', $$update connection_summary.spine_events set status = 'x'$$),
    'ERROR 42501', 'writer: no UPDATE on spine_events');
select is(cs_test.as_role('cs_t_writer',
    $$update connection_summary.run_evidence set terminal_status = 'succeeded' returning 'forged'$$),
    'ERROR 42501', 'writer: cannot forge a run');
select is(cs_test.as_role('cs_t_writer', $$delete from connection_summary.run_heads returning 'deleted'$$),
    'ERROR 42501', 'writer: cannot delete heads');
select is(cs_test.as_role('cs_t_writer', $$
    with w as (insert into connection_summary.reader_scopes values ('cs_t_writer', 'A')) select 'x'$$),
    'ERROR 42501', 'writer: cannot change confinement');
select is(cs_test.as_role('cs_t_writer', $$
    with w as (
        insert into connection_summary.schedules (connector_instance_id, owner_id, interval_seconds)
        values ('a1', 'A', 60)
    ) select 'inserted'$$),
    'inserted', 'writer: inserts operational rows');
select is(cs_test.as_role('cs_t_writer',
    $$update connection_summary.schedules set enabled = false where connector_instance_id = 'a1' returning 'updated'$$),
    'updated', 'writer: updates operational rows');
select is(cs_test.as_role('cs_t_writer', $$select count(*) from connection_summary.overview('A')$$),
    'ERROR 42501', 'writer: is not a reader');

-- No grant at all: nothing.
select is(cs_test.as_role('cs_t_nobody', $$select count(*) from connection_summary.overview('A')$$),
    'ERROR 42501', 'nobody: cannot call the read API');
select is(cs_test.as_role('cs_t_nobody', $$
    with w as (
        insert into connection_summary.spine_events (
            owner_id, event_type, source_kind, source_id, occurred_at
        ) values ('A', 'x', 'connector', 'shop', now())
    ) select 'inserted'$$),
    'ERROR 42501', 'nobody: cannot write events');
select is(cs_test.as_role('cs_t_nobody', $$select connection_summary.set_change_notifications(true)::text$$),
    'ERROR 42501', 'nobody: cannot switch notifications');

select * from finish();
rollback;
