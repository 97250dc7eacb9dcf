-- Owner isolation (docs/contract.md §Input tables, §Run evidence): a run is keyed by (owner_id, source_kind,
-- source_id, run_id). Owner B's runs of the same connector -- even with the same
-- run id, stamped with A's profile key or naming A's connection -- never reach
-- owner A, and neither owner can read the other's connections.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(16);

select cs_test.add_connector('shop', p_profile_key => 'shopkey');
select cs_test.add_connection('A', 'shop', 'a1');
select cs_test.add_connection('B', 'shop', 'b1');

-- A: one run r1 (started + failed), and an unstamped run.
select cs_test.add_browser_event('A', 'shop', 'r1', 'leased', cs_test.at(10), p_profile_key => 'shopkey:a1');
select cs_test.add_event('A', 'shop', 'r1', 'run.failed', 'failed', cs_test.at(11), p_data => '{"reason": "a-reason"}');
select cs_test.add_run('A', 'shop', 'a-unstamped', 'failed', cs_test.at(5), p_data => '{"reason": "a-old"}');

-- B reuses run id r1, later, with A's key, A's connection id, and a success.
select cs_test.add_browser_event('B', 'shop', 'r1', 'leased', cs_test.at(20), p_profile_key => 'shopkey:a1',
    p_instance_id => 'a1');
select cs_test.add_event('B', 'shop', 'r1', 'run.completed', 'succeeded', cs_test.at(21), p_instance_id => 'a1');
select cs_test.add_run('B', 'shop', 'b-named-a1', 'succeeded', cs_test.at(30), p_instance_id => 'a1');
select cs_test.add_event('B', 'shop', 'b-data-a1', 'run.completed', 'succeeded', cs_test.at(40),
    p_data => '{"connection_id": "a1"}');
select cs_test.add_run('B', 'shop', 'b-unstamped', 'succeeded', cs_test.at(50));

select is(
    (select count(*)::int from connection_summary.run_evidence where run_id = 'r1'), 2,
    'the same run id of two owners is two runs');
select is(cs_test.head_ids('A', 'a1', p), array['r1', null, 'r1'],
    cs_test.path_name(p) || ': A sees only its own r1 and no success from B')
from cs_test.paths() as p;
select is(
    array[cs_test.run_of('A', 'a1', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'a1', 'last_run', p) ->> 'failure_reason',
          cs_test.run_of('A', 'a1', 'last_run', p) ->> 'event_count',
          cs_test.run_of('A', 'a1', 'last_run', p) ->> 'last_at'],
    array['failed', 'a-reason', '2', to_jsonb(cs_test.at(11)) ->> 0],
    cs_test.path_name(p) || ': B''s events of r1 are not folded into A''s r1')
from cs_test.paths() as p;
select is(cs_test.head_ids('B', 'b1', p), array['b-unstamped', 'b-unstamped', 'b-unstamped'],
    cs_test.path_name(p) || ': B''s sole active connection gets B''s unstamped run, not A''s')
from cs_test.paths() as p;

select is(
    (select count(*)::int from cs_test.attributed_runs('B', array['a1'], cs_test.now(), p)), 0,
    cs_test.path_name(p) || ': B cannot read A''s connection')
from cs_test.paths() as p;
select is(
    (select count(*)::int from cs_test.attributed_runs('A', array['a1', 'b1'], cs_test.now(), p)), 1,
    cs_test.path_name(p) || ': A asking for both connections gets only its own')
from cs_test.paths() as p;

select is(
    (select count(*)::int from connection_summary.run_evidence
     where owner_id = 'A' and run_id = 'a-unstamped' and claim_kind = 'none'), 1,
    'A''s unstamped run is stored under A');
select is(
    (select a.last_run ->> 'status'
     from cs_test.attributed_runs('A', array['a1'], cs_test.now(), true) as a),
    'failed',
    'sanity: A''s last run is its own failed r1');

select is_empty('select * from cs_test.path_disagreements(''A'')', 'paths agree for owner A');
select is_empty('select * from cs_test.path_disagreements(''B'')', 'paths agree for owner B');
select is_empty('select * from cs_test.run_evidence_diff() union all select * from cs_test.run_heads_diff()',
    'the stored read model equals the live fold');

select * from finish();
rollback;
