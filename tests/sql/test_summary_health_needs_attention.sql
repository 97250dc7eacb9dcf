-- docs/contract.md §Health, first rung: needs_attention when an open, acknowledged or
-- in-progress, unexpired attention record requires a response or an owner action.
-- Resolved, dismissed and expired records, records past expires_at, records that
-- ask nothing, and records of another owner are ignored. needs_attention wins
-- over every later rung. Every connection below has a clean, current run, so
-- without a qualifying record it reads healthy.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(42);

select cs_test.add_connector('hp', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 86400}}');
select cs_test.add_connection('A', 'hp', c)
from unnest(array[
    'open', 'acknowledged', 'in_progress', 'resolved', 'dismissed', 'expired_lifecycle',
    'past_expiry', 'future_expiry', 'asks_nothing', 'action_only', 'foreign_owner', 'beats_all',
    'clean'
]) as c;
select cs_test.add_run('A', 'hp', c || '-run', 'succeeded', cs_test.at(1400), cs_test.at(1410), c)
from unnest(array[
    'open', 'acknowledged', 'in_progress', 'resolved', 'dismissed', 'expired_lifecycle',
    'past_expiry', 'future_expiry', 'asks_nothing', 'action_only', 'foreign_owner', 'clean'
]) as c;

select cs_test.add_attention('A', 'open', 'a1', 'open', 'confirm_scope', true, null);
select cs_test.add_attention('A', 'acknowledged', 'a2', 'acknowledged', 'mfa_code_needed', true, 'add_info');
select cs_test.add_attention('A', 'in_progress', 'a3', 'in_progress', 'consent_needed', true, 'approve');
select cs_test.add_attention('A', 'resolved', 'a4', 'resolved', 'confirm_scope', true, 'add_info');
select cs_test.add_attention('A', 'dismissed', 'a5', 'dismissed', 'confirm_scope', true, 'add_info');
select cs_test.add_attention('A', 'expired_lifecycle', 'a6', 'expired', 'confirm_scope', true, 'add_info');
select cs_test.add_attention('A', 'past_expiry', 'a7', 'open', 'confirm_scope', true, 'add_info',
    p_expires_at => cs_test.at(1000));
select cs_test.add_attention('A', 'future_expiry', 'a8', 'open', 'confirm_scope', true, 'add_info',
    p_expires_at => cs_test.at(2000));
select cs_test.add_attention('A', 'asks_nothing', 'a9', 'open', 'fyi', false, null);
select cs_test.add_attention('A', 'action_only', 'a10', 'open', 'pick_account', false, 'add_info');
select cs_test.add_attention('B', 'foreign_owner', 'a11', 'open', 'confirm_scope', true, 'add_info');
-- beats_all: paused, schedule disabled, credential failure, long backoff, stale -- and a record.
select cs_test.set_connection_status('beats_all', 'paused');
select cs_test.add_run('A', 'hp', 'ba-1', 'failed', cs_test.at(100), cs_test.at(101), 'beats_all',
    '{"reason": "401 unauthorized"}');
select cs_test.add_schedule('A', 'beats_all', p_enabled => false, p_consecutive_failures => 9,
    p_backoff_next_run_at => cs_test.at(2000));
select cs_test.add_attention('A', 'beats_all', 'a12', 'open', 'confirm_scope', true, null);

create temp table expected (connection_id text, health text) on commit drop;
insert into expected values
    ('open', 'needs_attention/confirm_scope'),
    ('acknowledged', 'needs_attention/mfa_code_needed'),
    ('in_progress', 'needs_attention/consent_needed'),
    ('resolved', 'healthy/ok'),
    ('dismissed', 'healthy/ok'),
    ('expired_lifecycle', 'healthy/ok'),
    ('past_expiry', 'healthy/ok'),
    ('future_expiry', 'needs_attention/confirm_scope'),
    ('asks_nothing', 'healthy/ok'),
    ('action_only', 'needs_attention/pick_account'),
    ('foreign_owner', 'healthy/ok'),
    ('beats_all', 'needs_attention/confirm_scope'),
    ('clean', 'healthy/ok');

-- 13 x 2 = 26
select is(cs_test.health('A', e.connection_id, p), e.health,
    cs_test.path_name(p) || ': ' || e.connection_id || ' -> ' || e.health)
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

-- next_action: the record's owner_action (here add_info / approve).
select is((cs_test.summary('A', 'acknowledged', p)).connection_health ->> 'next_action', 'add_info',
    cs_test.path_name(p) || ': next_action = the record''s owner_action') from cs_test.paths() as p;
select is((cs_test.summary('A', 'in_progress', p)).connection_health ->> 'next_action', 'approve',
    cs_test.path_name(p) || ': next_action = the record''s owner_action (approve)') from cs_test.paths() as p;
-- The owner must act now: channel attention, amber pill, attention axis required.
select is((cs_test.summary('A', 'open', p)).rendered_verdict ->> 'channel', 'attention',
    cs_test.path_name(p) || ': needs_attention -> channel attention') from cs_test.paths() as p;
select is((cs_test.summary('A', 'open', p)).rendered_verdict -> 'pill',
    '{"tone": "amber", "label": "Degraded"}'::jsonb,
    cs_test.path_name(p) || ': needs_attention -> amber Degraded') from cs_test.paths() as p;
select is((cs_test.summary('A', 'open', p)).connection_health #>> '{axes,attention}', 'required',
    cs_test.path_name(p) || ': axes.attention = required') from cs_test.paths() as p;
select is((cs_test.summary('A', 'past_expiry', p)).connection_health #>> '{axes,attention}', 'none',
    cs_test.path_name(p) || ': an expired record -> axes.attention = none') from cs_test.paths() as p;
-- Expiry is judged at p_now: the future_expiry record no longer counts once it has expired.
select is(cs_test.health('A', 'future_expiry', p, cs_test.at(2001)), 'healthy/ok',
    cs_test.path_name(p) || ': read after expires_at -> the record is ignored')
from cs_test.paths() as p;
-- Owner isolation: B sees nothing of A.
select is((select count(*)::int from connection_summary.overview('B', cs_test.now())), 0,
    'B has no connection: its attention row naming A''s connection shows nothing to B');
select is(connection_summary.for_route_json('B', 'foreign_owner', cs_test.now()), null,
    'B cannot read A''s connection by id');

select * from finish();
rollback;
