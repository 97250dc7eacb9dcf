-- Scenario "browser-surface failure reason is visible": a run that only
-- produced browser-surface events and ended surface_failed shows, in the OVERVIEW
-- row (the slim run summary) as in the scoped read, status surface_failed, the
-- wait reason as failure_reason, and its browser_surface object (docs/contract.md §Run evidence).
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(16);

select cs_test.add_connector('bank', p_profile_key => 'bankweb');
select cs_test.add_connection('A', 'bank', 'b1', p_source_kind => 'browser_collector');
select cs_test.add_connection('A', 'bank', 'b2', p_source_kind => 'browser_collector');
select cs_test.add_browser_event('A', 'bank', 'r1', 'waiting_for_browser_surface', cs_test.at(1400),
    p_profile_key => 'bankweb:b1', p_wait_reason => 'profile_in_use_by_sibling_run',
    p_surface_status => 'waiting_for_browser_surface', p_lease_id => 'lease-1');
select cs_test.add_browser_event('A', 'bank', 'r1', 'surface_failed', cs_test.at(1405),
    p_profile_key => 'bankweb:b1', p_wait_reason => 'profile_in_use_by_sibling_run',
    p_surface_status => 'surface_failed', p_lease_id => 'lease-1');
-- b2: surface_failed without a wait reason -> the browser-surface status.
select cs_test.add_browser_event('A', 'bank', 'r2', 'surface_failed', cs_test.at(1405),
    p_profile_key => 'bankweb:b2', p_surface_status => 'browser_crashed', p_lease_id => 'lease-2');

create temp table ov on commit drop as
select * from connection_summary.overview('A', cs_test.now());

select is((select depth from ov where connection_id = 'b1'), 'overview', 'the row is the overview row');
select is((select last_run ->> 'status' from ov where connection_id = 'b1'), 'surface_failed',
    'overview: last_run.status = surface_failed');
select is((select last_run ->> 'failure_reason' from ov where connection_id = 'b1'),
    'profile_in_use_by_sibling_run', 'overview: failure_reason = the wait reason');
select is((select last_run -> 'browser_surface' from ov where connection_id = 'b1'),
    '{"profile_key": "bankweb:b1", "status": "surface_failed",
      "wait_reason": "profile_in_use_by_sibling_run", "lease_id": "lease-1"}'::jsonb,
    'overview: browser_surface of the newest lease event');
select is((select last_run ->> 'failure_reason' from ov where connection_id = 'b2'), 'browser_crashed',
    'overview: no wait reason -> the browser-surface status');
select ok((select (last_run ->> 'finished_at') is not null from ov where connection_id = 'b1'),
    'overview: surface_failed is final: finished_at set');
select is((select connection_health ->> 'state' from ov where connection_id = 'b1'), 'degraded',
    'overview: the surface failure degrades the connection');
select is((select connection_health #>> '{axes,remote_surface}' from ov where connection_id = 'b1'),
    'surface_failed', 'overview: axes.remote_surface = surface_failed');
select is((select last_run ?| array['known_gaps', 'collection_facts'] from ov where connection_id = 'b1'),
    false, 'overview: slim run summary (no deep keys)');
select ok((select last_run ?& array['run_id', 'status', 'started_at', 'last_at', 'finished_at',
    'event_count', 'failure_reason'] from ov where connection_id = 'b1'), 'overview: the run summary keys of §4');
select is((select (last_run ->> 'event_count')::int from ov where connection_id = 'b1'), 2,
    'overview: event_count');
-- The scoped read says the same.
select is((cs_test.summary('A', 'b1', true)).last_run - 'known_gaps' - 'collection_facts',
    (select last_run from ov where connection_id = 'b1'), 'deep: the same run summary plus deep keys');
select is((cs_test.summary('A', 'b2', true)).last_run ->> 'failure_reason', 'browser_crashed',
    'deep: b2 failure_reason');
-- The sibling's surface failure is not b2's and vice versa.
select is((select last_run ->> 'run_id' from ov where connection_id = 'b2'), 'r2', 'b2 has its own run');
select is((select last_run ->> 'run_id' from ov where connection_id = 'b1'), 'r1', 'b1 has its own run');
select is((select count(*)::int from ov), 2, 'two rows');

select * from finish();
rollback;
