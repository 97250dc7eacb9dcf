-- docs/contract.md §Run evidence, status: a run that said run.started and has no terminal event is
-- in_progress while active_runs holds it with lease_expires_at > p_now
-- (finished_at NULL, no failure reason); with an expired lease, or none, it is
-- failed with failure_reason orphaned_started_run. Decided at read time (p_now).
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(20);

select cs_test.add_connector('sync');
select cs_test.add_connection('A', 'sync', 'live');
select cs_test.add_connection('A', 'sync', 'expired');
select cs_test.add_connection('A', 'sync', 'nolease');
select cs_test.add_connection('A', 'sync', 'done');
select cs_test.add_connection('A', 'sync', 'foreign');

-- Each connection: an older succeeded run, then a started run without a terminal event.
select cs_test.add_run('A', 'sync', 'old-' || c, 'succeeded', cs_test.at(10), p_instance_id => c)
from unnest(array['live', 'expired', 'nolease', 'foreign']) as c;
select cs_test.add_run('A', 'sync', 'run-' || c, null, cs_test.at(20), p_instance_id => c)
from unnest(array['live', 'expired', 'nolease', 'foreign']) as c;
-- A progress event with its own status does not settle a started run.
select cs_test.add_event('A', 'sync', 'run-live', 'run.progress_reported', 'running', cs_test.at(25), 'live');
select cs_test.add_event('A', 'sync', 'run-nolease', 'run.progress_reported', 'running', cs_test.at(25), 'nolease');
-- A finished run still holding a live lease.
select cs_test.add_run('A', 'sync', 'run-done', 'succeeded', cs_test.at(20), cs_test.at(30), p_instance_id => 'done');

select cs_test.add_lease('A', 'run-live', cs_test.now() + interval '1 hour', 'live');
select cs_test.add_lease('A', 'run-expired', cs_test.now() - interval '1 minute', 'expired');
select cs_test.add_lease('A', 'run-done', cs_test.now() + interval '1 hour', 'done');
-- Another owner's lease on a run id equal to A's run: not A's lease.
select cs_test.add_lease('B', 'run-foreign', cs_test.now() + interval '1 hour');

select is(
    array[cs_test.run_of('A', 'live', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'live', 'last_run', p) ->> 'finished_at',
          cs_test.run_of('A', 'live', 'last_run', p) ->> 'failure_reason'],
    array['in_progress', null, null],
    cs_test.path_name(p) || ': live lease -> in_progress, no finished_at, no failure reason')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'live', p), array['run-live', 'old-live', 'old-live'],
    cs_test.path_name(p) || ': the in-progress run is the last run but not the last success or terminal run')
from cs_test.paths() as p;
select is(
    array[cs_test.run_of('A', 'expired', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'expired', 'last_run', p) ->> 'failure_reason',
          cs_test.run_of('A', 'expired', 'last_run', p) ->> 'finished_at'],
    array['failed', 'orphaned_started_run', to_jsonb(cs_test.at(20)) ->> 0],
    cs_test.path_name(p) || ': expired lease -> failed, orphaned_started_run, finished at last_at')
from cs_test.paths() as p;
select is(
    array[cs_test.run_of('A', 'nolease', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'nolease', 'last_run', p) ->> 'failure_reason'],
    array['failed', 'orphaned_started_run'],
    cs_test.path_name(p) || ': no lease -> failed, orphaned_started_run')
from cs_test.paths() as p;
select is(
    array[cs_test.run_of('A', 'foreign', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'foreign', 'last_run', p) ->> 'failure_reason'],
    array['failed', 'orphaned_started_run'],
    cs_test.path_name(p) || ': another owner''s lease on the same run id does not keep A''s run alive')
from cs_test.paths() as p;
select is(
    array[cs_test.run_of('A', 'done', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'done', 'last_run', p) ->> 'finished_at'],
    array['succeeded', to_jsonb(cs_test.at(30)) ->> 0],
    cs_test.path_name(p) || ': a terminal event beats a live lease')
from cs_test.paths() as p;

-- Read time decides: the live lease expires at now + 1h.
select is(cs_test.run_of('A', 'live', 'last_run', p, cs_test.now() + interval '59 minutes') ->> 'status', 'in_progress',
    cs_test.path_name(p) || ': in_progress just before the lease expires')
from cs_test.paths() as p;
select is(
    array[cs_test.run_of('A', 'live', 'last_run', p, cs_test.now() + interval '1 hour') ->> 'status',
          cs_test.run_of('A', 'live', 'last_run', p, cs_test.now() + interval '1 hour') ->> 'failure_reason'],
    array['failed', 'orphaned_started_run'],
    cs_test.path_name(p) || ': orphaned once p_now reaches lease_expires_at')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'expired', 'last_run', p, cs_test.now() - interval '2 minutes') ->> 'status', 'in_progress',
    cs_test.path_name(p) || ': the expired lease was live at an earlier p_now')
from cs_test.paths() as p;

select is_empty('select * from cs_test.path_disagreements(''A'')',
    'overview and deep paths agree for every connection');
select is_empty(format('select * from cs_test.path_disagreements(''A'', %L)', cs_test.now() + interval '2 hours'),
    'overview and deep paths agree at a later p_now');

select * from finish();
rollback;
