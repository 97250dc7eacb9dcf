-- docs/contract.md §Read functions: the read API's exact signatures, return types and volatility,
-- and the columns of connection_summary.summary in contract order with their types.
-- STABLE matters: reads run in read-only transactions and on replicas (STYLE).
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(35);

-- Signatures (argument types in order) ----------------------------------------------------------
select has_function('connection_summary', 'overview',
    array['text', 'timestamp with time zone', 'integer', 'text'],
    'overview(p_owner_id text, p_now timestamptz, p_limit int, p_after text) exists');
select has_function('connection_summary', 'for_route',
    array['text', 'text', 'timestamp with time zone'],
    'for_route(p_owner_id text, p_route_id text, p_now timestamptz) exists');
select has_function('connection_summary', 'diagnostics',
    array['text', 'text', 'timestamp with time zone', 'integer'],
    'diagnostics(p_owner_id text, p_route_id text, p_now timestamptz, p_run_limit int) exists');
select has_function('connection_summary', 'overview_json',
    array['text', 'timestamp with time zone', 'integer', 'text'],
    'overview_json(p_owner_id, p_now, p_limit, p_after) exists');
select has_function('connection_summary', 'for_route_json',
    array['text', 'text', 'timestamp with time zone'],
    'for_route_json(p_owner_id, p_route_id, p_now) exists');

-- Parameter names and defaults: callers use named arguments (p_owner_id => ...).
select is(pg_get_function_arguments('connection_summary.overview(text,timestamptz,int,text)'::regprocedure),
    'p_owner_id text, p_now timestamp with time zone DEFAULT now(), p_limit integer DEFAULT NULL::integer, p_after text DEFAULT NULL::text',
    'overview: parameter names and defaults');
select is(pg_get_function_arguments('connection_summary.for_route(text,text,timestamptz)'::regprocedure),
    'p_owner_id text, p_route_id text, p_now timestamp with time zone DEFAULT now()',
    'for_route: parameter names and defaults');
select is(pg_get_function_arguments('connection_summary.diagnostics(text,text,timestamptz,int)'::regprocedure),
    'p_owner_id text, p_route_id text, p_now timestamp with time zone DEFAULT now(), p_run_limit integer DEFAULT 20',
    'diagnostics: parameter names and defaults');
select is(pg_get_function_arguments('connection_summary.overview_json(text,timestamptz,int,text)'::regprocedure),
    'p_owner_id text, p_now timestamp with time zone DEFAULT now(), p_limit integer DEFAULT NULL::integer, p_after text DEFAULT NULL::text',
    'overview_json: same parameters as overview');
select is(pg_get_function_arguments('connection_summary.for_route_json(text,text,timestamptz)'::regprocedure),
    'p_owner_id text, p_route_id text, p_now timestamp with time zone DEFAULT now()',
    'for_route_json: same parameters as for_route');

-- Return types -----------------------------------------------------------------------------------
select function_returns('connection_summary', 'overview',
    array['text', 'timestamp with time zone', 'integer', 'text'], 'setof connection_summary.summary',
    'overview returns setof connection_summary.summary');
select function_returns('connection_summary', 'for_route',
    array['text', 'text', 'timestamp with time zone'], 'setof connection_summary.summary',
    'for_route returns setof connection_summary.summary');
select function_returns('connection_summary', 'diagnostics',
    array['text', 'text', 'timestamp with time zone', 'integer'], 'jsonb', 'diagnostics returns jsonb');
select function_returns('connection_summary', 'overview_json',
    array['text', 'timestamp with time zone', 'integer', 'text'], 'jsonb', 'overview_json returns jsonb');
select function_returns('connection_summary', 'for_route_json',
    array['text', 'text', 'timestamp with time zone'], 'jsonb', 'for_route_json returns jsonb');

-- Volatility: every read function is STABLE, SECURITY DEFINER with a pinned search_path -----------------------------
select volatility_is('connection_summary', 'overview',
    array['text', 'timestamp with time zone', 'integer', 'text'], 'stable', 'overview is STABLE');
select volatility_is('connection_summary', 'for_route',
    array['text', 'text', 'timestamp with time zone'], 'stable', 'for_route is STABLE');
select volatility_is('connection_summary', 'diagnostics',
    array['text', 'text', 'timestamp with time zone', 'integer'], 'stable', 'diagnostics is STABLE');
select volatility_is('connection_summary', 'overview_json',
    array['text', 'timestamp with time zone', 'integer', 'text'], 'stable', 'overview_json is STABLE');
select volatility_is('connection_summary', 'for_route_json',
    array['text', 'text', 'timestamp with time zone'], 'stable', 'for_route_json is STABLE');
select is(
    (select count(*)::int from pg_proc
     where pronamespace = 'connection_summary'::regnamespace
         and proname in ('overview', 'for_route', 'diagnostics', 'overview_json', 'for_route_json')
         and prosecdef and 'search_path=pg_catalog, pg_temp' = any(proconfig)),
    5, 'every read function is SECURITY DEFINER with search_path pinned to pg_catalog, pg_temp');
-- Exactly one overload of each: a second one would make named calls ambiguous.
select is(
    (select count(*)::int from pg_proc
     where pronamespace = 'connection_summary'::regnamespace
         and proname in ('overview', 'for_route', 'diagnostics', 'overview_json', 'for_route_json')),
    5, 'one overload per read function');

-- The composite type -------------------------------------------------------------------------------
select has_composite('connection_summary', 'summary', 'connection_summary.summary is a composite type');
select hasnt_table('connection_summary', 'summary', 'summary is a type, not a stored table');
select results_eq(
    $$select a.attname::text collate "default", format_type(a.atttypid, a.atttypmod)
      from pg_attribute as a
      where a.attrelid = 'connection_summary.summary'::regclass and a.attnum > 0 and not a.attisdropped
      order by a.attnum$$,
    $$values
        ('connection_id', 'text'), ('connector_instance_id', 'text'), ('connector_id', 'text'),
        ('owner_id', 'text'), ('display_name', 'text'), ('connector_display_name', 'text'),
        ('status', 'text'), ('source_kind', 'text'),
        ('created_at', 'timestamp with time zone'), ('revoked_at', 'timestamp with time zone'),
        ('depth', 'text'), ('observed_at', 'timestamp with time zone'), ('cursor', 'text'),
        ('streams', 'text[]'), ('stream_records', 'jsonb'), ('stream_count', 'integer'),
        ('total_records', 'bigint'), ('total_records_state', 'text'),
        ('retained_bytes', 'jsonb'), ('total_retained_bytes', 'bigint'), ('schedule', 'jsonb'),
        ('last_run', 'jsonb'), ('last_successful_run', 'jsonb'), ('freshness', 'jsonb'),
        ('coverage', 'text'), ('connection_health', 'jsonb'), ('rendered_verdict', 'jsonb')$$,
    'summary columns, in contract order, with contract types'
);

-- The JSON forms carry exactly the summary's columns as keys.
select cs_test.add_connection('A', 'mail', 'm1');
select is(
    (select array_agg(k order by k) from jsonb_object_keys(
        connection_summary.for_route_json('A', 'm1', cs_test.now())) as k),
    (select array_agg(a.attname::text collate "default" order by a.attname::text collate "default") from pg_attribute as a
     where a.attrelid = 'connection_summary.summary'::regclass and a.attnum > 0 and not a.attisdropped),
    'for_route_json keys = summary columns');
select is(
    (select array_agg(k order by k) from jsonb_object_keys(
        connection_summary.overview_json('A', cs_test.now()) -> 0) as k),
    (select array_agg(a.attname::text collate "default" order by a.attname::text collate "default") from pg_attribute as a
     where a.attrelid = 'connection_summary.summary'::regclass and a.attnum > 0 and not a.attisdropped),
    'overview_json element keys = summary columns');
select ok(
    connection_summary.diagnostics('A', 'm1', cs_test.now()) ?& (array(
        select a.attname::text from pg_attribute as a
        where a.attrelid = 'connection_summary.summary'::regclass and a.attnum > 0
            and not a.attisdropped) || array['recent_runs', 'latest_run_events']),
    'diagnostics carries every summary column plus recent_runs and latest_run_events');

-- Nested objects: the keys docs/contract.md §Read functions names.
select ok((connection_summary.for_route_json('A', 'm1', cs_test.now()) -> 'freshness')
    ?& array['status', 'captured_at', 'last_attempted_at'], 'freshness keys');
select ok((connection_summary.for_route_json('A', 'm1', cs_test.now()) -> 'connection_health')
    ?& array['state', 'reason_code', 'axes', 'badges', 'last_success_at', 'next_attempt_at', 'next_action'],
    'connection_health keys');
select ok((connection_summary.for_route_json('A', 'm1', cs_test.now()) #> '{connection_health,axes}')
    ?& array['freshness', 'coverage', 'attention', 'remote_surface'], 'connection_health.axes keys');
select ok((connection_summary.for_route_json('A', 'm1', cs_test.now()) #> '{connection_health,badges}')
    ?& array['stale', 'syncing'], 'connection_health.badges keys');
select ok((connection_summary.for_route_json('A', 'm1', cs_test.now()) -> 'rendered_verdict')
    ?& array['pill', 'channel', 'forward_statement', 'required_actions'], 'rendered_verdict keys');
select ok((connection_summary.for_route_json('A', 'm1', cs_test.now()) #> '{rendered_verdict,pill}')
    ?& array['tone', 'label'], 'rendered_verdict.pill keys');
select is(jsonb_typeof(connection_summary.for_route_json('A', 'm1', cs_test.now())
    #> '{rendered_verdict,required_actions}'), 'array', 'required_actions is an array');

select * from finish();
rollback;
