-- docs/contract.md §Read functions connection_health.badges {stale, syncing} and issue 4 ("syncing when
-- the schedule has an active run"): each badge is a JSON boolean on every row --
-- true or false, never null. syncing is true while the schedule has an active run
-- or the last run is in progress; stale follows freshness.status = stale.
-- Regression: syncing came out JSON null for a connection with no run and no
-- schedule (false OR NULL).
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(12);

select cs_test.add_connector('hp', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 86400}}');
select cs_test.add_connection('A', 'hp', c)
from unnest(array['no_run_no_schedule', 'schedule_idle', 'schedule_active_run', 'run_in_progress',
    'run_succeeded', 'stale']) as c;
select cs_test.add_schedule('A', 'schedule_idle');
select cs_test.add_schedule('A', 'schedule_active_run', p_active_run_id => 'sar-2');
select cs_test.add_run('A', 'hp', 'sar-1', 'succeeded', cs_test.at(1400), cs_test.at(1401), 'schedule_active_run');
select cs_test.add_run('A', 'hp', 'rip-1', null, cs_test.at(1430), null, 'run_in_progress');
select cs_test.add_lease('A', 'rip-1', cs_test.at(1500), 'run_in_progress');
select cs_test.add_run('A', 'hp', 'rs-1', 'succeeded', cs_test.at(1400), cs_test.at(1401), 'run_succeeded');
select cs_test.add_run('A', 'hp', 'st-1', 'succeeded', cs_test.at(-1400), cs_test.at(-1399), 'stale');

create temp table expected (connection_id text, badges jsonb) on commit drop;
insert into expected values
    ('no_run_no_schedule', '{"stale": false, "syncing": false}'),
    ('schedule_idle', '{"stale": false, "syncing": false}'),
    ('schedule_active_run', '{"stale": false, "syncing": true}'),
    ('run_in_progress', '{"stale": false, "syncing": true}'),
    ('run_succeeded', '{"stale": false, "syncing": false}'),
    ('stale', '{"stale": true, "syncing": false}');

-- 6 x 2 = 12
select is((cs_test.summary('A', e.connection_id, p)).connection_health -> 'badges', e.badges,
    cs_test.path_name(p) || ': ' || e.connection_id || ' badges ' || e.badges::text)
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

select * from finish();
rollback;
