-- docs/contract.md §Run evidence: last_run / last_successful_run are chosen by (last_at, run_id)
-- over ALL of a connection's runs -- "there is no fixed window of recent runs".
-- c1's only success is older than 10,000 runs of its siblings (keyed, named
-- and unstamped) and than 2,000 of its own failed runs; it is still found.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(14);

select cs_test.add_connector('shop', p_profile_key => 'shopkey');
select cs_test.add_connection('A', 'shop', 'c1');
select cs_test.add_connection('A', 'shop', 'c2');
select cs_test.add_connection('A', 'shop', 'c3');

select cs_test.add_browser_event('A', 'shop', 'c1-success', 'released', cs_test.at(1), p_profile_key => 'shopkey:c1');
select cs_test.add_event('A', 'shop', 'c1-success', 'run.completed', 'succeeded', cs_test.at(2));
select cs_test.add_run('A', 'shop', 'c1-last', 'failed', cs_test.at(3), p_instance_id => 'c1',
    p_data => '{"reason": "timeout"}');

-- 10,000 newer sibling runs (2 events each): 4,000 keyed for c2, 4,000 naming c3,
-- 2,000 unstamped (nobody's: three active siblings). Inserted in bulk statements
-- of 500 runs (1,000 events) each.
do $$
begin
    for chunk in 0..19 loop
        insert into connection_summary.spine_events (
            owner_id, event_type, status, source_kind, source_id, run_id, occurred_at,
            connector_instance_id, data
        )
        select
            'A', e.event_type, e.status, 'connector', 'shop', 'sib-' || lpad(g::text, 5, '0'),
            cs_test.at(100 + g + e.offset_minutes),
            case when g % 5 in (2, 3) then 'c3' end,
            case when g % 5 in (0, 1) and e.event_type = 'run.browser_surface_released'
                then '{"browser_surface": {"browser_surface_profile_key": "shopkey:c2"}}'::jsonb
                else '{}'::jsonb end
        from generate_series(chunk * 500 + 1, chunk * 500 + 500) as g
        cross join (values
            ('run.browser_surface_released', 'released', 0.0),
            ('run.completed', 'succeeded', 0.5)
        ) as e (event_type, status, offset_minutes);
    end loop;
end;
$$;

-- 2,000 newer failed runs of c1 itself, in one statement.
insert into connection_summary.spine_events (
    owner_id, event_type, status, source_kind, source_id, run_id, occurred_at, connector_instance_id, data
)
select 'A', 'run.failed', 'failed', 'connector', 'shop', 'c1-fail-' || lpad(g::text, 4, '0'),
    cs_test.at(3 + g * 0.001), 'c1', '{"reason": "again"}'
from generate_series(1, 2000) as g;

-- Fresh statistics, as autovacuum would have them: this file is about which run
-- is chosen. (Plan shape without statistics: tests/test_run_evidence_plans.py.)
analyze connection_summary.spine_events;
analyze connection_summary.run_evidence;
analyze connection_summary.run_heads;

select is((select count(*)::int from connection_summary.run_evidence), 12002,
    'sanity: 12,002 runs are stored');
select is(
    (select count(*)::int from connection_summary.run_evidence where last_at > cs_test.at(100)), 10000,
    'sanity: 10,000 sibling runs are newer than every run of c1');

select is(cs_test.run_of('A', 'c1', 'last_successful_run', p) ->> 'run_id', 'c1-success',
    cs_test.path_name(p) || ': c1''s old success is still its last successful run')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'c1', 'last_run', p) ->> 'run_id', 'c1-fail-2000',
    cs_test.path_name(p) || ': c1''s last run is its own newest run, not a sibling''s')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'c2', p), array['sib-10000', 'sib-10000', 'sib-10000'],
    cs_test.path_name(p) || ': c2''s heads are its newest keyed run')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'c3', p), array['sib-09998', 'sib-09998', 'sib-09998'],
    cs_test.path_name(p) || ': c3''s heads are its newest named run')
from cs_test.paths() as p;

-- One more keyed c1 success, long before everything else: it does not displace
-- the newer one (ordering by last_at, not arrival).
select cs_test.add_browser_event('A', 'shop', 'c1-ancient', 'released', cs_test.at(0), p_profile_key => 'shopkey:c1');
select cs_test.add_event('A', 'shop', 'c1-ancient', 'run.completed', 'succeeded', cs_test.at(0.5));
select is(cs_test.run_of('A', 'c1', 'last_successful_run', p) ->> 'run_id', 'c1-success',
    cs_test.path_name(p) || ': a late, older success does not displace the newer one')
from cs_test.paths() as p;

select is_empty('select * from cs_test.path_disagreements(''A'')',
    'overview and deep paths agree for every connection');
select is_empty('select * from cs_test.run_evidence_diff() union all select * from cs_test.run_heads_diff()',
    'the stored read model equals the live fold');

select * from finish();
rollback;
