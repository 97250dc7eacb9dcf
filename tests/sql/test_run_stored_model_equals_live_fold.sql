-- The stored read model is the live fold (issue 3 §1): after single-row,
-- multi-row and INSERT ... SELECT writes -- out of order, with claim changes and
-- malformed data -- run_evidence = run_evidence_live and run_heads =
-- run_heads_live; the diff helpers do see a damaged model; and
-- rebuild_run_evidence() restores equality and returns the number of runs.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(16);

select cs_test.add_connector('shop', p_profile_key => 'shopkey');
select cs_test.add_connection('A', 'shop', 's1');
select cs_test.add_connection('A', 'shop', 's2');
select cs_test.add_connection('B', 'mail', 'm1');

-- Single-row inserts.
select cs_test.add_run('A', 'shop', 'single', 'succeeded', cs_test.at(10), p_instance_id => 's1');
select cs_test.add_browser_event('A', 'shop', 'keyed', 'surface_failed', cs_test.at(12),
    p_profile_key => 'shopkey:s2', p_wait_reason => 'no_display');
select is_empty('select * from cs_test.run_evidence_diff()', 'run_evidence = live fold after single-row inserts');

-- One multi-row INSERT touching several runs, owners and sources, out of order,
-- with malformed data, a run_id-less event and a non-connector source.
insert into connection_summary.spine_events (
    owner_id, event_type, status, source_kind, source_id, run_id, occurred_at,
    connector_instance_id, connection_id, data
)
values
    ('A', 'run.completed', 'succeeded', 'connector', 'shop', 'multi', cs_test.at(30), null, 's1', '"just a string"'),
    ('A', 'run.started', 'started', 'connector', 'shop', 'multi', cs_test.at(20), null, null, '[1, 2, {"reason": "x"}]'),
    ('A', 'run.failed', 'failed', 'connector', 'shop', 'single', cs_test.at(5), null, null, '{"reason": {"nested": ["junk"]}}'),
    ('A', 'run.browser_surface_leased', 'leased', 'connector', 'shop', 'unkeyed', cs_test.at(25), null, null,
        '{"browser_surface": "not an object"}'),
    ('A', 'run.completed', 'succeeded', 'connector', 'shop', 'unkeyed', cs_test.at(26), null, null,
        '{"known_gaps": "oops", "collection_facts": [null]}'),
    ('B', 'run.completed', 'succeeded', 'connector', 'mail', 'multi', cs_test.at(40), 'm1', null, 'null'),
    ('A', 'heartbeat', null, 'connector', 'shop', null, cs_test.at(41), null, null, '{}'),
    ('A', 'run.completed', 'succeeded', 'runtime', 'worker-1', 'multi', cs_test.at(42), null, null, '{}');
select is_empty('select * from cs_test.run_evidence_diff()', 'run_evidence = live fold after a multi-row insert');
select is_empty('select * from cs_test.run_heads_diff()', 'run_heads = live heads after a multi-row insert');

-- INSERT ... SELECT of many events of many runs, newest first.
insert into connection_summary.spine_events (
    owner_id, event_type, status, source_kind, source_id, run_id, occurred_at, connector_instance_id, data
)
select
    case when g % 7 = 0 then 'B' else 'A' end,
    (array['run.started', 'run.progress_reported', 'run.completed', 'run.failed', 'run.browser_surface_waiting'])[1 + g % 5],
    (array['started', null, 'succeeded', 'failed', 'waiting_for_browser_surface'])[1 + g % 5],
    'connector', 'shop', 'bulk-' || (g % 40),
    cs_test.at(1000 - g),
    case when g % 3 = 0 then 's1' end,
    case when g % 5 = 4 then jsonb_build_object('browser_surface', jsonb_build_object(
        'browser_surface_profile_key', 'shopkey:s' || (1 + g % 2), 'browser_surface_wait_reason', 'queue'))
        when g % 5 = 3 then '{"reason": "bulk"}'::jsonb else '{}'::jsonb end
from generate_series(1, 400) as g
order by g;
select is_empty('select * from cs_test.run_evidence_diff()', 'run_evidence = live fold after INSERT ... SELECT');
select is_empty('select * from cs_test.run_heads_diff()', 'run_heads = live heads after INSERT ... SELECT');

-- A late event adds a key to an unkeyed run (its claim moves) and another
-- arrives exactly at an existing timestamp.
select cs_test.add_browser_event('A', 'shop', 'unkeyed', 'released', cs_test.at(24), p_profile_key => 'shopkey:s1');
select cs_test.add_event('A', 'shop', 'multi', 'run.cancelled', 'cancelled', cs_test.at(30));
select is_empty('select * from cs_test.run_evidence_diff() union all select * from cs_test.run_heads_diff()',
    'stored = live after claim-moving and same-instant late events');
select is_empty('select * from cs_test.path_disagreements(''A'')', 'overview and deep paths agree (owner A)');
select is_empty('select * from cs_test.path_disagreements(''B'')', 'overview and deep paths agree (owner B)');

select is((select count(*)::int from connection_summary.run_evidence), 86,
    'sanity: 86 runs (single, keyed, multi, unkeyed, B/multi, runtime multi, 40 bulk runs of each owner)');
select is((select count(*)::int from connection_summary.run_evidence where source_kind = 'runtime'), 1,
    'a non-connector source is folded too (keyed by source_kind)');

-- The diff helpers see damage.
update connection_summary.run_evidence set event_count = event_count + 1 where run_id = 'single';
delete from connection_summary.run_heads where claim_kind = 'connection';
select isnt_empty('select * from cs_test.run_evidence_diff()', 'a damaged run_evidence row is reported');
select isnt_empty('select * from cs_test.run_heads_diff()', 'a missing run_heads row is reported');
delete from connection_summary.run_evidence where run_id = 'keyed';

select is(connection_summary.rebuild_run_evidence(),
    (select count(distinct (owner_id, source_kind, source_id, run_id))
     from connection_summary.spine_events where run_id is not null),
    'rebuild_run_evidence() returns the number of runs');
select is_empty('select * from cs_test.run_evidence_diff()', 'run_evidence = live fold after rebuild');
select is_empty('select * from cs_test.run_heads_diff()', 'run_heads = live heads after rebuild');
select is_empty('select * from cs_test.path_disagreements(''A'')', 'paths agree after rebuild');

select * from finish();
rollback;
