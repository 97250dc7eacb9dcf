-- docs/contract.md §Verdict. Pill: a fixed bijection green/Healthy,
-- grey/Checking, amber/Degraded, red/Can't collect. Tone: the worst (red > amber >
-- grey > green) of the state's tone (healthy, idle -> green; unknown -> grey;
-- needs_attention, cooling_off, degraded -> amber; blocked -> red), the coverage's
-- (complete -> green; partial, retryable_gap -> amber; terminal_gap -> red;
-- unknown -> grey) and the freshness's (current, stale -> green; unknown -> grey).
-- Channel: attention when the owner must act now (reauth, answer an attention
-- record), advisory for softer actions, calm otherwise.
-- The expected tone is computed here from the contract's tables, independently of
-- the package's own tone function, for a mix that covers many (state, coverage,
-- freshness) combinations.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(21);

select cs_test.add_connector('hp', p_manifest => '{"refresh_policy": {"maximum_staleness_seconds": 86400}}',
    p_profile_key => 'hpweb');
select cs_test.add_connector('nopolicy');
select cs_test.add_connection('A', 'hp', c)
from unnest(array['healthy', 'revoked', 'paused_stale', 'paused_terminal_gap', 'stale', 'terminal_gap',
    'retry_gap', 'attention_never_run', 'attention_healthy', 'blocked', 'cooling_partial',
    'never_run', 'failed_recent', 'lease_failed', 'in_progress']) as c;
select cs_test.add_connection('A', 'nopolicy', c) from unnest(array['no_policy', 'no_policy_partial']) as c;
update connection_summary.connections set status = 'revoked', revoked_at = cs_test.at(10)
where connector_instance_id = 'revoked';
select cs_test.set_connection_status(c, 'paused') from unnest(array['paused_stale', 'paused_terminal_gap']) as c;

select cs_test.add_run('A', 'hp', c || '-ok', 'succeeded', cs_test.at(1400), cs_test.at(1401), c)
from unnest(array['healthy', 'paused_terminal_gap', 'terminal_gap', 'retry_gap', 'attention_healthy',
    'lease_failed']) as c;
select cs_test.add_run('A', 'hp', c || '-old', 'succeeded', cs_test.at(-1400), cs_test.at(-1399), c)
from unnest(array['paused_stale', 'stale']) as c;
select cs_test.add_run('A', 'nopolicy', 'np-1', 'succeeded', cs_test.at(1400), cs_test.at(1401), 'no_policy');
select cs_test.add_run('A', 'nopolicy', 'npp-1', 'succeeded', cs_test.at(1400), cs_test.at(1401),
    'no_policy_partial', '{"collection_facts": {"streams": [{"stream": "s", "collected": 1, "considered": 3}]}}');
select cs_test.add_gap('A', c, c || '-g', 'terminal') from unnest(array['paused_terminal_gap', 'terminal_gap']) as c;
select cs_test.add_gap('A', 'retry_gap', 'rg', 'pending');
select cs_test.add_attention('A', c, c || '-att', 'open', 'confirm_scope', true, 'add_info')
from unnest(array['attention_never_run', 'attention_healthy']) as c;
select cs_test.add_run('A', 'hp', 'bl-1', 'failed', cs_test.at(1400), cs_test.at(1401), 'blocked',
    '{"reason": "token_expired"}');
select cs_test.add_run('A', 'hp', 'cp-1', 'succeeded', cs_test.at(1300), cs_test.at(1301), 'cooling_partial');
select cs_test.add_run('A', 'hp', 'cp-2', 'failed', cs_test.at(1400), cs_test.at(1401), 'cooling_partial',
    '{"reason": "server_error"}');
select cs_test.add_schedule('A', 'cooling_partial', p_consecutive_failures => 2,
    p_backoff_next_run_at => cs_test.at(1500), p_backoff_reason_class => 'server_error');
select cs_test.add_gap('A', 'cooling_partial', 'cpg', 'pending');
select cs_test.add_run('A', 'hp', 'fr-1', 'succeeded', cs_test.at(1300), cs_test.at(1301), 'failed_recent');
select cs_test.add_run('A', 'hp', 'fr-2', 'failed', cs_test.at(1400), cs_test.at(1401), 'failed_recent',
    '{"reason": "server_error"}');
select cs_test.add_surface_lease('A', 'lf', 'hpweb:lease_failed', 'surface_failed', cs_test.at(1410));
select cs_test.add_run('A', 'hp', 'ip-1', null, cs_test.at(1430), null, 'in_progress');
select cs_test.add_lease('A', 'ip-1', cs_test.at(1500), 'in_progress');

-- The contract's tone tables.
create function pg_temp.rank(p_tone text) returns int language sql immutable as $$
    select array_position(array['green', 'grey', 'amber', 'red'], p_tone)
$$;
create function pg_temp.contract_tone(p_state text, p_coverage text, p_freshness text)
returns text language sql immutable as $$
    select (array['green', 'grey', 'amber', 'red'])[greatest(
        pg_temp.rank(case p_state
            when 'healthy' then 'green' when 'idle' then 'green' when 'unknown' then 'grey'
            when 'needs_attention' then 'amber' when 'cooling_off' then 'amber'
            when 'degraded' then 'amber' when 'blocked' then 'red' end),
        pg_temp.rank(case p_coverage
            when 'complete' then 'green' when 'partial' then 'amber' when 'retryable_gap' then 'amber'
            when 'terminal_gap' then 'red' when 'unknown' then 'grey' end),
        pg_temp.rank(case p_freshness
            when 'current' then 'green' when 'stale' then 'green' when 'unknown' then 'grey' end)
    )]
$$;

create temp table rows_ on commit drop as
select p as deep, s.*
from cs_test.paths() as p
cross join lateral (
    select s.* from connection_summary.overview('A', cs_test.now()) as s where not p
    union all
    select (cs_test.summary('A', c.connector_instance_id, true)).*
    from connection_summary.connections as c where p and c.owner_id = 'A'
) as s;

select is((select count(*)::int from rows_), 34, '17 connections read on both paths');
select cmp_ok(
    (select count(distinct (connection_health ->> 'state', coverage, freshness ->> 'status'))::int from rows_),
    '>=', 12, 'the mix covers at least 12 distinct (state, coverage, freshness) combinations');

-- Bijection: every pill is one of the four pairs, and each tone has exactly one label.
select is(
    (select count(*)::int from rows_ where (rendered_verdict -> 'pill') not in (
        '{"tone": "green", "label": "Healthy"}', '{"tone": "grey", "label": "Checking"}',
        '{"tone": "amber", "label": "Degraded"}', '{"tone": "red", "label": "Can''t collect"}')),
    0, 'every pill is one of the four (tone, label) pairs');
select set_eq(
    'select distinct rendered_verdict #>> ''{pill,tone}'' from rows_',
    $$values ('green'), ('grey'), ('amber'), ('red')$$,
    'the mix shows all four tones');

-- Worst-tone rule on every row of both paths.
select is(
    (select count(*)::int from rows_
     where rendered_verdict #>> '{pill,tone}' is distinct from pg_temp.contract_tone(
         connection_health ->> 'state', coverage, freshness ->> 'status')),
    0, 'tone = worst(state tone, coverage tone, freshness tone) on every row');
select results_eq(
    $$select connection_id, rendered_verdict #>> '{pill,tone}' from rows_ where not deep
      and connection_id in ('healthy', 'revoked', 'paused_stale', 'paused_terminal_gap', 'stale',
          'attention_never_run', 'no_policy', 'no_policy_partial', 'never_run', 'blocked')
      order by connection_id$$,
    $$values ('attention_never_run', 'amber'), ('blocked', 'red'), ('healthy', 'green'),
        ('never_run', 'grey'), ('no_policy', 'grey'), ('no_policy_partial', 'amber'),
        ('paused_stale', 'green'), ('paused_terminal_gap', 'red'), ('revoked', 'grey'),
        ('stale', 'amber')$$,
    'worked examples: amber beats grey, red beats green, stale freshness alone is green');

-- Channel.
create temp table channels (connection_id text, channel text) on commit drop;
insert into channels values
    ('attention_never_run', 'attention'), ('attention_healthy', 'attention'), ('blocked', 'attention'),
    ('stale', 'advisory'), ('failed_recent', 'advisory'), ('lease_failed', 'advisory'),
    ('cooling_partial', 'advisory'), ('terminal_gap', 'advisory'), ('retry_gap', 'advisory'),
    ('paused_terminal_gap', 'advisory'),
    ('healthy', 'calm'), ('revoked', 'calm'), ('paused_stale', 'calm'), ('no_policy', 'calm'),
    ('in_progress', 'calm');
select set_eq(
    $$select r.connection_id, r.rendered_verdict ->> 'channel' from rows_ as r
      where not r.deep and r.connection_id in (select connection_id from channels)$$,
    'select * from channels', 'overview: channel per connection');
select set_eq(
    $$select r.connection_id, r.rendered_verdict ->> 'channel' from rows_ as r
      where r.deep and r.connection_id in (select connection_id from channels)$$,
    'select * from channels', 'deep: channel per connection');

-- Required actions name what must happen: the state's action plus a gap's.
select ok((select rendered_verdict -> 'required_actions' from rows_ where not deep and connection_id = 'cooling_partial')
    @> '[{"action": "wait"}, {"action": "retry_gap"}]', 'cooling off with a pending gap: wait and retry_gap');
select ok((select rendered_verdict -> 'required_actions' from rows_ where not deep and connection_id = 'paused_terminal_gap')
    @> '[{"action": "code_fix"}]', 'paused with a terminal gap: code_fix');
select ok((select rendered_verdict -> 'required_actions' from rows_ where not deep and connection_id = 'attention_healthy')
    @> '[{"action": "add_info"}]', 'attention record with owner_action add_info: add_info');
select ok((select rendered_verdict -> 'required_actions' from rows_ where not deep and connection_id = 'blocked')
    @> '[{"action": "reauth"}]', 'credentials rejected: reauth');
select is((select rendered_verdict -> 'required_actions' from rows_ where not deep and connection_id = 'healthy'),
    '[]'::jsonb, 'healthy: no action');
select is((select count(*)::int from rows_ where jsonb_typeof(rendered_verdict -> 'required_actions') <> 'array'
    or jsonb_path_exists(rendered_verdict -> 'required_actions', '$[*] ? (!exists(@.action))')),
    0, 'required_actions: always an array of {action, ...}');
-- Every row says something forward-looking.
select is((select count(*)::int from rows_ where coalesce(rendered_verdict ->> 'forward_statement', '') = ''),
    0, 'every row has a forward statement');
select matches((select rendered_verdict ->> 'forward_statement' from rows_ where not deep and connection_id = 'revoked'),
    '(?i)revoked', 'the revoked row says it is revoked');
select matches((select rendered_verdict ->> 'forward_statement' from rows_ where not deep and connection_id = 'paused_stale'),
    '(?i)paused', 'the paused row says it is paused');
select matches((select rendered_verdict ->> 'forward_statement' from rows_ where not deep and connection_id = 'blocked'),
    '(?i)sign in', 'the blocked row asks to sign in again');

-- Parity of the whole verdict between the two paths.
select is(
    (select count(*)::int from rows_ as o join rows_ as d on o.connection_id = d.connection_id
     where not o.deep and d.deep and o.rendered_verdict is distinct from d.rendered_verdict),
    0, 'overview and deep render the same verdict for every connection');
select is((select count(*)::int from rows_ where rendered_verdict #>> '{pill,tone}' = 'green'
    and connection_health ->> 'state' not in ('healthy', 'idle')), 0,
    'only healthy and idle states can be green');
select is((select count(*)::int from rows_ where connection_health ->> 'state' = 'blocked'
    and rendered_verdict #>> '{pill,tone}' <> 'red'), 0, 'blocked is always red');

select * from finish();
rollback;
