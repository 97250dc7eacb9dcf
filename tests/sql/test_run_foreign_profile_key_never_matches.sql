-- docs/contract.md §Attribution rule 1: a run that carries a browser profile key belongs to C iff
-- the key equals C's expected key. A key of another connection (or of no
-- connection) never matches -- not even for a sole active connection, which
-- would otherwise get unstamped runs (rule 3), and not through an explicit id.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(14);

-- Expected key of s1 is 'shopkey:s1' (the manifest key, not the connector id).
select cs_test.add_connector('shop', p_profile_key => 'shopkey');
select cs_test.add_connection('A', 'shop', 's1');
select cs_test.add_connection('A', 'shop', 's2', p_status => 'paused');
select cs_test.add_connection('A', 'books', 'k1');

select cs_test.add_browser_event('A', 'shop', 'own', 'released', cs_test.at(10), p_profile_key => 'shopkey:s1');
select cs_test.add_event('A', 'shop', 'own', 'run.completed', 'succeeded', cs_test.at(11));
-- Every later run carries a key that is not s1's.
select cs_test.add_browser_event('A', 'shop', 'sibling', 'surface_failed', cs_test.at(20), p_profile_key => 'shopkey:s2');
select cs_test.add_browser_event('A', 'shop', 'nobody', 'surface_failed', cs_test.at(30), p_profile_key => 'shopkey:s9');
select cs_test.add_browser_event('A', 'shop', 'bare-base', 'leased', cs_test.at(40), p_profile_key => 'shopkey');
select cs_test.add_browser_event('A', 'shop', 'connector-base', 'leased', cs_test.at(50), p_profile_key => 'shop:s1');
select cs_test.add_browser_event('A', 'shop', 'other-base', 'leased', cs_test.at(60), p_profile_key => 'books:s1');
select cs_test.add_browser_event('A', 'shop', 'prefix', 'leased', cs_test.at(70), p_profile_key => 'shopkey:s1x');
-- A foreign key plus s1's explicit id: the key decides.
select cs_test.add_browser_event('A', 'shop', 'key-and-id', 'leased', cs_test.at(80),
    p_profile_key => 'shopkey:s2', p_instance_id => 's1');
select cs_test.add_event('A', 'shop', 'key-and-id', 'run.completed', 'succeeded', cs_test.at(81), p_instance_id => 's1');
-- s1's own key on another connector's run.
select cs_test.add_browser_event('A', 'books', 'cross-connector', 'leased', cs_test.at(90), p_profile_key => 'shopkey:s1');

select is(cs_test.head_ids('A', 's1', p), array['own', 'own', 'own'],
    cs_test.path_name(p) || ': s1 (sole active) gets only the run with its exact key')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 's2', p), array['key-and-id', 'key-and-id', 'key-and-id'],
    cs_test.path_name(p) || ': s2 gets its keyed runs, including the one that also names s1')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'k1', p), array[null, null, null]::text [],
    cs_test.path_name(p) || ': a key is matched within the run''s connector only')
from cs_test.paths() as p;

select is(cs_test.run_of('A', 's1', 'last_run', p) -> 'browser_surface' ->> 'profile_key', 'shopkey:s1',
    cs_test.path_name(p) || ': the summary shows the matching key')
from cs_test.paths() as p;

-- A run first stamped with the sibling's key whose newest lease event carries no
-- key still carries the sibling's key: it must not fall through to rule 3 and
-- reach the sole active s1.
select cs_test.add_browser_event('A', 'shop', 'late-keyless', 'waiting_for_browser_surface', cs_test.at(100),
    p_profile_key => 'shopkey:s2', p_wait_reason => 'queue');
select cs_test.add_browser_event('A', 'shop', 'late-keyless', 'surface_failed', cs_test.at(101));

select is(cs_test.run_of('A', 's1', 'last_run', p) ->> 'run_id', 'own',
    cs_test.path_name(p) || ': a run stamped with a sibling''s key never reaches s1, even when its newest lease event has no key')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 's2', 'last_run', p) ->> 'run_id', 'late-keyless',
    cs_test.path_name(p) || ': that run is the keyed sibling''s')
from cs_test.paths() as p;

select is_empty('select * from cs_test.path_disagreements(''A'')',
    'overview and deep paths agree for every connection');
select is_empty('select * from cs_test.run_evidence_diff() union all select * from cs_test.run_heads_diff()',
    'the stored read model equals the live fold');

select * from finish();
rollback;
