-- docs/contract.md §Run evidence: "newest"/"earliest" order by occurred_at, then event_seq, whatever
-- the arrival order. Late events refold their run, can change which run is a
-- connection's latest, and can move a run to another claim.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(24);

select cs_test.add_connector('shop', p_profile_key => 'shopkey');
select cs_test.add_connection('A', 'shop', 'c1');

-- r1 arrives backwards: terminal first, then progress, then run.started.
select cs_test.add_event('A', 'shop', 'r1', 'run.completed', 'succeeded', cs_test.at(30), 'c1',
    '{"known_gaps": [{"stream": "orders", "reason": "late", "severity": "informational"}]}');
select cs_test.add_event('A', 'shop', 'r1', 'run.progress_reported', 'running', cs_test.at(20), 'c1');
select cs_test.add_event('A', 'shop', 'r1', 'run.started', 'started', cs_test.at(10), 'c1');

select is(
    (select array[first_at, last_at] from connection_summary.run_evidence where run_id = 'r1'),
    array[cs_test.at(10), cs_test.at(30)],
    'first_at / last_at are the earliest / latest occurred_at, not arrival order');
select is(
    (select array[event_count::text, newest_status, terminal_status] from connection_summary.run_evidence where run_id = 'r1'),
    array['3', 'succeeded', 'succeeded'],
    'the newest event by occurred_at gives newest_status, whatever arrived last');
select is(
    array[cs_test.run_of('A', 'c1', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'c1', 'last_run', p) ->> 'started_at',
          cs_test.run_of('A', 'c1', 'last_run', p) ->> 'finished_at'],
    array['succeeded', to_jsonb(cs_test.at(10)) ->> 0, to_jsonb(cs_test.at(30)) ->> 0],
    cs_test.path_name(p) || ': the backwards run reads succeeded, started at its run.started')
from cs_test.paths() as p;

-- A late, older terminal event does not override the newer one.
select cs_test.add_event('A', 'shop', 'r1', 'run.failed', 'failed', cs_test.at(25), 'c1', '{"reason": "late_failure"}');
select is(cs_test.run_of('A', 'c1', 'last_run', p) ->> 'status', 'succeeded',
    cs_test.path_name(p) || ': an older terminal event arriving late does not change the status')
from cs_test.paths() as p;
select is(
    (select terminal_event_seq from connection_summary.run_evidence where run_id = 'r1'),
    (select event_seq from connection_summary.spine_events where run_id = 'r1' and event_type = 'run.completed'),
    'the terminal event is the newest by occurred_at, not the last inserted');

-- Equal timestamps: the later event_seq is the newer event.
select cs_test.add_event('A', 'shop', 'r2', 'run.completed', 'succeeded', cs_test.at(40), 'c1');
select cs_test.add_event('A', 'shop', 'r2', 'run.cancelled', 'cancelled', cs_test.at(40), 'c1');
select is(cs_test.run_of('A', 'c1', 'last_run', p) ->> 'status', 'cancelled',
    cs_test.path_name(p) || ': two terminal events at the same instant -> the later event_seq wins')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'c1', 'last_successful_run', p) ->> 'run_id', 'r1',
    cs_test.path_name(p) || ': so r2 is not a success')
from cs_test.paths() as p;

-- Which run is latest follows late events: r1 gets a later event than r2's.
select cs_test.add_event('A', 'shop', 'r1', 'run.progress_reported', null, cs_test.at(50), 'c1');
select is(cs_test.head_ids('A', 'c1', p), array['r1', 'r1', 'r1'],
    cs_test.path_name(p) || ': a late event makes r1 the latest run again (by last_at)')
from cs_test.paths() as p;

-- Equal last_at between runs: the greater run_id is the latest.
select cs_test.add_event('A', 'shop', 'r0', 'run.completed', 'succeeded', cs_test.at(50), 'c1');
select cs_test.add_event('A', 'shop', 'r3', 'run.completed', 'succeeded', cs_test.at(50), 'c1');
select is(cs_test.head_ids('A', 'c1', p), array['r3', 'r3', 'r3'],
    cs_test.path_name(p) || ': ties on last_at are broken by the greater run_id')
from cs_test.paths() as p;

-- A late lease event moves an unstamped run to a profile claim: c1 (sole
-- active) loses it, the keyed sibling gets it.
select cs_test.add_connection('A', 'shop', 'c2', p_status => 'paused');
select cs_test.add_run('A', 'shop', 'r9', 'succeeded', cs_test.at(60));
select is(cs_test.head_ids('A', 'c1', p), array['r9', 'r9', 'r9'],
    cs_test.path_name(p) || ': the unstamped r9 is the sole active c1''s')
from cs_test.paths() as p;
select cs_test.add_browser_event('A', 'shop', 'r9', 'released', cs_test.at(59), p_profile_key => 'shopkey:c2');
select is(cs_test.head_ids('A', 'c1', p), array['r3', 'r3', 'r3'],
    cs_test.path_name(p) || ': once r9 carries c2''s key, c1 falls back to its previous heads')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'c2', p), array['r9', 'r9', 'r9'],
    cs_test.path_name(p) || ': and r9 is c2''s')
from cs_test.paths() as p;
select is(
    (select count(*)::int from connection_summary.run_heads where claim_kind = 'none'), 0,
    'the emptied unstamped claim has no stored head row left');

select is_empty('select * from cs_test.path_disagreements(''A'')',
    'overview and deep paths agree for every connection');
select is_empty('select * from cs_test.run_evidence_diff() union all select * from cs_test.run_heads_diff()',
    'the stored read model equals the live fold');

select * from finish();
rollback;
