-- docs/contract.md §Read functions schedule: {enabled, interval_seconds, next_due_at, backoff: {active,
-- consecutive_failures, next_run_at, reason_class}}, NULL without a schedule row.
-- backoff.active = backoff_next_run_at > p_now (time-relative, never stored).
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(22);

select cs_test.add_connector('sch');
select cs_test.add_connection('A', 'sch', c)
from unnest(array['none', 'plain', 'backing_off', 'backoff_over', 'disabled', 'foreign']) as c;
select cs_test.add_schedule('A', 'plain', p_interval_seconds => 3600, p_next_due_at => cs_test.at(1500));
select cs_test.add_schedule('A', 'backing_off', p_interval_seconds => 900, p_next_due_at => cs_test.at(1450),
    p_consecutive_failures => 3, p_backoff_next_run_at => cs_test.at(1480), p_backoff_reason_class => 'rate_limited');
select cs_test.add_schedule('A', 'backoff_over', p_interval_seconds => 900,
    p_consecutive_failures => 4, p_backoff_next_run_at => cs_test.at(1400), p_backoff_reason_class => 'server_error');
select cs_test.add_schedule('A', 'disabled', p_enabled => false, p_interval_seconds => 86400);
select cs_test.add_schedule('B', 'foreign', p_interval_seconds => 60);

select is((cs_test.summary('A', 'none', p)).schedule, null,
    cs_test.path_name(p) || ': no schedule row -> NULL') from cs_test.paths() as p;
select is((cs_test.summary('A', 'foreign', p)).schedule, null,
    cs_test.path_name(p) || ': another owner''s schedule row -> NULL') from cs_test.paths() as p;
select is((cs_test.summary('A', 'plain', p)).schedule - 'next_due_at',
    '{"enabled": true, "interval_seconds": 3600,
      "backoff": {"active": false, "consecutive_failures": 0, "next_run_at": null, "reason_class": null}}'::jsonb,
    cs_test.path_name(p) || ': plain schedule') from cs_test.paths() as p;
select is(((cs_test.summary('A', 'plain', p)).schedule ->> 'next_due_at')::timestamptz, cs_test.at(1500),
    cs_test.path_name(p) || ': next_due_at') from cs_test.paths() as p;
select is(((cs_test.summary('A', 'backing_off', p)).schedule -> 'backoff') - 'next_run_at',
    '{"active": true, "consecutive_failures": 3, "reason_class": "rate_limited"}'::jsonb,
    cs_test.path_name(p) || ': active backoff') from cs_test.paths() as p;
select is(((cs_test.summary('A', 'backing_off', p)).schedule #>> '{backoff,next_run_at}')::timestamptz,
    cs_test.at(1480), cs_test.path_name(p) || ': backoff.next_run_at') from cs_test.paths() as p;
select is(((cs_test.summary('A', 'backoff_over', p)).schedule -> 'backoff') - 'next_run_at',
    '{"active": false, "consecutive_failures": 4, "reason_class": "server_error"}'::jsonb,
    cs_test.path_name(p) || ': a backoff that ended before p_now is inactive, its facts kept')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'disabled', p)).schedule -> 'enabled', 'false'::jsonb,
    cs_test.path_name(p) || ': disabled') from cs_test.paths() as p;
-- Read before the backoff ended it is active; at its end it is not.
select is((cs_test.summary('A', 'backoff_over', p, cs_test.at(1399))).schedule #> '{backoff,active}',
    'true'::jsonb, cs_test.path_name(p) || ': p_now before backoff_next_run_at -> active')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'backing_off', p, cs_test.at(1480))).schedule #> '{backoff,active}',
    'false'::jsonb, cs_test.path_name(p) || ': p_now = backoff_next_run_at -> inactive')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'backing_off', p)).schedule ?& array['enabled', 'interval_seconds',
    'next_due_at', 'backoff'], true, cs_test.path_name(p) || ': the contract keys') from cs_test.paths() as p;

select * from finish();
rollback;
