-- docs/contract.md §Run evidence, failure_reason, scenario "browser-surface failure reason is
-- visible": a surface_failed run without a run.failed reason shows the
-- browser-surface wait reason, else the browser-surface status of
-- data.browser_surface (never the event's status column), else
-- 'browser_surface_failed'; a run.failed reason (or any earlier failed/rejected
-- event's reason) is kept. One sibling per scenario, each with its own key.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(20);

select cs_test.add_connector('shop', p_profile_key => 'shopkey');
select cs_test.add_connection('A', 'shop', 'wait');
select cs_test.add_connection('A', 'shop', 'surfstatus');
select cs_test.add_connection('A', 'shop', 'leasestatus');
select cs_test.add_connection('A', 'shop', 'bare');
select cs_test.add_connection('A', 'shop', 'runfailed');
select cs_test.add_connection('A', 'shop', 'failedafter');
select cs_test.add_connection('A', 'shop', 'rejected');
select cs_test.add_connection('A', 'shop', 'waiting');

-- Wait reason present: it wins over the surface status.
select cs_test.add_browser_event('A', 'shop', 'r-wait', 'surface_failed', cs_test.at(10),
    p_profile_key => 'shopkey:wait', p_wait_reason => 'no_display', p_surface_status => 'crashed');
-- No wait reason: the browser-surface status of data.browser_surface.
select cs_test.add_browser_event('A', 'shop', 'r-surfstatus', 'surface_failed', cs_test.at(10),
    p_profile_key => 'shopkey:surfstatus', p_surface_status => 'surface_crashed');
-- Neither: the fixed fallback. The lease event's own status column is never
-- taken for the browser-surface status (it is the run's newest status).
select cs_test.add_browser_event('A', 'shop', 'r-leasestatus', 'surface_failed', cs_test.at(10),
    p_profile_key => 'shopkey:leasestatus');
-- No browser-surface evidence at all (the status comes from a plain event): the fixed fallback.
select cs_test.add_event('A', 'shop', 'r-bare', 'run.progress_reported', 'surface_failed', cs_test.at(10),
    p_instance_id => 'bare');
-- A run.failed event reporting surface_failed with its own reason: the reason is kept.
select cs_test.add_browser_event('A', 'shop', 'r-runfailed', 'waiting_for_browser_surface', cs_test.at(10),
    p_profile_key => 'shopkey:runfailed', p_wait_reason => 'queue');
select cs_test.add_event('A', 'shop', 'r-runfailed', 'run.failed', 'surface_failed', cs_test.at(11),
    p_data => '{"reason": "browser_crashed"}');
-- surface_failed lease, then run.failed (failed) with a reason: status failed, that reason.
select cs_test.add_browser_event('A', 'shop', 'r-failedafter', 'surface_failed', cs_test.at(10),
    p_profile_key => 'shopkey:failedafter', p_wait_reason => 'queue');
select cs_test.add_event('A', 'shop', 'r-failedafter', 'run.failed', 'failed', cs_test.at(11),
    p_data => '{"reason": "login_wall"}');
-- An earlier rejected event with a reason, then a surface_failed lease: the reason is kept.
select cs_test.add_event('A', 'shop', 'r-rejected', 'run.progress_reported', 'rejected', cs_test.at(9),
    p_data => '{"reason": "captcha"}');
select cs_test.add_browser_event('A', 'shop', 'r-rejected', 'surface_failed', cs_test.at(10),
    p_profile_key => 'shopkey:rejected', p_wait_reason => 'no_display');
-- Still waiting: no failure reason and no finished_at.
select cs_test.add_browser_event('A', 'shop', 'r-waiting', 'waiting_for_browser_surface', cs_test.at(10),
    p_profile_key => 'shopkey:waiting', p_wait_reason => 'queue');

select is(cs_test.run_of('A', 'wait', 'last_run', p) ->> 'failure_reason', 'no_display',
    cs_test.path_name(p) || ': surface_failed -> the wait reason')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'surfstatus', 'last_run', p) ->> 'failure_reason', 'surface_crashed',
    cs_test.path_name(p) || ': no wait reason -> the browser-surface status')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'leasestatus', 'last_run', p) ->> 'failure_reason', 'browser_surface_failed',
    cs_test.path_name(p) || ': no surface status in data -> browser_surface_failed, not the event''s status')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'bare', 'last_run', p) ->> 'failure_reason', 'browser_surface_failed',
    cs_test.path_name(p) || ': no browser-surface evidence -> browser_surface_failed')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'runfailed', 'last_run', p) ->> 'status', 'surface_failed',
    cs_test.path_name(p) || ': run.failed with status surface_failed -> status surface_failed')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'runfailed', 'last_run', p) ->> 'failure_reason', 'browser_crashed',
    cs_test.path_name(p) || ': a surface_failed run keeps its run.failed reason')
from cs_test.paths() as p;
select is(
    array[cs_test.run_of('A', 'failedafter', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'failedafter', 'last_run', p) ->> 'failure_reason'],
    array['failed', 'login_wall'],
    cs_test.path_name(p) || ': a run.failed after a surface_failed lease -> failed with its reason')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'rejected', 'last_run', p) ->> 'failure_reason', 'captcha',
    cs_test.path_name(p) || ': an earlier rejected event''s reason beats the surface fallback')
from cs_test.paths() as p;
select is(
    array[cs_test.run_of('A', 'waiting', 'last_run', p) ->> 'status',
          cs_test.run_of('A', 'waiting', 'last_run', p) ->> 'failure_reason',
          cs_test.run_of('A', 'waiting', 'last_run', p) ->> 'finished_at'],
    array['waiting_for_browser_surface', null, null],
    cs_test.path_name(p) || ': a waiting run has no failure reason and no finished_at')
from cs_test.paths() as p;

select is_empty('select * from cs_test.path_disagreements(''A'')',
    'overview and deep paths agree for every connection');
select is_empty('select * from cs_test.run_evidence_diff() union all select * from cs_test.run_heads_diff()',
    'the stored read model equals the live fold');

select * from finish();
rollback;
