-- docs/contract.md §Attribution rule 2: a run without a browser profile key that carries an
-- explicit connection identity (connector_instance_id or connection_id column,
-- else the same keys in data) feeds only that connection, never a sibling.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(18);

select cs_test.add_connector('mail');
select cs_test.add_connection('A', 'mail', 'm1');
select cs_test.add_connection('A', 'mail', 'm2');
select cs_test.add_connection('A', 'mail', 'm3', p_status => 'revoked');
select cs_test.add_connection('A', 'cal', 'k1');  -- another connector of the same owner

-- The id only on run.started (connector_instance_id column); the terminal event is bare.
select cs_test.add_event('A', 'mail', 'r1', 'run.started', 'started', cs_test.at(10), p_instance_id => 'm1');
select cs_test.add_event('A', 'mail', 'r1', 'run.completed', 'succeeded', cs_test.at(11));
-- connection_id column.
select cs_test.add_run('A', 'mail', 'r2', 'failed', cs_test.at(20), p_data => '{"reason": "timeout"}');
select cs_test.add_event('A', 'mail', 'r2', 'progress', null, cs_test.at(20.5), p_connection_id => 'm2');
-- data.connector_instance_id and data.connection_id.
select cs_test.add_event('A', 'mail', 'r3', 'run.completed', 'succeeded', cs_test.at(15),
    p_data => '{"connector_instance_id": "m2"}');
select cs_test.add_event('A', 'mail', 'r4', 'run.completed', 'succeeded', cs_test.at(40),
    p_data => '{"connection_id": "m3"}');
-- An id naming nobody, and an id of the other connector's connection: nobody's.
select cs_test.add_run('A', 'mail', 'r5', 'succeeded', cs_test.at(50), p_instance_id => 'm9');
select cs_test.add_run('A', 'mail', 'r6', 'succeeded', cs_test.at(60), p_instance_id => 'k1');

select is(cs_test.head_ids('A', 'm1', p), array['r1', 'r1', 'r1'],
    cs_test.path_name(p) || ': the id on one event of the run attributes the whole run')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'm1', 'last_run', p) ->> 'event_count', '2',
    cs_test.path_name(p) || ': the attributed run has all its events')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'm2', p), array['r2', 'r3', 'r2'],
    cs_test.path_name(p) || ': m2 gets its connection_id-column run (failed, newer) and its data-id run (succeeded)')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'm3', p), array['r4', 'r4', 'r4'],
    cs_test.path_name(p) || ': a revoked connection keeps its data.connection_id run')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'k1', p), array[null, null, null]::text [],
    cs_test.path_name(p) || ': an id is matched within the run''s connector only')
from cs_test.paths() as p;

-- Column beats data: the column says m1, data says m2.
select cs_test.add_event('A', 'mail', 'r7', 'run.completed', 'succeeded', cs_test.at(70),
    p_instance_id => 'm1', p_data => '{"connector_instance_id": "m2"}');
select is(cs_test.run_of('A', 'm1', 'last_run', p) ->> 'run_id', 'r7',
    cs_test.path_name(p) || ': the connector_instance_id column beats data')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'm2', 'last_run', p) ->> 'run_id', 'r2',
    cs_test.path_name(p) || ': the sibling named only in data does not get the run')
from cs_test.paths() as p;

-- Neither of two active siblings gets an unstamped run (rule 3 needs a sole active one).
select cs_test.add_run('A', 'mail', 'r8', 'succeeded', cs_test.at(80));
select is(array[cs_test.run_of('A', 'm1', 'last_run', p) ->> 'run_id',
                cs_test.run_of('A', 'm2', 'last_run', p) ->> 'run_id'],
    array['r7', 'r2'],
    cs_test.path_name(p) || ': the newer unstamped run goes to neither sibling')
from cs_test.paths() as p;

select is_empty('select * from cs_test.path_disagreements(''A'')',
    'overview and deep paths agree for every connection');
select is_empty('select * from cs_test.run_evidence_diff() union all select * from cs_test.run_heads_diff()',
    'the stored read model equals the live fold');

select * from finish();
rollback;
