-- docs/contract.md §Read functions diagnostics: jsonb = the deep summary row (its keys equal to
-- for_route's row) plus recent_runs (the connection's attributed runs, newest first
-- by (last_at, run_id), at most p_run_limit, deep run summaries) and the events of
-- the latest run (last_run) in occurrence order. NULL for a route that resolves to
-- nothing. p_run_limit outside 1..1000 -> 22023.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(22);

select cs_test.add_connector('web', p_profile_key => 'webkey');
select cs_test.add_connection('A', 'web', 'w1');
select cs_test.add_connection('A', 'web', 'w2', p_created_at => timestamptz '2024-01-02 00:00:00+00');
-- w1's runs through both of its claims: its connection id and its profile key.
select cs_test.add_run('A', 'web', 'r-' || lpad(i::text, 2, '0'), 'succeeded', cs_test.at(i * 10),
    cs_test.at(i * 10 + 1), 'w1')
from generate_series(1, 25) as i;
select cs_test.add_browser_event('A', 'web', 'rk-1', 'surface_failed', cs_test.at(255),
    p_profile_key => 'webkey:w1', p_wait_reason => 'queue');
-- Two runs ending at the same instant: run_id breaks the tie (descending).
select cs_test.add_run('A', 'web', 'tie-a', 'failed', cs_test.at(300), cs_test.at(301), 'w1', '{"reason": "x"}');
select cs_test.add_run('A', 'web', 'tie-b', 'failed', cs_test.at(300), cs_test.at(301), 'w1', '{"reason": "x"}');
-- The latest run of w1, with events inserted out of occurrence order.
select cs_test.add_event('A', 'web', 'last', 'run.completed', 'succeeded', cs_test.at(403), 'w1',
    '{"known_gaps": [{"stream": "s", "severity": "informational"}]}');
select cs_test.add_event('A', 'web', 'last', 'run.started', 'started', cs_test.at(400), 'w1');
select cs_test.add_event('A', 'web', 'last', 'run.progress_reported', 'progress', cs_test.at(401), 'w1');
select cs_test.add_event('A', 'web', 'last', 'run.progress_reported', 'progress', cs_test.at(401), 'w1',
    '{"n": 2}');
-- Same run id elsewhere: the sibling's, and another owner's. Not w1's events.
select cs_test.add_run('B', 'web', 'last', 'failed', cs_test.at(500), cs_test.at(501), null, '{"reason": "b"}');
select cs_test.add_run('A', 'web', 'w2-run', 'succeeded', cs_test.at(600), cs_test.at(601), 'w2');

create temp table d on commit drop as
select connection_summary.diagnostics('A', 'w1', cs_test.now(), 5) as j;
create temp table d_all on commit drop as
select connection_summary.diagnostics('A', 'w1', cs_test.now(), 1000) as j;

select is(connection_summary.diagnostics('A', 'nope', cs_test.now()), null, 'unknown route -> NULL');
select is(connection_summary.diagnostics('B', 'w1', cs_test.now()), null, 'another owner''s connection -> NULL');
select is(connection_summary.diagnostics('A', 'web', cs_test.now()), null, 'ambiguous connector id -> NULL');

select is((select j - 'recent_runs' - 'latest_run_events' from d),
    connection_summary.for_route_json('A', 'w1', cs_test.now()),
    'the summary part equals for_route''s row');
select is((select j ->> 'depth' from d), 'deep', 'depth deep');

select is((select jsonb_array_length(j -> 'recent_runs') from d), 5, 'recent_runs limited by p_run_limit');
select is(
    (select array_agg(r ->> 'run_id' order by o) from d, jsonb_array_elements(j -> 'recent_runs') with ordinality as x (r, o)),
    array['last', 'tie-b', 'tie-a', 'rk-1', 'r-25'],
    'recent_runs newest first by (last_at, run_id), across the connection''s claims');
select is((select jsonb_array_length(j -> 'recent_runs') from d_all), 29, 'all 29 of w1''s runs, none of w2''s or B''s');
select is(
    (select count(*)::int from d_all, jsonb_array_elements(j -> 'recent_runs') as r where r ->> 'run_id' = 'w2-run'),
    0, 'no sibling run in recent_runs');
select ok(
    (select bool_and((a.r ->> 'last_at')::timestamptz >= (b.r ->> 'last_at')::timestamptz)
     from d_all, jsonb_array_elements(j -> 'recent_runs') with ordinality as a (r, o)
     join jsonb_array_elements(j -> 'recent_runs') with ordinality as b (r, o) on b.o = a.o + 1),
    'recent_runs last_at never increases');
select is((select jsonb_array_length(connection_summary.diagnostics('A', 'w1', cs_test.now()) -> 'recent_runs')), 20,
    'p_run_limit defaults to 20');
select ok((select bool_and(r ?& array['run_id', 'status', 'started_at', 'last_at', 'finished_at', 'event_count',
    'failure_reason', 'known_gaps', 'collection_facts']) from d, jsonb_array_elements(j -> 'recent_runs') as r),
    'recent_runs entries are deep run summaries');
select is((select j #> '{recent_runs,0}' from d), (select j -> 'last_run' from d),
    'the first recent run is last_run');
select is((select j #>> '{recent_runs,3,failure_reason}' from d), 'queue',
    'a surface_failed run in recent_runs shows its wait reason');

select is(
    (select array_agg(e ->> 'event_type' order by o) from d, jsonb_array_elements(j -> 'latest_run_events') with ordinality as x (e, o)),
    array['run.started', 'run.progress_reported', 'run.progress_reported', 'run.completed'],
    'latest_run_events: the last run''s events in occurrence order');
select is(
    (select array_agg(e -> 'data' order by o) from d, jsonb_array_elements(j -> 'latest_run_events') with ordinality as x (e, o)
     where e ->> 'event_type' = 'run.progress_reported'),
    array['{}'::jsonb, '{"n": 2}'::jsonb], 'equal occurred_at: event_seq order');
select ok(
    (select bool_and((e ->> 'event_seq') is not null and (e ->> 'occurred_at') is not null)
     from d, jsonb_array_elements(j -> 'latest_run_events') as e),
    'each event has event_seq and occurred_at');
select is(
    (select count(*)::int from d, jsonb_array_elements(j -> 'latest_run_events') as e where e ->> 'status' = 'failed'),
    0, 'B''s run with the same run id contributes no event');
-- A connection without runs: empty arrays, not NULL.
select cs_test.add_connection('A', 'web', 'w3', p_created_at => timestamptz '2024-01-03 00:00:00+00');
select is((connection_summary.diagnostics('A', 'w3', cs_test.now()) -> 'recent_runs'), '[]'::jsonb,
    'no runs: recent_runs []');
select is((connection_summary.diagnostics('A', 'w3', cs_test.now()) -> 'latest_run_events'), '[]'::jsonb,
    'no runs: latest_run_events []');

select throws_ok(format('select connection_summary.diagnostics(%L, %L, %L, %s)', 'A', 'w1', cs_test.now(), n),
    '22023', null, 'p_run_limit ' || n || ' -> 22023')
from unnest(array[0, 1001]) as n;

select * from finish();
rollback;
