-- docs/contract.md §Read functions, §Run evidence, §Scope and paging depth: the overview row has depth 'overview' and slim run
-- summaries; the scoped read has depth 'deep' and its last_run / last_successful_run
-- add known_gaps and collection_facts from the run's newest terminal event. Apart
-- from depth and those keys the two rows are equal (the same row builder).
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(14);

select cs_test.add_connector('mail', p_manifest =>
    '{"streams": [{"name": "messages"}], "refresh_policy": {"maximum_staleness_seconds": 86400}}');
select cs_test.add_connection('A', 'mail', 'm1');
select cs_test.add_run('A', 'mail', 'ok-1', 'succeeded', cs_test.at(1300), cs_test.at(1301), 'm1',
    '{"known_gaps": [{"stream": "messages", "reason": "old_folder", "severity": "informational"}],
      "collection_facts": {"streams": [{"stream": "messages", "collected": 9, "considered": 9}]}}');
select cs_test.add_run('A', 'mail', 'fail-2', 'failed', cs_test.at(1400), cs_test.at(1401), 'm1',
    '{"reason": "server_error",
      "known_gaps": [{"stream": "messages", "reason": "server_error", "severity": "recoverable"}],
      "collection_facts": {"streams": [{"stream": "messages", "collected": 2, "considered": 9}]}}');
select cs_test.add_stream_size('A', 'm1', 'messages', 9);
select cs_test.add_connection_size('A', 'm1', 10, 20, 30);
select cs_test.add_schedule('A', 'm1', p_next_due_at => cs_test.at(1500));

create temp table o on commit drop as select * from cs_test.summary('A', 'm1', false);
create temp table d on commit drop as select * from cs_test.summary('A', 'm1', true);

select is((select depth from o), 'overview', 'overview depth');
select is((select depth from d), 'deep', 'scoped read depth');
select is((select last_run ?| array['known_gaps', 'collection_facts'] from o), false,
    'overview last_run has no deep keys');
select is((select last_successful_run ?| array['known_gaps', 'collection_facts'] from o), false,
    'overview last_successful_run has no deep keys');
select is((select last_run -> 'known_gaps' from d),
    '[{"stream": "messages", "reason": "server_error", "severity": "recoverable"}]'::jsonb,
    'deep last_run.known_gaps = its terminal event''s');
select is((select last_run -> 'collection_facts' from d),
    '{"streams": [{"stream": "messages", "collected": 2, "considered": 9}]}'::jsonb,
    'deep last_run.collection_facts = its terminal event''s');
select is((select last_successful_run -> 'known_gaps' from d),
    '[{"stream": "messages", "reason": "old_folder", "severity": "informational"}]'::jsonb,
    'deep last_successful_run.known_gaps = its own terminal event''s');
select is((select last_successful_run -> 'collection_facts' from d),
    '{"streams": [{"stream": "messages", "collected": 9, "considered": 9}]}'::jsonb,
    'deep last_successful_run.collection_facts');
select is((select last_run - 'known_gaps' - 'collection_facts' from d), (select last_run from o),
    'last_run differs only by the deep keys');
select is((select last_successful_run - 'known_gaps' - 'collection_facts' from d),
    (select last_successful_run from o), 'last_successful_run differs only by the deep keys');
select is(
    (select to_jsonb(d) - 'depth' - 'last_run' - 'last_successful_run' from d),
    (select to_jsonb(o) - 'depth' - 'last_run' - 'last_successful_run' from o),
    'every other column is equal');
select is(connection_summary.for_route_json('A', 'm1', cs_test.now()), (select to_jsonb(d) from d),
    'for_route_json = to_jsonb(for_route row)');
select is(connection_summary.overview_json('A', cs_test.now()) -> 0, (select to_jsonb(o) from o),
    'overview_json element = to_jsonb(overview row)');
-- A run without a terminal event is still a deep summary: it carries both keys.
select cs_test.add_run('A', 'mail', 'run-3', null, cs_test.at(1430), null, 'm1');
select cs_test.add_lease('A', 'run-3', cs_test.at(1500), 'm1');
select ok((cs_test.summary('A', 'm1', true)).last_run ?& array['known_gaps', 'collection_facts'],
    'deep: an unfinished run''s summary has the deep keys');

select * from finish();
rollback;
