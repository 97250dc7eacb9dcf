-- docs/contract.md §Health, second rung: idle with reason schedule_paused when the
-- schedule is disabled or the connection is paused; it wins over blocked,
-- cooling_off and degraded. A revoked connection is idle with reason revoked
-- (checked before schedule_paused: the contract is silent, docs/sql-api.md says so).
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(34);

select cs_test.add_connector('hp', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 86400}}');
select cs_test.add_connection('A', 'hp', c)
from unnest(array['paused', 'disabled', 'paused_vs_credentials', 'disabled_vs_repeated',
    'paused_vs_cooling', 'paused_vs_stale', 'revoked', 'revoked_and_disabled', 'running']) as c;
select cs_test.set_connection_status(c, 'paused')
from unnest(array['paused', 'paused_vs_credentials', 'paused_vs_cooling', 'paused_vs_stale']) as c;
update connection_summary.connections set status = 'revoked', revoked_at = cs_test.at(1200)
where connector_instance_id in ('revoked', 'revoked_and_disabled');

select cs_test.add_run('A', 'hp', c || '-run', 'succeeded', cs_test.at(1400), cs_test.at(1410), c)
from unnest(array['paused', 'disabled', 'running', 'revoked']) as c;
select cs_test.add_schedule('A', 'disabled', p_enabled => false, p_next_due_at => cs_test.at(1500));
select cs_test.add_schedule('A', 'paused', p_next_due_at => cs_test.at(1500));
select cs_test.add_schedule('A', 'running', p_next_due_at => cs_test.at(1500));
select cs_test.add_run('A', 'hp', 'pvc', 'failed', cs_test.at(1400), cs_test.at(1410), 'paused_vs_credentials',
    '{"reason": "credential_rejected"}');
select cs_test.add_run('A', 'hp', 'dvr', 'failed', cs_test.at(1400), cs_test.at(1410), 'disabled_vs_repeated',
    '{"reason": "timeout"}');
select cs_test.add_schedule('A', 'disabled_vs_repeated', p_enabled => false, p_consecutive_failures => 8,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'server_error');
select cs_test.add_run('A', 'hp', 'pvco', 'failed', cs_test.at(1400), cs_test.at(1410), 'paused_vs_cooling',
    '{"reason": "timeout"}');
select cs_test.add_schedule('A', 'paused_vs_cooling', p_consecutive_failures => 2,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'rate_limited');
select cs_test.add_run('A', 'hp', 'pvs', 'succeeded', cs_test.at(10), cs_test.at(11), 'paused_vs_stale');
select cs_test.add_run('A', 'hp', 'rad', 'failed', cs_test.at(1400), cs_test.at(1410), 'revoked_and_disabled',
    '{"reason": "token_revoked"}');
select cs_test.add_schedule('A', 'revoked_and_disabled', p_enabled => false);

create temp table expected (connection_id text, health text) on commit drop;
insert into expected values
    ('paused', 'idle/schedule_paused'),
    ('disabled', 'idle/schedule_paused'),
    ('paused_vs_credentials', 'idle/schedule_paused'),
    ('disabled_vs_repeated', 'idle/schedule_paused'),
    ('paused_vs_cooling', 'idle/schedule_paused'),
    ('paused_vs_stale', 'idle/schedule_paused'),
    ('revoked', 'idle/revoked'),
    ('revoked_and_disabled', 'idle/revoked'),
    ('running', 'healthy/ok');

-- 9 x 2 = 18
select is(cs_test.health('A', e.connection_id, p), e.health,
    cs_test.path_name(p) || ': ' || e.connection_id || ' -> ' || e.health)
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

-- Nothing is scheduled while paused or revoked; an enabled schedule names next_due_at.
select is((cs_test.summary('A', 'paused', p)).connection_health -> 'next_attempt_at', 'null'::jsonb,
    cs_test.path_name(p) || ': paused -> no next attempt') from cs_test.paths() as p;
select is((cs_test.summary('A', 'revoked', p)).connection_health -> 'next_attempt_at', 'null'::jsonb,
    cs_test.path_name(p) || ': revoked -> no next attempt') from cs_test.paths() as p;
select is(((cs_test.summary('A', 'running', p)).connection_health ->> 'next_attempt_at')::timestamptz,
    cs_test.at(1500), cs_test.path_name(p) || ': enabled -> next_attempt_at = next_due_at')
from cs_test.paths() as p;
-- Paused and revoked are visible with their lifecycle.
select is((cs_test.summary('A', 'paused_vs_stale', p)).status, 'paused',
    cs_test.path_name(p) || ': status paused') from cs_test.paths() as p;
select is((cs_test.summary('A', 'revoked', p)).revoked_at, cs_test.at(1200),
    cs_test.path_name(p) || ': revoked_at carried') from cs_test.paths() as p;
-- Idle tone is green; a paused connection with clean evidence renders calm.
select is((cs_test.summary('A', 'paused', p)).rendered_verdict -> 'pill',
    '{"tone": "green", "label": "Healthy"}'::jsonb,
    cs_test.path_name(p) || ': paused, complete, current -> green (idle tone is green)')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'paused', p)).rendered_verdict ->> 'channel', 'calm',
    cs_test.path_name(p) || ': paused -> channel calm') from cs_test.paths() as p;
-- The paused-but-stale connection: idle is green, freshness stale is green, coverage complete:
-- staleness acts only through the state, which is idle here.
select is((cs_test.summary('A', 'paused_vs_stale', p)).rendered_verdict #>> '{pill,tone}', 'green',
    cs_test.path_name(p) || ': paused and stale -> green') from cs_test.paths() as p;

select * from finish();
rollback;
