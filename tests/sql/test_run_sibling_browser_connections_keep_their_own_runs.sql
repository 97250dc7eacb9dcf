-- docs/contract.md §Attribution rule 1 (scenario "sibling browser connections do not share one
-- run"): two active connections of one connector whose runs are stamped with
-- distinct browser profile keys each get their own run and their own wait reason.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(20);

select cs_test.add_connector('shop', p_profile_key => 'shopkey');
select cs_test.add_connection('A', 'shop', 'c1');
select cs_test.add_connection('A', 'shop', 'c2');
select cs_test.add_connection('A', 'shop', 'c3');  -- a third sibling with no runs

-- c1: waiting, then surface_failed (no_display); c2: surface_failed later (profile_locked).
select cs_test.add_browser_event('A', 'shop', 'r1', 'waiting_for_browser_surface', cs_test.at(10),
    p_profile_key => 'shopkey:c1', p_wait_reason => 'queue', p_lease_id => 'lease-1');
select cs_test.add_browser_event('A', 'shop', 'r1', 'surface_failed', cs_test.at(12),
    p_profile_key => 'shopkey:c1', p_wait_reason => 'no_display', p_lease_id => 'lease-1',
    p_surface_status => 'surface_failed');
select cs_test.add_browser_event('A', 'shop', 'r2', 'surface_failed', cs_test.at(20),
    p_profile_key => 'shopkey:c2', p_wait_reason => 'profile_locked', p_lease_id => 'lease-2');

select is(cs_test.run_of('A', 'c1', 'last_run', p) ->> 'run_id', 'r1',
    cs_test.path_name(p) || ': c1 gets its own profile-keyed run, not the newer sibling run')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'c1', 'last_run', p) ->> 'failure_reason', 'no_display',
    cs_test.path_name(p) || ': c1 failure_reason is its own newest wait reason')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'c1', 'last_run', p) -> 'browser_surface',
    '{"profile_key": "shopkey:c1", "status": "surface_failed", "wait_reason": "no_display", "lease_id": "lease-1"}'::jsonb,
    cs_test.path_name(p) || ': c1 browser_surface comes from its newest lease event')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'c2', 'last_run', p) ->> 'run_id', 'r2',
    cs_test.path_name(p) || ': c2 gets its own run')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'c2', 'last_run', p) ->> 'failure_reason', 'profile_locked',
    cs_test.path_name(p) || ': c2 failure_reason is its own wait reason')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'c1', 'last_run', p) ->> 'status', 'surface_failed',
    cs_test.path_name(p) || ': a browser-surface-only run reads its lease status')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'c3', 'last_run', p), null,
    cs_test.path_name(p) || ': the sibling without runs gets no run at all')
from cs_test.paths() as p;

-- Rule 1 beats rule 2: a run keyed for c2 that also names c1 explicitly is c2's.
select cs_test.add_browser_event('A', 'shop', 'r3', 'leased', cs_test.at(30),
    p_profile_key => 'shopkey:c2', p_instance_id => 'c1');
select cs_test.add_event('A', 'shop', 'r3', 'run.completed', 'succeeded', cs_test.at(31),
    p_instance_id => 'c1');

select is(cs_test.head_ids('A', 'c2', p), array['r3', 'r3', 'r3'],
    cs_test.path_name(p) || ': the profile key decides, not the explicit connection id')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'c1', p), array['r1', null, null],
    cs_test.path_name(p) || ': c1 keeps its own run and gets no success from the sibling')
from cs_test.paths() as p;

select is_empty('select * from cs_test.path_disagreements(''A'')',
    'overview and deep paths agree for every connection');
select is_empty('select * from cs_test.run_evidence_diff() union all select * from cs_test.run_heads_diff()',
    'the stored read model equals the live fold');

select * from finish();
rollback;
