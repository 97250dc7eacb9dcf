-- docs/contract.md §Health, fifth rung: degraded when the last run failed (failed,
-- abandoned, surface_failed), coverage is partial or a gap, freshness is stale, or
-- the connection's newest non-terminal browser lease (found by its expected
-- profile key) is surface_failed. Leases of siblings and of other owners do not count.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(40);

select cs_test.add_connector('hp', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 86400}}',
    p_profile_key => 'hpweb');
select cs_test.add_connection('A', 'hp', c)
from unnest(array['failed', 'abandoned', 'surface_failed_run', 'cancelled', 'stale', 'lease_failed',
    'lease_superseded', 'lease_after_released', 'beside_failed_sibling', 'foreign_lease', 'hp', 'sibling_with_failed_lease']) as c;

-- A clean, current run for everyone (legacy 'hp' included); the cases add to it.
select cs_test.add_run('A', 'hp', c || '-0', 'succeeded', cs_test.at(1300), cs_test.at(1301), c)
from unnest(array['failed', 'abandoned', 'surface_failed_run', 'cancelled', 'lease_failed',
    'lease_superseded', 'lease_after_released', 'beside_failed_sibling', 'foreign_lease', 'hp', 'sibling_with_failed_lease']) as c;
select cs_test.add_run('A', 'hp', 'failed-1', 'failed', cs_test.at(1400), cs_test.at(1401), 'failed',
    '{"reason": "server_error"}');
select cs_test.add_run('A', 'hp', 'abandoned-1', 'abandoned', cs_test.at(1400), cs_test.at(1401), 'abandoned');
select cs_test.add_run('A', 'hp', 'cancelled-1', 'cancelled', cs_test.at(1400), cs_test.at(1401), 'cancelled');
-- A browser-only run under the connection's own profile key that failed to get a surface.
select cs_test.add_browser_event('A', 'hp', 'sfr-1', 'surface_failed', cs_test.at(1400),
    p_profile_key => 'hpweb:surface_failed_run', p_wait_reason => 'profile_locked');
-- stale: the only success is two days old.
select cs_test.add_run('A', 'hp', 'stale-1', 'succeeded', cs_test.at(-1500), cs_test.at(-1499), 'stale');

select cs_test.add_surface_lease('A', 'l1', 'hpweb:lease_failed', 'surface_failed', cs_test.at(1400));
select cs_test.add_surface_lease('A', 'l2', 'hpweb:lease_superseded', 'surface_failed', cs_test.at(1400));
select cs_test.add_surface_lease('A', 'l3', 'hpweb:lease_superseded', 'leased', cs_test.at(1410));
select cs_test.add_surface_lease('A', 'l4', 'hpweb:lease_after_released', 'surface_failed', cs_test.at(1400));
select cs_test.add_surface_lease('A', 'l5', 'hpweb:lease_after_released', 'released', cs_test.at(1410));
-- A sibling's key, and A's key under owner B: neither is this connection's lease.
select cs_test.add_surface_lease('A', 'l6', 'hpweb:sibling_with_failed_lease', 'surface_failed', cs_test.at(1400));
select cs_test.add_surface_lease('B', 'l7', 'hpweb:foreign_lease', 'surface_failed', cs_test.at(1400));
-- The legacy default connection (instance id = connector id) has the bare base key.
select cs_test.add_surface_lease('A', 'l8', 'hpweb', 'surface_failed', cs_test.at(1400));

create temp table expected (connection_id text, health text) on commit drop;
insert into expected values
    ('failed', 'degraded/last_run_failed'),
    ('abandoned', 'degraded/last_run_failed'),
    ('surface_failed_run', 'degraded/last_run_failed'),
    ('cancelled', 'degraded/partial_coverage'),
    ('stale', 'degraded/stale'),
    ('lease_failed', 'degraded/browser_surface_failed'),
    ('lease_superseded', 'healthy/ok'),
    ('lease_after_released', 'degraded/browser_surface_failed'),
    ('beside_failed_sibling', 'healthy/ok'),
    ('foreign_lease', 'healthy/ok'),
    ('hp', 'degraded/browser_surface_failed'),
    ('sibling_with_failed_lease', 'degraded/browser_surface_failed');

-- 12 x 2 = 24 ('sibling_with_failed_lease' is the sibling whose key l6 names)
select is(cs_test.health('A', e.connection_id, p), e.health,
    cs_test.path_name(p) || ': ' || e.connection_id || ' -> ' || e.health)
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

-- The degraded pill is amber on the advisory channel.
select is((cs_test.summary('A', 'failed', p)).rendered_verdict -> 'pill',
    '{"tone": "amber", "label": "Degraded"}'::jsonb, cs_test.path_name(p) || ': degraded -> amber')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'lease_failed', p)).rendered_verdict ->> 'channel', 'advisory',
    cs_test.path_name(p) || ': degraded -> advisory') from cs_test.paths() as p;
-- The lease shows on the remote_surface axis; a superseded one does not.
select is((cs_test.summary('A', 'lease_failed', p)).connection_health #>> '{axes,remote_surface}',
    'surface_failed', cs_test.path_name(p) || ': remote_surface = lease status') from cs_test.paths() as p;
select is((cs_test.summary('A', 'lease_superseded', p)).connection_health #>> '{axes,remote_surface}',
    'leased', cs_test.path_name(p) || ': remote_surface = the newest lease') from cs_test.paths() as p;
select is((cs_test.summary('A', 'beside_failed_sibling', p)).connection_health #>> '{axes,remote_surface}',
    'none', cs_test.path_name(p) || ': no lease and no browser run -> none') from cs_test.paths() as p;
-- The surface_failed run's reason is the wait reason (docs/contract.md §Run evidence), visible in both reads.
select is((cs_test.summary('A', 'surface_failed_run', p)).last_run ->> 'failure_reason', 'profile_locked',
    cs_test.path_name(p) || ': surface_failed run -> failure_reason = wait reason') from cs_test.paths() as p;
-- Stale acts through the state (amber) even though the freshness tone is green.
select is((cs_test.summary('A', 'stale', p)).rendered_verdict #>> '{pill,tone}', 'amber',
    cs_test.path_name(p) || ': stale -> amber through the degraded state') from cs_test.paths() as p;
select is((cs_test.summary('A', 'sibling_with_failed_lease', p)).last_run ->> 'run_id', 'sibling_with_failed_lease-0',
    cs_test.path_name(p) || ': the sibling''s lease does not change its runs') from cs_test.paths() as p;

select * from finish();
rollback;
