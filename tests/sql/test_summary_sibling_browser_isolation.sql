-- Scenario "sibling browser connections": two active connections of one
-- browser connector each own the runs stamped with their own profile key
-- (<profile_key>:<instance id>). In the overview AND in the scoped read, neither
-- sees the other's runs, leases, sizes or health, an unclaimed run goes to
-- neither, and a busy sibling never pushes a connection's own older runs out
-- (no fixed window of recent runs, docs/contract.md §Run evidence).
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(26);

select cs_test.add_connector('chase', p_profile_key => 'chase-web',
    p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 86400}}');
select cs_test.add_connection('A', 'chase', 'checking', p_source_kind => 'browser_collector');
select cs_test.add_connection('A', 'chase', 'savings', p_source_kind => 'browser_collector',
    p_created_at => timestamptz '2024-01-02 00:00:00+00');

-- checking: one browser run, succeeded at at(1000), stamped with its own key.
select cs_test.add_event('A', 'chase', 'chk-1', 'run.started', 'started', cs_test.at(999));
select cs_test.add_browser_event('A', 'chase', 'chk-1', 'leased', cs_test.at(999.5),
    p_profile_key => 'chase-web:checking', p_lease_id => 'lease-chk', p_surface_status => 'leased');
select cs_test.add_event('A', 'chase', 'chk-1', 'run.completed', 'succeeded', cs_test.at(1000));
-- savings: 60 later runs, the newest a surface failure.
select cs_test.add_browser_event('A', 'chase', 'sav-' || lpad(i::text, 3, '0'), 'leased', cs_test.at(1000 + i * 5),
    p_profile_key => 'chase-web:savings', p_surface_status => 'leased')
from generate_series(1, 59) as i;
select cs_test.add_event('A', 'chase', 'sav-' || lpad(i::text, 3, '0'), 'run.completed', 'succeeded',
    cs_test.at(1001 + i * 5))
from generate_series(1, 59) as i;
select cs_test.add_browser_event('A', 'chase', 'sav-060', 'surface_failed', cs_test.at(1420),
    p_profile_key => 'chase-web:savings', p_wait_reason => 'profile_in_use_by_sibling_run',
    p_surface_status => 'surface_failed');
-- An unclaimed run (no key, no connection id), newest of all: two active siblings -> neither.
select cs_test.add_run('A', 'chase', 'unclaimed-1', 'failed', cs_test.at(1430), cs_test.at(1431),
    p_data => '{"reason": "token_expired"}');
-- Per-sibling operational rows.
select cs_test.add_surface_lease('A', 'l-sav', 'chase-web:savings', 'surface_failed', cs_test.at(1419),
    'chase', 'sav-060', 'profile_in_use_by_sibling_run');
select cs_test.add_connection_size('A', 'checking', 100, 10, 1);
select cs_test.add_stream_size('A', 'savings', 'transactions', 42);
select cs_test.add_gap('A', 'savings', 'g-sav', 'terminal');

select is((cs_test.summary('A', 'checking', p)).last_run ->> 'run_id', 'chk-1',
    cs_test.path_name(p) || ': checking''s last run is its own, not the newer sibling or unclaimed runs')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'checking', p)).last_successful_run ->> 'run_id', 'chk-1',
    cs_test.path_name(p) || ': checking''s last success survives 60 newer sibling runs')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'checking', p)).last_run #>> '{browser_surface,profile_key}', 'chase-web:checking',
    cs_test.path_name(p) || ': checking''s run carries its key') from cs_test.paths() as p;
select is((cs_test.summary('A', 'savings', p)).last_run ->> 'run_id', 'sav-060',
    cs_test.path_name(p) || ': savings'' last run is its surface failure') from cs_test.paths() as p;
select is((cs_test.summary('A', 'savings', p)).last_successful_run ->> 'run_id', 'sav-059',
    cs_test.path_name(p) || ': savings'' last success') from cs_test.paths() as p;
select is((cs_test.summary('A', 'savings', p)).last_run ->> 'failure_reason', 'profile_in_use_by_sibling_run',
    cs_test.path_name(p) || ': the surface_failed reason is visible') from cs_test.paths() as p;
select is(cs_test.health('A', 'checking', p), 'healthy/ok',
    cs_test.path_name(p) || ': checking is healthy despite the sibling''s failures') from cs_test.paths() as p;
select is((cs_test.summary('A', 'savings', p)).connection_health ->> 'state', 'degraded',
    cs_test.path_name(p) || ': savings is degraded') from cs_test.paths() as p;
select is((cs_test.summary('A', 'checking', p)).coverage, 'complete',
    cs_test.path_name(p) || ': the sibling''s terminal gap is not checking''s') from cs_test.paths() as p;
select is((cs_test.summary('A', 'checking', p)).connection_health #>> '{axes,remote_surface}', 'leased',
    cs_test.path_name(p) || ': checking''s surface is its own run''s, not the sibling''s failed lease')
from cs_test.paths() as p;
select is(
    (select row(s.total_retained_bytes, s.total_records, s.total_records_state)::text
     from cs_test.summary('A', 'checking', p) as s), '(111,,unobserved)',
    cs_test.path_name(p) || ': checking: its own bytes, no records') from cs_test.paths() as p;
select is(
    (select row(s.total_retained_bytes, s.total_records, s.total_records_state)::text
     from cs_test.summary('A', 'savings', p) as s), '(,42,known)',
    cs_test.path_name(p) || ': savings: its own records, no bytes') from cs_test.paths() as p;
-- No run is attributed to both siblings, and the unclaimed run to neither.
select is(
    (select count(*)::int from connection_summary.overview('A', cs_test.now()) as o
     where o.last_run ->> 'run_id' = 'unclaimed-1' or o.last_successful_run ->> 'run_id' = 'unclaimed-1'),
    0, 'overview: the unclaimed run is attributed to no sibling');
select is(
    (select count(*)::int from jsonb_array_elements(
        connection_summary.diagnostics('A', 'checking', cs_test.now()) -> 'recent_runs') as r
     where r ->> 'run_id' <> 'chk-1'), 0, 'diagnostics: checking''s recent runs are only its own');

select * from finish();
rollback;
