-- docs/contract.md §Health ladder, first match wins: needs_attention -> idle
-- (schedule_paused) -> blocked -> cooling_off -> degraded -> idle (never run) ->
-- healthy -> unknown. Each connection below carries the evidence of its rung AND of
-- every later rung it can; the earliest rung must win. Rung by rung the evidence of
-- the winner is removed, so each step also shows the next rung taking over.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(24);

select cs_test.add_connector('hp', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 86400}}',
    p_profile_key => 'hpweb');
select cs_test.add_connector('nopolicy');
select cs_test.add_connection('A', 'hp', c)
from unnest(array['r1_attention', 'r2_paused', 'r3_credentials', 'r3_repeated', 'r4_cooling',
    'r5_degraded', 'r5_gap_before_never_run', 'r6_never_run', 'r7_healthy']) as c;
select cs_test.add_connection('A', 'nopolicy', 'r8_unknown');
select cs_test.set_connection_status('r2_paused', 'paused');

-- Everything that degrades: a failed run two days ago after an older success (stale,
-- failed, partial), a terminal gap and a surface_failed lease.
create function pg_temp.degrade(p_c text, p_reason text) returns void language plpgsql as $$
begin
    perform cs_test.add_run('A', 'hp', p_c || '-0', 'succeeded', cs_test.at(-3000), cs_test.at(-2999), p_c);
    perform cs_test.add_run('A', 'hp', p_c || '-1', 'failed', cs_test.at(-1500), cs_test.at(-1499), p_c,
        jsonb_build_object('reason', p_reason));
    perform cs_test.add_gap('A', p_c, p_c || '-gap', 'terminal');
    perform cs_test.add_surface_lease('A', p_c || '-lease', 'hpweb:' || p_c, 'surface_failed', cs_test.at(1400));
end;
$$;
select pg_temp.degrade('r1_attention', 'token_expired');
select pg_temp.degrade('r2_paused', 'token_expired');
select pg_temp.degrade('r3_credentials', 'token_expired');
select pg_temp.degrade('r3_repeated', 'server_error');
select pg_temp.degrade('r4_cooling', 'server_error');
select pg_temp.degrade('r5_degraded', 'server_error');

select cs_test.add_attention('A', 'r1_attention', 'att', 'open', 'confirm_scope', true, 'add_info');
select cs_test.add_schedule('A', 'r1_attention', p_enabled => false, p_consecutive_failures => 9,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'server_error');
select cs_test.add_schedule('A', 'r2_paused', p_consecutive_failures => 9,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'server_error');
select cs_test.add_schedule('A', 'r3_credentials', p_consecutive_failures => 9,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'auth');
select cs_test.add_schedule('A', 'r3_repeated', p_consecutive_failures => 7,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'server_error');
select cs_test.add_schedule('A', 'r4_cooling', p_consecutive_failures => 6,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'server_error');
select cs_test.add_schedule('A', 'r5_degraded', p_consecutive_failures => 9,
    p_backoff_next_run_at => cs_test.at(1000), p_backoff_reason_class => 'server_error');
-- Never run, but a pending gap: degraded comes before idle/never_run.
select cs_test.add_gap('A', 'r5_gap_before_never_run', 'g-pending', 'pending');
select cs_test.add_run('A', 'hp', 'r7-1', 'succeeded', cs_test.at(1400), cs_test.at(1401), 'r7_healthy');
select cs_test.add_run('A', 'nopolicy', 'r8-1', 'succeeded', cs_test.at(1400), cs_test.at(1401), 'r8_unknown');

create temp table expected (connection_id text, state text, reason text) on commit drop;
insert into expected values
    ('r1_attention', 'needs_attention', 'confirm_scope'),
    ('r2_paused', 'idle', 'schedule_paused'),
    ('r3_credentials', 'blocked', 'credentials_rejected'),
    ('r3_repeated', 'blocked', 'repeated_failures'),
    ('r4_cooling', 'cooling_off', 'server_error'),
    ('r5_degraded', 'degraded', null),
    ('r5_gap_before_never_run', 'degraded', 'retryable_gap'),
    ('r6_never_run', 'idle', 'never_run'),
    ('r7_healthy', 'healthy', 'ok'),
    ('r8_unknown', 'unknown', null);

-- state (10 x 2 = 20)
select is((cs_test.summary('A', e.connection_id, p)).connection_health ->> 'state', e.state,
    cs_test.path_name(p) || ': ' || e.connection_id || ' -> ' || e.state)
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

-- reason codes where the rung has one fixed reason, one set per path (2)
select set_eq(
    format($$select o.connection_id, o.connection_health ->> 'reason_code'
        from connection_summary.overview('A', %L) as o
        where o.connection_id in (select connection_id from expected where reason is not null)$$,
        cs_test.now()),
    'select connection_id, reason from expected where reason is not null',
    'overview: reason codes of the winning rungs');
select set_eq(
    $$select e.connection_id, (cs_test.summary('A', e.connection_id, true)).connection_health ->> 'reason_code'
      from expected as e where e.reason is not null$$,
    'select connection_id, reason from expected where reason is not null',
    'deep: reason codes of the winning rungs');

-- The ladder decides the state tone; coverage can only make the pill worse:
-- r1..r5 all carry a terminal gap, so all are red whatever their state's tone.
select is(
    (select array_agg(distinct o.rendered_verdict #>> '{pill,tone}')
     from connection_summary.overview('A', cs_test.now()) as o
     where o.connection_id in ('r1_attention', 'r2_paused', 'r3_credentials', 'r3_repeated',
         'r4_cooling', 'r5_degraded')),
    array['red'], 'a terminal gap makes every pill red, whichever rung won');
select is(
    (select array_agg(o.rendered_verdict #>> '{pill,tone}' order by o.connection_id)
     from connection_summary.overview('A', cs_test.now()) as o
     where o.connection_id in ('r6_never_run', 'r7_healthy', 'r8_unknown')),
    array['grey', 'green', 'grey'],
    'never run: idle (green) with unknown coverage and freshness -> grey; healthy green; unknown grey');

select * from finish();
rollback;
