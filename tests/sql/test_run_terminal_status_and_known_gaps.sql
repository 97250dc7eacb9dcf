-- docs/contract.md §Run evidence: the status is the newest terminal event's status (run.completed,
-- run.failed, run.cancelled, run.abandoned); finished_at = last_at once
-- terminal; known_gaps and collection_facts come from the newest terminal event
-- and only deep summaries carry them (last_terminal_run is always deep);
-- unknown event types and statuses are carried, never rejected.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(30);

select cs_test.add_connector('crm');
select cs_test.add_connection('A', 'crm', 'x');

-- Terminal statuses, one run each, older to newer.
select cs_test.add_run('A', 'crm', 't-succeeded', 'succeeded', cs_test.at(10), p_instance_id => 'x');
select cs_test.add_run('A', 'crm', 't-cancelled', 'cancelled', cs_test.at(20), p_instance_id => 'x');
select cs_test.add_run('A', 'crm', 't-abandoned', 'abandoned', cs_test.at(30), p_instance_id => 'x');

select is(cs_test.run_of('A', 'x', 'last_run', p) ->> 'status', 'abandoned',
    cs_test.path_name(p) || ': run.abandoned -> abandoned')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'x', 'last_successful_run', p) ->> 'run_id', 't-succeeded',
    cs_test.path_name(p) || ': cancelled and abandoned runs are not successes')
from cs_test.paths() as p;

-- A run that failed, was retried inside the run and completed: the newest
-- terminal event decides, and its gaps and facts are the run's.
select cs_test.add_event('A', 'crm', 'retried', 'run.started', 'started', cs_test.at(40), 'x');
select cs_test.add_event('A', 'crm', 'retried', 'run.failed', 'failed', cs_test.at(41), 'x',
    '{"reason": "rate_limited", "known_gaps": [{"stream": "deals", "reason": "rate_limited", "severity": "transient"}]}');
select cs_test.add_event('A', 'crm', 'retried', 'run.completed', 'succeeded', cs_test.at(42), 'x',
    '{"known_gaps": [{"stream": "notes", "reason": "too_old", "severity": "informational"}],
      "collection_facts": {"streams": [{"stream": "deals", "collected": 5, "considered": 7, "covered": 6}]}}');
-- A non-terminal event after the terminal one moves last_at but not the status.
select cs_test.add_event('A', 'crm', 'retried', 'run.progress_reported', 'uploading', cs_test.at(43), 'x');

select is(cs_test.head_ids('A', 'x', p), array['retried', 'retried', 'retried'],
    cs_test.path_name(p) || ': the newest terminal event (completed) makes the run a success')
from cs_test.paths() as p;
select is(
    array[cs_test.run_of('A', 'x', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'x', 'last_run', p) ->> 'event_count',
          cs_test.run_of('A', 'x', 'last_run', p) ->> 'started_at',
          cs_test.run_of('A', 'x', 'last_run', p) ->> 'last_at',
          cs_test.run_of('A', 'x', 'last_run', p) ->> 'finished_at'],
    array['succeeded', '4', to_jsonb(cs_test.at(40)) ->> 0, to_jsonb(cs_test.at(43)) ->> 0,
          to_jsonb(cs_test.at(43)) ->> 0],
    cs_test.path_name(p) || ': a later progress event keeps the status; finished_at = last_at')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'x', 'last_run', p) ->> 'failure_reason', 'rate_limited',
    cs_test.path_name(p) || ': failure_reason is the earliest failed event''s reason, even when the run later succeeded')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'x', 'last_run', true) -> 'known_gaps',
    '[{"stream": "notes", "reason": "too_old", "severity": "informational"}]'::jsonb,
    'deep: known_gaps of the newest terminal event only');
select is(cs_test.run_of('A', 'x', 'last_run', true) -> 'collection_facts',
    '{"streams": [{"stream": "deals", "collected": 5, "considered": 7, "covered": 6}]}'::jsonb,
    'deep: collection_facts of the newest terminal event');
select ok(not (cs_test.run_of('A', 'x', 'last_run', false) ?| array['known_gaps', 'collection_facts']),
    'overview: last_run carries no deep keys');
select ok(not (cs_test.run_of('A', 'x', 'last_successful_run', false) ?| array['known_gaps', 'collection_facts']),
    'overview: last_successful_run carries no deep keys');
select is(cs_test.run_of('A', 'x', 'last_terminal_run', p) -> 'known_gaps',
    '[{"stream": "notes", "reason": "too_old", "severity": "informational"}]'::jsonb,
    cs_test.path_name(p) || ': last_terminal_run always carries the terminal known_gaps')
from cs_test.paths() as p;

-- Without known_gaps: an empty array in deep summaries, and NULL facts.
select cs_test.add_run('A', 'crm', 'plain', 'succeeded', cs_test.at(50), p_instance_id => 'x');
select is(
    (cs_test.run_of('A', 'x', 'last_run', true) -> 'known_gaps'), '[]'::jsonb,
    'deep: known_gaps defaults to []');
select is(
    (cs_test.run_of('A', 'x', 'last_run', true) -> 'collection_facts'), 'null'::jsonb,
    'deep: collection_facts is null when the terminal event has none');

-- A newer run that is not terminal: last_run moves, last_terminal_run does not.
select cs_test.add_run('A', 'crm', 'running', null, cs_test.at(60), p_instance_id => 'x');
select cs_test.add_lease('A', 'running', cs_test.now() + interval '1 hour');
select is(cs_test.head_ids('A', 'x', p), array['running', 'plain', 'plain'],
    cs_test.path_name(p) || ': an in-progress run is the last run, not the last terminal run')
from cs_test.paths() as p;

-- Terminal events without a status column: the event type gives the status.
select cs_test.add_event('A', 'crm', 'typed-completed', 'run.completed', null, cs_test.at(70), 'x');
select is(cs_test.head_ids('A', 'x', p), array['typed-completed', 'typed-completed', 'typed-completed'],
    cs_test.path_name(p) || ': run.completed without a status is a success')
from cs_test.paths() as p;
select cs_test.add_event('A', 'crm', 'typed-failed', 'run.failed', null, cs_test.at(80), 'x', '{"reason": "disk_full"}');
select is(
    array[cs_test.run_of('A', 'x', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'x', 'last_run', p) ->> 'failure_reason'],
    array['failed', 'disk_full'],
    cs_test.path_name(p) || ': run.failed without a status is failed, with its reason')
from cs_test.paths() as p;

-- Unknown vocabulary is carried: a run of unknown events reads its newest status.
select cs_test.add_event('A', 'crm', 'unknown', 'connector.heartbeat', 'warming_up', cs_test.at(90), 'x');
select cs_test.add_event('A', 'crm', 'unknown', 'connector.heartbeat', null, cs_test.at(91), 'x');
select is(
    array[cs_test.run_of('A', 'x', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'x', 'last_run', p) ->> 'finished_at',
          cs_test.run_of('A', 'x', 'last_run', p) ->> 'failure_reason'],
    array['warming_up', null, null],
    cs_test.path_name(p) || ': unknown events -> the newest non-null status, not finished')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'x', 'last_terminal_run', p) ->> 'run_id', 'typed-failed',
    cs_test.path_name(p) || ': unknown events are not terminal')
from cs_test.paths() as p;

select is_empty('select * from cs_test.path_disagreements(''A'')',
    'overview and deep paths agree for every connection');
select is_empty('select * from cs_test.run_evidence_diff() union all select * from cs_test.run_heads_diff()',
    'the stored read model equals the live fold');

select * from finish();
rollback;
