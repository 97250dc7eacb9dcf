-- docs/contract.md §Health, last rungs: idle (never run) -> healthy (last run
-- succeeded, coverage complete, freshness current) -> unknown. Plus the badges:
-- syncing while the schedule has an active run or the last run is in progress.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(32);

select cs_test.add_connector('hp', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 86400}}',
    p_profile_key => 'hpweb');
select cs_test.add_connector('nopolicy');
select cs_test.add_connection('A', 'hp', c)
from unnest(array['never_run', 'never_run_scheduled', 'started_per_schedule', 'healthy',
    'healthy_partial', 'first_run_in_progress', 'waiting_for_surface', 'syncing_by_schedule']) as c;
select cs_test.add_connection('A', 'nopolicy', 'healthy_but_no_policy');

select cs_test.add_schedule('A', 'never_run_scheduled', p_next_due_at => cs_test.at(1500));
-- The schedule says an attempt started, but no run event exists: not "never run".
select cs_test.add_schedule('A', 'started_per_schedule', p_last_started_at => cs_test.at(1400));
select cs_test.add_run('A', 'hp', 'h-1', 'succeeded', cs_test.at(1400), cs_test.at(1401), 'healthy',
    '{"known_gaps": [], "collection_facts": {"streams": [{"stream": "s", "collected": 5, "considered": 5}]}}');
select cs_test.add_run('A', 'hp', 'hp-1', 'succeeded', cs_test.at(1400), cs_test.at(1401), 'healthy_partial',
    '{"collection_facts": {"streams": [{"stream": "s", "collected": 4, "considered": 5}]}}');
select cs_test.add_run('A', 'nopolicy', 'np-1', 'succeeded', cs_test.at(1400), cs_test.at(1401),
    'healthy_but_no_policy');
select cs_test.add_run('A', 'hp', 'fr-1', null, cs_test.at(1430), null, 'first_run_in_progress');
select cs_test.add_lease('A', 'fr-1', cs_test.at(1500), 'first_run_in_progress');
select cs_test.add_browser_event('A', 'hp', 'ws-1', 'waiting_for_browser_surface', cs_test.at(1430),
    p_profile_key => 'hpweb:waiting_for_surface', p_wait_reason => 'queue');
select cs_test.add_run('A', 'hp', 'sbs-1', 'succeeded', cs_test.at(1400), cs_test.at(1401), 'syncing_by_schedule');
select cs_test.add_schedule('A', 'syncing_by_schedule', p_active_run_id => 'sbs-2');

create temp table expected (connection_id text, state text) on commit drop;
insert into expected values
    ('never_run', 'idle/never_run'),
    ('never_run_scheduled', 'idle/never_run'),
    ('started_per_schedule', 'unknown'),
    ('healthy', 'healthy/ok'),
    ('healthy_partial', 'degraded/partial_coverage'),
    ('healthy_but_no_policy', 'unknown'),
    ('first_run_in_progress', 'unknown'),
    ('waiting_for_surface', 'unknown'),
    ('syncing_by_schedule', 'healthy/ok');

-- state (reason for the fixed ones): 9 x 2 = 18
select is(
    case when e.state like '%/%' then cs_test.health('A', e.connection_id, p)
        else (cs_test.summary('A', e.connection_id, p)).connection_health ->> 'state' end,
    e.state, cs_test.path_name(p) || ': ' || e.connection_id || ' -> ' || e.state)
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

-- Healthy renders green, calm, nothing to do.
select is((cs_test.summary('A', 'healthy', p)).rendered_verdict -> 'pill',
    '{"tone": "green", "label": "Healthy"}'::jsonb, cs_test.path_name(p) || ': healthy -> green Healthy')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'healthy', p)).rendered_verdict ->> 'channel', 'calm',
    cs_test.path_name(p) || ': healthy -> calm') from cs_test.paths() as p;
select is((cs_test.summary('A', 'healthy', p)).rendered_verdict -> 'required_actions', '[]'::jsonb,
    cs_test.path_name(p) || ': healthy -> no required actions') from cs_test.paths() as p;
select is(((cs_test.summary('A', 'healthy', p)).connection_health ->> 'last_success_at')::timestamptz,
    cs_test.at(1401), cs_test.path_name(p) || ': last_success_at = captured_at') from cs_test.paths() as p;
-- Unknown renders grey "Checking".
select is((cs_test.summary('A', 'healthy_but_no_policy', p)).rendered_verdict -> 'pill',
    '{"tone": "grey", "label": "Checking"}'::jsonb,
    cs_test.path_name(p) || ': unknown freshness -> grey Checking') from cs_test.paths() as p;
-- The in-progress first run is the last run, with status in_progress and no finished_at.
select is((cs_test.summary('A', 'first_run_in_progress', p)).last_run ->> 'status', 'in_progress',
    cs_test.path_name(p) || ': live lease -> in_progress') from cs_test.paths() as p;
select is((cs_test.summary('A', 'first_run_in_progress', p)).last_run -> 'finished_at', 'null'::jsonb,
    cs_test.path_name(p) || ': in progress -> finished_at null') from cs_test.paths() as p;

select * from finish();
rollback;
