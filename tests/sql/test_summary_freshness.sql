-- docs/contract.md §Freshness: captured_at = the last successful run's last_at, else
-- schedules.last_successful_at; stale when the last run failed/cancelled and is not
-- older than captured_at (or nothing was ever captured); else with captured_at and
-- maximum_staleness_seconds > 0: current within it, stale past it; else unknown.
-- Every check runs on the overview row and on the scoped (deep) row.
-- Read time: cs_test.now() = at(1440). Policy of 'pol': 3600 s (60 minutes).
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(44);

select cs_test.add_connector('pol', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 3600}}');
select cs_test.add_connector('nopol', p_manifest => '{"streams": [{"name": "s"}]}');
select cs_test.add_connector('zeropol', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 0}}');

select cs_test.add_connection('A', 'pol', c)
from unnest(array['cur', 'old', 'failafter', 'failbefore', 'cancelafter', 'nevercaptured',
    'abandonedafter', 'orphanafter', 'runningafter', 'schedcur', 'schedold', 'runwins',
    'norun', 'edge_in', 'edge_out']) as c;
select cs_test.add_connection('A', 'nopol', 'nopolicy');
select cs_test.add_connection('A', 'zeropol', 'zeropolicy');

-- cur: succeeded 10 minutes ago.
select cs_test.add_run('A', 'pol', 'cur-1', 'succeeded', cs_test.at(1425), cs_test.at(1430), 'cur');
-- old: succeeded 440 minutes ago.
select cs_test.add_run('A', 'pol', 'old-1', 'succeeded', cs_test.at(995), cs_test.at(1000), 'old');
-- failafter: captured 10 minutes ago, then a failed attempt.
select cs_test.add_run('A', 'pol', 'fa-1', 'succeeded', cs_test.at(1425), cs_test.at(1430), 'failafter');
select cs_test.add_run('A', 'pol', 'fa-2', 'failed', cs_test.at(1432), cs_test.at(1435), 'failafter',
    '{"reason": "timeout"}');
-- failbefore: the failed run is older than the capture (schedule says it succeeded later).
select cs_test.add_run('A', 'pol', 'fb-1', 'failed', cs_test.at(1395), cs_test.at(1400), 'failbefore',
    '{"reason": "timeout"}');
select cs_test.add_schedule('A', 'failbefore', p_last_successful_at => cs_test.at(1430));
-- cancelafter: captured, then cancelled.
select cs_test.add_run('A', 'pol', 'ca-1', 'succeeded', cs_test.at(1425), cs_test.at(1430), 'cancelafter');
select cs_test.add_run('A', 'pol', 'ca-2', 'cancelled', cs_test.at(1432), cs_test.at(1433), 'cancelafter');
-- nevercaptured: only a failed run.
select cs_test.add_run('A', 'pol', 'nc-1', 'failed', cs_test.at(100), cs_test.at(101), 'nevercaptured',
    '{"reason": "timeout"}');
-- abandonedafter: abandoned is not failed/cancelled: freshness follows the capture age.
select cs_test.add_run('A', 'pol', 'aa-1', 'succeeded', cs_test.at(1425), cs_test.at(1430), 'abandonedafter');
select cs_test.add_run('A', 'pol', 'aa-2', 'abandoned', cs_test.at(1432), cs_test.at(1433), 'abandonedafter');
-- orphanafter: a started run without lease after the capture reads failed (§4): stale.
select cs_test.add_run('A', 'pol', 'oa-1', 'succeeded', cs_test.at(1425), cs_test.at(1430), 'orphanafter');
select cs_test.add_run('A', 'pol', 'oa-2', null, cs_test.at(1432), null, 'orphanafter');
-- runningafter: the same with a live lease: in_progress, freshness still current.
select cs_test.add_run('A', 'pol', 'ra-1', 'succeeded', cs_test.at(1425), cs_test.at(1430), 'runningafter');
select cs_test.add_run('A', 'pol', 'ra-2', null, cs_test.at(1432), null, 'runningafter');
select cs_test.add_lease('A', 'ra-2', cs_test.at(1500), 'runningafter');
-- schedcur / schedold: no run events, the schedule's last_successful_at is the capture.
select cs_test.add_schedule('A', 'schedcur', p_last_successful_at => cs_test.at(1420),
    p_last_started_at => cs_test.at(1418));
select cs_test.add_schedule('A', 'schedold', p_last_successful_at => cs_test.at(100));
-- runwins: a successful run's last_at beats a newer schedules.last_successful_at.
select cs_test.add_run('A', 'pol', 'rw-1', 'succeeded', cs_test.at(995), cs_test.at(1000), 'runwins');
select cs_test.add_schedule('A', 'runwins', p_last_successful_at => cs_test.at(1430));
-- edges: 59 and 61 minutes old.
select cs_test.add_run('A', 'pol', 'ei-1', 'succeeded', cs_test.at(1380), cs_test.at(1381), 'edge_in');
select cs_test.add_run('A', 'pol', 'eo-1', 'succeeded', cs_test.at(1378), cs_test.at(1379), 'edge_out');
-- No usable policy: unknown even when captured a minute ago.
select cs_test.add_run('A', 'nopol', 'np-1', 'succeeded', cs_test.at(1438), cs_test.at(1439), 'nopolicy');
select cs_test.add_run('A', 'zeropol', 'zp-1', 'succeeded', cs_test.at(1438), cs_test.at(1439), 'zeropolicy');

create temp table expected (connection_id text, status text, captured_at timestamptz) on commit drop;
insert into expected values
    ('cur', 'current', cs_test.at(1430)),
    ('old', 'stale', cs_test.at(1000)),
    ('failafter', 'stale', cs_test.at(1430)),
    ('failbefore', 'current', cs_test.at(1430)),
    ('cancelafter', 'stale', cs_test.at(1430)),
    ('nevercaptured', 'stale', null),
    ('abandonedafter', 'current', cs_test.at(1430)),
    ('orphanafter', 'stale', cs_test.at(1430)),
    ('runningafter', 'current', cs_test.at(1430)),
    ('schedcur', 'current', cs_test.at(1420)),
    ('schedold', 'stale', cs_test.at(100)),
    ('runwins', 'stale', cs_test.at(1000)),
    ('norun', 'unknown', null),
    ('edge_in', 'current', cs_test.at(1381)),
    ('edge_out', 'stale', cs_test.at(1379)),
    ('nopolicy', 'unknown', cs_test.at(1439)),
    ('zeropolicy', 'unknown', cs_test.at(1439));

-- status per connection and path (17 x 2 = 34 tests)
select is(
    (cs_test.summary('A', e.connection_id, p)).freshness ->> 'status', e.status,
    cs_test.path_name(p) || ': ' || e.connection_id || ' freshness is ' || e.status)
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

-- captured_at per connection, one set comparison per path (2 tests)
select set_eq(
    format($$select o.connection_id, (o.freshness ->> 'captured_at')::timestamptz
        from connection_summary.overview('A', %L) as o$$, cs_test.now()),
    'select connection_id, captured_at from expected',
    'overview: captured_at = last successful run''s last_at, else schedules.last_successful_at');
select set_eq(
    $$select e.connection_id, ((cs_test.summary('A', e.connection_id, true)).freshness ->> 'captured_at')::timestamptz
      from expected as e$$,
    'select connection_id, captured_at from expected',
    'deep: captured_at = last successful run''s last_at, else schedules.last_successful_at');

-- last_attempted_at: the last run's started_at, else the schedule's last_started_at.
select is(((cs_test.summary('A', 'failafter', p)).freshness ->> 'last_attempted_at')::timestamptz,
    cs_test.at(1432), cs_test.path_name(p) || ': last_attempted_at = last run started_at')
from cs_test.paths() as p;
select is(((cs_test.summary('A', 'schedcur', p)).freshness ->> 'last_attempted_at')::timestamptz,
    cs_test.at(1418), cs_test.path_name(p) || ': no run -> last_attempted_at = schedules.last_started_at')
from cs_test.paths() as p;

-- Time-relative: the same evidence read 2 hours later is stale; read at capture time, current.
select is((cs_test.summary('A', 'cur', p, cs_test.at(1430 + 120))).freshness ->> 'status', 'stale',
    cs_test.path_name(p) || ': p_now two hours later -> stale')
from cs_test.paths() as p;
-- The health badge mirrors freshness.
select is(((cs_test.summary('A', 'old', p)).connection_health #>> '{badges,stale}')::boolean, true,
    cs_test.path_name(p) || ': badges.stale follows freshness stale')
from cs_test.paths() as p;

select * from finish();
rollback;
