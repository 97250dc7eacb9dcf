-- spine_events is append-only: UPDATE and DELETE (even of no rows) are refused
-- with SQLSTATE 55000, and the log and its read model stay as they were.
-- TRUNCATE, the operator's tool, empties the read model with the log.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(10);

select cs_test.add_connection('A', 'mail', 'm1');
select cs_test.add_run('A', 'mail', 'r1', 'succeeded', cs_test.at(10), p_instance_id => 'm1');

select throws_ok(
    $$update connection_summary.spine_events set status = 'failed' where run_id = 'r1'$$,
    '55000', null, 'UPDATE is refused with 55000');
select throws_ok(
    $$delete from connection_summary.spine_events where run_id = 'r1'$$,
    '55000', null, 'DELETE is refused with 55000');
select throws_ok(
    $$delete from connection_summary.spine_events where false$$,
    '55000', null, 'a DELETE of no rows is refused too');
select throws_ok(
    $$update connection_summary.spine_events set data = '{}' where false$$,
    '55000', null, 'an UPDATE of no rows is refused too');

select is(
    (select array_agg(status order by event_seq) from connection_summary.spine_events),
    array['started', 'succeeded'], 'the events are unchanged');
select is(cs_test.run_of('A', 'm1', 'last_run', true) ->> 'status', 'succeeded',
    'the run reads as before');
select is_empty('select * from cs_test.run_evidence_diff() union all select * from cs_test.run_heads_diff()',
    'the stored read model equals the live fold');

truncate connection_summary.spine_events;
select is((select count(*)::int from connection_summary.run_evidence), 0, 'TRUNCATE empties run_evidence');
select is((select count(*)::int from connection_summary.run_heads), 0, 'TRUNCATE empties run_heads');
select is(cs_test.run_of('A', 'm1', 'last_run', false), null, 'and the connection has no run left');

select * from finish();
rollback;
