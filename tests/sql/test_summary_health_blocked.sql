-- docs/contract.md §Health, third rung: blocked when the last run failed with a
-- credential-looking reason (auth, credential, 401, token, session_expired), or
-- with >= 7 consecutive failures under active backoff. Blocked wins over
-- cooling_off and degraded; its pill is red "Can't collect"; a credential block
-- asks the owner to sign in again (reauth) on the attention channel.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(42);

select cs_test.add_connector('hp', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 86400}}');
select cs_test.add_connection('A', 'hp', c)
from unnest(array['auth', 'credential', 'http401', 'token', 'session', 'plain_failure',
    'old_credential_failure', 'seven_active', 'ten_active', 'six_active', 'seven_expired',
    'seven_no_backoff', 'credential_vs_backoff', 'credential_vs_gap']) as c;

-- A success long ago, then the failure under test at at(1400).
select cs_test.add_run('A', 'hp', c || '-0', 'succeeded', cs_test.at(1000), cs_test.at(1001), c)
from unnest(array['auth', 'credential', 'http401', 'token', 'session', 'plain_failure',
    'seven_active', 'ten_active', 'six_active', 'seven_expired', 'seven_no_backoff',
    'credential_vs_backoff', 'credential_vs_gap']) as c;
select cs_test.add_run('A', 'hp', v.c || '-1', 'failed', cs_test.at(1400), cs_test.at(1401), v.c,
    jsonb_build_object('reason', v.reason))
from (values
    ('auth', 'auth_failed'), ('credential', 'invalid_credentials'), ('http401', 'http_401'),
    ('token', 'refresh_token_revoked'), ('session', 'session_expired'), ('plain_failure', 'timeout'),
    ('seven_active', 'server_error'), ('ten_active', 'server_error'), ('six_active', 'server_error'),
    ('seven_expired', 'server_error'), ('seven_no_backoff', 'server_error'),
    ('credential_vs_backoff', 'session_expired'), ('credential_vs_gap', 'bad_credential')
) as v (c, reason);
-- old_credential_failure: the credential failure was followed by a success.
select cs_test.add_run('A', 'hp', 'ocf-1', 'failed', cs_test.at(1300), cs_test.at(1301),
    'old_credential_failure', '{"reason": "token_expired"}');
select cs_test.add_run('A', 'hp', 'ocf-2', 'succeeded', cs_test.at(1400), cs_test.at(1401),
    'old_credential_failure');

select cs_test.add_schedule('A', 'seven_active', p_consecutive_failures => 7,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'server_error');
select cs_test.add_schedule('A', 'ten_active', p_consecutive_failures => 10,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'server_error');
select cs_test.add_schedule('A', 'six_active', p_consecutive_failures => 6,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'server_error');
-- The backoff ended before p_now: not "under active backoff".
select cs_test.add_schedule('A', 'seven_expired', p_consecutive_failures => 7,
    p_backoff_next_run_at => cs_test.at(1430), p_backoff_reason_class => 'server_error');
select cs_test.add_schedule('A', 'seven_no_backoff', p_consecutive_failures => 7);
select cs_test.add_schedule('A', 'credential_vs_backoff', p_consecutive_failures => 2,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'auth');
select cs_test.add_gap('A', 'credential_vs_gap', 'g1', 'terminal');

create temp table expected (connection_id text, health text) on commit drop;
insert into expected values
    ('auth', 'blocked/credentials_rejected'),
    ('credential', 'blocked/credentials_rejected'),
    ('http401', 'blocked/credentials_rejected'),
    ('token', 'blocked/credentials_rejected'),
    ('session', 'blocked/credentials_rejected'),
    ('plain_failure', 'degraded/last_run_failed'),
    ('old_credential_failure', 'healthy/ok'),
    ('seven_active', 'blocked/repeated_failures'),
    ('ten_active', 'blocked/repeated_failures'),
    ('six_active', 'cooling_off/server_error'),
    ('seven_expired', 'degraded/last_run_failed'),
    ('seven_no_backoff', 'degraded/last_run_failed'),
    ('credential_vs_backoff', 'blocked/credentials_rejected'),
    ('credential_vs_gap', 'blocked/credentials_rejected');

-- 14 x 2 = 28
select is(cs_test.health('A', e.connection_id, p), e.health,
    cs_test.path_name(p) || ': ' || e.connection_id || ' -> ' || e.health)
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

select is((cs_test.summary('A', 'token', p)).connection_health ->> 'next_action', 'reauth',
    cs_test.path_name(p) || ': credentials rejected -> next_action reauth') from cs_test.paths() as p;
select is((cs_test.summary('A', 'token', p)).rendered_verdict -> 'pill',
    '{"tone": "red", "label": "Can''t collect"}'::jsonb,
    cs_test.path_name(p) || ': blocked -> red Can''t collect') from cs_test.paths() as p;
select is((cs_test.summary('A', 'token', p)).rendered_verdict ->> 'channel', 'attention',
    cs_test.path_name(p) || ': reauth -> channel attention') from cs_test.paths() as p;
select ok((cs_test.summary('A', 'token', p)).rendered_verdict -> 'required_actions'
    @> '[{"action": "reauth"}]', cs_test.path_name(p) || ': required_actions has reauth')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'seven_active', p)).rendered_verdict #>> '{pill,tone}', 'red',
    cs_test.path_name(p) || ': repeated failures -> red') from cs_test.paths() as p;
-- The failure reason reaches the run summary the rule read.
select is((cs_test.summary('A', 'session', p)).last_run ->> 'failure_reason', 'session_expired',
    cs_test.path_name(p) || ': last_run.failure_reason') from cs_test.paths() as p;
-- Blocked by credentials wins over the red coverage too: still red, reauth first.
select is((cs_test.summary('A', 'credential_vs_gap', p)).rendered_verdict #> '{required_actions,0,action}',
    '"reauth"'::jsonb, cs_test.path_name(p) || ': reauth is the first required action')
from cs_test.paths() as p;

select * from finish();
rollback;
