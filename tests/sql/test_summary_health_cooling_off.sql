-- docs/contract.md §Health, fourth rung: cooling_off while a backoff is active
-- (schedules.backoff_next_run_at > p_now) and not cleared by a newer success.
-- It wins over degraded; it names the next attempt (the backoff's next run).
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(32);

select cs_test.add_connector('hp', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 86400}}',
    p_profile_key => 'hpweb');
select cs_test.add_connection('A', 'hp', c)
from unnest(array['cooling', 'cleared_by_success', 'running_under_backoff', 'backoff_over',
    'backoff_ends_now', 'beats_degraded']) as c;

select cs_test.add_run('A', 'hp', c || '-0', 'succeeded', cs_test.at(1000), cs_test.at(1001), c)
from unnest(array['cooling', 'cleared_by_success', 'running_under_backoff', 'backoff_over',
    'backoff_ends_now']) as c;
select cs_test.add_run('A', 'hp', c || '-1', 'failed', cs_test.at(1400), cs_test.at(1401), c,
    '{"reason": "rate_limited"}')
from unnest(array['cooling', 'cleared_by_success', 'running_under_backoff', 'backoff_over',
    'backoff_ends_now']) as c;
-- A success newer than the failures the backoff reacts to.
select cs_test.add_run('A', 'hp', 'cleared_by_success-2', 'succeeded', cs_test.at(1420), cs_test.at(1421),
    'cleared_by_success');
-- A retry still running (live lease): not a success, the backoff still counts.
select cs_test.add_run('A', 'hp', 'running_under_backoff-2', null, cs_test.at(1420), null,
    'running_under_backoff');
select cs_test.add_lease('A', 'running_under_backoff-2', cs_test.at(1500), 'running_under_backoff');
-- beats_degraded: failed long ago (stale), a terminal gap and a surface_failed lease, under backoff.
select cs_test.add_run('A', 'hp', 'bd-1', 'failed', cs_test.at(10), cs_test.at(11), 'beats_degraded',
    '{"reason": "server_error"}');
select cs_test.add_gap('A', 'beats_degraded', 'g1', 'terminal');
select cs_test.add_surface_lease('A', 'l1', 'hpweb:beats_degraded', 'surface_failed', cs_test.at(1300));

select cs_test.add_schedule('A', c, p_consecutive_failures => 3, p_next_due_at => cs_test.at(1450),
    p_backoff_next_run_at => cs_test.at(1480), p_backoff_reason_class => 'rate_limited')
from unnest(array['cooling', 'cleared_by_success', 'running_under_backoff', 'beats_degraded']) as c;
select cs_test.add_schedule('A', 'backoff_over', p_consecutive_failures => 3,
    p_backoff_next_run_at => cs_test.at(1430), p_backoff_reason_class => 'rate_limited');
select cs_test.add_schedule('A', 'backoff_ends_now', p_consecutive_failures => 3,
    p_backoff_next_run_at => cs_test.now(), p_backoff_reason_class => 'rate_limited');

create temp table expected (connection_id text, health text) on commit drop;
insert into expected values
    ('cooling', 'cooling_off/rate_limited'),
    ('cleared_by_success', 'healthy/ok'),
    ('running_under_backoff', 'cooling_off/rate_limited'),
    ('backoff_over', 'degraded/last_run_failed'),
    ('backoff_ends_now', 'degraded/last_run_failed'),
    ('beats_degraded', 'cooling_off/rate_limited');

-- 6 x 2 = 12
select is(cs_test.health('A', e.connection_id, p), e.health,
    cs_test.path_name(p) || ': ' || e.connection_id || ' -> ' || e.health)
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

select is((cs_test.summary('A', 'cooling', p)).connection_health ->> 'next_action', 'wait',
    cs_test.path_name(p) || ': cooling_off -> next_action wait') from cs_test.paths() as p;
select is(((cs_test.summary('A', 'cooling', p)).connection_health ->> 'next_attempt_at')::timestamptz,
    cs_test.at(1480), cs_test.path_name(p) || ': next_attempt_at = backoff next run, not next_due_at')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'cooling', p)).rendered_verdict -> 'pill',
    '{"tone": "amber", "label": "Degraded"}'::jsonb,
    cs_test.path_name(p) || ': cooling_off -> amber') from cs_test.paths() as p;
select is((cs_test.summary('A', 'cooling', p)).rendered_verdict ->> 'channel', 'advisory',
    cs_test.path_name(p) || ': waiting is advisory, not the owner''s to act on') from cs_test.paths() as p;
select matches((cs_test.summary('A', 'cooling', p)).rendered_verdict ->> 'forward_statement',
    '2024-06-02 00:40', cs_test.path_name(p) || ': the forward statement names the next attempt time')
from cs_test.paths() as p;
-- The schedule object says the backoff is active.
select is((cs_test.summary('A', 'cooling', p)).schedule #> '{backoff,active}', 'true'::jsonb,
    cs_test.path_name(p) || ': schedule.backoff.active') from cs_test.paths() as p;
select is((cs_test.summary('A', 'backoff_over', p)).schedule #> '{backoff,active}', 'false'::jsonb,
    cs_test.path_name(p) || ': a past backoff is inactive') from cs_test.paths() as p;
select is(((cs_test.summary('A', 'cleared_by_success', p)).connection_health ->> 'next_attempt_at')::timestamptz,
    cs_test.at(1480), cs_test.path_name(p) || ': still scheduled by the active backoff')
from cs_test.paths() as p;
-- Time-relative: once the backoff is over, the same evidence is no longer cooling off.
select is(cs_test.health('A', 'cooling', p, cs_test.at(1481)), 'degraded/last_run_failed',
    cs_test.path_name(p) || ': read after backoff_next_run_at -> degraded')
from cs_test.paths() as p;
-- The remote surface axis carries the lease status even while cooling off.
select is((cs_test.summary('A', 'beats_degraded', p)).connection_health #>> '{axes,remote_surface}',
    'surface_failed', cs_test.path_name(p) || ': axes.remote_surface = the lease status')
from cs_test.paths() as p;

select * from finish();
rollback;
