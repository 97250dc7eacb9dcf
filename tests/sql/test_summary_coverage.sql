-- docs/contract.md §Coverage: a terminal detail gap or an actionable known gap ->
-- terminal_gap; a pending/in-progress detail gap or a transient known gap ->
-- retryable_gap; no run -> unknown; last terminal run succeeded -> partial when
-- some stream has considered known and coalesce(covered, collected) < considered,
-- else complete; failed/cancelled/abandoned -> partial; otherwise unknown.
-- Known gaps and collection facts come from the newest attributed run with a
-- terminal event. Every check runs on the overview and on the scoped read.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(60);

select cs_test.add_connector('cov');
select cs_test.add_connection('A', 'cov', c)
from unnest(array[
    'detailterminal', 'actionable', 'pending', 'inprogress', 'transient', 'recovered',
    'softgaps', 'terminal_beats_transient', 'actionable_beats_pending', 'gap_without_run',
    'partial_covered', 'complete_covered', 'partial_collected', 'complete_collected',
    'considered_unknown', 'nofacts', 'failed', 'cancelled', 'abandoned', 'norun',
    'terminal_then_running', 'old_gap_superseded', 'surface_only', 'foreign_gap_ignored',
    'sibling_gap_elsewhere', 'partial_one_of_two'
]) as c;
select cs_test.add_connection('B', 'cov', 'b-conn');

-- A succeeded run with the given terminal data, for connection p_c.
create function pg_temp.ok_run(p_c text, p_data jsonb default '{}') returns text language sql as $$
    select cs_test.add_run('A', 'cov', p_c || '-run', 'succeeded', cs_test.at(1400), cs_test.at(1410), p_c, p_data)
$$;

select pg_temp.ok_run('detailterminal');
select cs_test.add_gap('A', 'detailterminal', 'g1', 'terminal', 'messages', 'not_supported');
select pg_temp.ok_run('actionable', '{"known_gaps": [{"stream": "s", "reason": "scope_missing", "severity": "actionable"}]}');
select pg_temp.ok_run('pending');
select cs_test.add_gap('A', 'pending', 'g2', 'pending', 'messages');
select pg_temp.ok_run('inprogress');
select cs_test.add_gap('A', 'inprogress', 'g3', 'in_progress', 'messages');
select pg_temp.ok_run('transient', '{"known_gaps": [{"stream": "s", "reason": "rate_limited", "severity": "transient"}]}');
select pg_temp.ok_run('recovered');
select cs_test.add_gap('A', 'recovered', 'g4', 'recovered', 'messages');
select pg_temp.ok_run('softgaps', '{"known_gaps": [
    {"stream": "s", "reason": "x", "severity": "informational"},
    {"stream": "t", "reason": "y", "severity": "recoverable"}]}');
select pg_temp.ok_run('terminal_beats_transient', '{"known_gaps": [{"stream": "s", "severity": "transient"}]}');
select cs_test.add_gap('A', 'terminal_beats_transient', 'g5', 'terminal');
select pg_temp.ok_run('actionable_beats_pending', '{"known_gaps": [{"stream": "s", "severity": "actionable"}]}');
select cs_test.add_gap('A', 'actionable_beats_pending', 'g6', 'pending');
select cs_test.add_gap('A', 'gap_without_run', 'g7', 'pending');
select pg_temp.ok_run('partial_covered', '{"collection_facts": {"streams": [
    {"stream": "s", "collected": 10, "considered": 10, "covered": 8}]}}');
select pg_temp.ok_run('complete_covered', '{"collection_facts": {"streams": [
    {"stream": "s", "collected": 3, "considered": 10, "covered": 10}]}}');
select pg_temp.ok_run('partial_collected', '{"collection_facts": {"streams": [
    {"stream": "s", "collected": 7, "considered": 10}]}}');
select pg_temp.ok_run('complete_collected', '{"collection_facts": {"streams": [
    {"stream": "s", "collected": 10, "considered": 10}]}}');
select pg_temp.ok_run('considered_unknown', '{"collection_facts": {"streams": [{"stream": "s", "collected": 1}]}}');
select pg_temp.ok_run('partial_one_of_two', '{"collection_facts": {"streams": [
    {"stream": "s", "collected": 10, "considered": 10},
    {"stream": "t", "collected": 4, "considered": 5}]}}');
select pg_temp.ok_run('nofacts');
select cs_test.add_run('A', 'cov', 'failed-run', 'failed', cs_test.at(1400), cs_test.at(1410), 'failed',
    '{"reason": "timeout"}');
select cs_test.add_run('A', 'cov', 'cancelled-run', 'cancelled', cs_test.at(1400), cs_test.at(1410), 'cancelled');
select cs_test.add_run('A', 'cov', 'abandoned-run', 'abandoned', cs_test.at(1400), cs_test.at(1410), 'abandoned');
-- terminal_then_running: the newest terminal run failed; a newer run is still in progress.
select cs_test.add_run('A', 'cov', 'ttr-1', 'failed', cs_test.at(1400), cs_test.at(1410), 'terminal_then_running',
    '{"reason": "timeout"}');
select cs_test.add_run('A', 'cov', 'ttr-2', null, cs_test.at(1420), null, 'terminal_then_running');
select cs_test.add_lease('A', 'ttr-2', cs_test.at(1500), 'terminal_then_running');
-- old_gap_superseded: an old run's actionable gap does not outlive a newer clean run.
select cs_test.add_run('A', 'cov', 'ogs-1', 'succeeded', cs_test.at(1000), cs_test.at(1010), 'old_gap_superseded',
    '{"known_gaps": [{"stream": "s", "severity": "actionable"}]}');
select cs_test.add_run('A', 'cov', 'ogs-2', 'succeeded', cs_test.at(1400), cs_test.at(1410), 'old_gap_superseded');
-- surface_only: a browser-surface-only run (no terminal event).
select cs_test.add_browser_event('A', 'cov', 'so-1', 'surface_failed', cs_test.at(1400),
    p_instance_id => 'surface_only');
-- foreign_gap_ignored: B's gap row naming A's connection id is not A's evidence.
select pg_temp.ok_run('foreign_gap_ignored');
select cs_test.add_gap('B', 'foreign_gap_ignored', 'g8', 'terminal');
-- sibling_gap_elsewhere: a sibling's terminal gap stays with the sibling.
select pg_temp.ok_run('sibling_gap_elsewhere');
select cs_test.add_gap('A', 'detailterminal', 'g9', 'terminal');

create temp table expected (connection_id text, coverage text) on commit drop;
insert into expected values
    ('detailterminal', 'terminal_gap'),
    ('actionable', 'terminal_gap'),
    ('pending', 'retryable_gap'),
    ('inprogress', 'retryable_gap'),
    ('transient', 'retryable_gap'),
    ('recovered', 'complete'),
    ('softgaps', 'complete'),
    ('terminal_beats_transient', 'terminal_gap'),
    ('actionable_beats_pending', 'terminal_gap'),
    ('gap_without_run', 'retryable_gap'),
    ('partial_covered', 'partial'),
    ('complete_covered', 'complete'),
    ('partial_collected', 'partial'),
    ('complete_collected', 'complete'),
    ('considered_unknown', 'complete'),
    ('partial_one_of_two', 'partial'),
    ('nofacts', 'complete'),
    ('failed', 'partial'),
    ('cancelled', 'partial'),
    ('abandoned', 'partial'),
    ('norun', 'unknown'),
    ('terminal_then_running', 'partial'),
    ('old_gap_superseded', 'complete'),
    ('surface_only', 'unknown'),
    ('foreign_gap_ignored', 'complete'),
    ('sibling_gap_elsewhere', 'complete');

-- 26 connections x 2 paths = 52 tests
select is(
    (cs_test.summary('A', e.connection_id, p)).coverage, e.coverage,
    cs_test.path_name(p) || ': ' || e.connection_id || ' -> ' || e.coverage)
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

-- The overview agrees as a whole set (one statement, every row).
select set_eq(
    format('select connection_id, coverage from connection_summary.overview(%L, %L)', 'A', cs_test.now()),
    'select connection_id, coverage from expected',
    'overview: every connection''s coverage in one read');

-- connection_health.axes.coverage mirrors the column.
select is(
    (select count(*)::int from connection_summary.overview('A', cs_test.now()) as o
     where o.connection_health #>> '{axes,coverage}' is distinct from o.coverage),
    0, 'overview: axes.coverage = coverage on every row');

-- Gaps act through health: terminal_gap / retryable_gap / partial degrade a clean, current run.
select cs_test.add_connector('covp', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 86400}}');
select cs_test.add_connection('A', 'covp', c) from unnest(array['h_terminal', 'h_retry', 'h_partial']) as c;
select cs_test.add_run('A', 'covp', 'h1', 'succeeded', cs_test.at(1400), cs_test.at(1410), 'h_terminal');
select cs_test.add_gap('A', 'h_terminal', 'hg1', 'terminal');
select cs_test.add_run('A', 'covp', 'h2', 'succeeded', cs_test.at(1400), cs_test.at(1410), 'h_retry');
select cs_test.add_gap('A', 'h_retry', 'hg2', 'pending');
select cs_test.add_run('A', 'covp', 'h3', 'succeeded', cs_test.at(1400), cs_test.at(1410), 'h_partial',
    '{"collection_facts": {"streams": [{"stream": "s", "collected": 1, "considered": 2}]}}');
select is(cs_test.health('A', 'h_terminal', p), 'degraded/terminal_gap',
    cs_test.path_name(p) || ': terminal gap -> degraded/terminal_gap') from cs_test.paths() as p;
select is(cs_test.health('A', 'h_retry', p), 'degraded/retryable_gap',
    cs_test.path_name(p) || ': retryable gap -> degraded/retryable_gap') from cs_test.paths() as p;
select is(cs_test.health('A', 'h_partial', p), 'degraded/partial_coverage',
    cs_test.path_name(p) || ': partial -> degraded/partial_coverage') from cs_test.paths() as p;

select * from finish();
rollback;
