-- docs/contract.md §Read functions: "Drafts never appear; revoked and paused do." Revoked and paused
-- connections are in the overview, the scoped read and diagnostics with their
-- status and revoked_at; a draft is in none of them -- not by its id, not through
-- its connector id, not in a page, not in the JSON forms.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(23);

select cs_test.add_connector('mail');
select cs_test.add_connector('notes');
select cs_test.add_connection('A', 'mail', 'active-1');
select cs_test.add_connection('A', 'mail', 'paused-1', 'paused', timestamptz '2024-01-02 00:00:00+00');
select cs_test.add_connection('A', 'mail', 'revoked-1', 'revoked', timestamptz '2024-01-03 00:00:00+00',
    p_revoked_at => timestamptz '2024-05-01 00:00:00+00');
select cs_test.add_connection('A', 'mail', 'draft-1', 'draft', timestamptz '2024-01-04 00:00:00+00');
-- A connector whose only connection is a draft.
select cs_test.add_connection('A', 'notes', 'draft-2', 'draft');
-- The draft has evidence of every kind: none of it may surface.
select cs_test.add_run('A', 'mail', 'dr-1', 'succeeded', cs_test.at(1400), cs_test.at(1401), 'draft-1');
select cs_test.add_stream_size('A', 'draft-1', 'messages', 5);
select cs_test.add_connection_size('A', 'draft-1', 1, 2, 3);
select cs_test.add_schedule('A', 'draft-1');
select cs_test.add_attention('A', 'draft-1', 'att-d');

select results_eq(
    format('select connection_id, status, revoked_at from connection_summary.overview(%L, %L)', 'A', cs_test.now()),
    $$values ('active-1', 'active', null::timestamptz), ('paused-1', 'paused', null),
        ('revoked-1', 'revoked', timestamptz '2024-05-01 00:00:00+00')$$,
    'overview: active, paused and revoked in order; no draft');
select is(jsonb_array_length(connection_summary.overview_json('A', cs_test.now())), 3,
    'overview_json: three entries');
select is((select count(*)::int from jsonb_array_elements(connection_summary.overview_json('A', cs_test.now())) as e
    where e ->> 'status' = 'draft'), 0, 'overview_json: no draft');

select is((cs_test.summary('A', 'paused-1', true)).status, 'paused', 'for_route: paused visible');
select is((cs_test.summary('A', 'revoked-1', true)).status, 'revoked', 'for_route: revoked visible');
select is((cs_test.summary('A', 'revoked-1', true)).revoked_at, timestamptz '2024-05-01 00:00:00+00',
    'for_route: revoked_at');
select is(connection_summary.diagnostics('A', 'revoked-1', cs_test.now()) ->> 'status', 'revoked',
    'diagnostics: revoked visible');
select is(connection_summary.diagnostics('A', 'paused-1', cs_test.now()) ->> 'status', 'paused',
    'diagnostics: paused visible');
select is((connection_summary.diagnostics('A', 'revoked-1', cs_test.now()) ->> 'revoked_at')::timestamptz,
    timestamptz '2024-05-01 00:00:00+00', 'diagnostics: revoked_at');

select is_empty(format('select * from connection_summary.for_route(%L, %L, %L)', 'A', 'draft-1', cs_test.now()),
    'for_route by a draft''s id: no row');
select is_empty(format('select * from connection_summary.for_route(%L, %L, %L)', 'A', 'notes', cs_test.now()),
    'for_route by a connector id whose only connection is a draft: no row');
select is(connection_summary.for_route_json('A', 'draft-1', cs_test.now()), null, 'for_route_json: draft -> NULL');
select is(connection_summary.diagnostics('A', 'draft-1', cs_test.now()), null, 'diagnostics: draft -> NULL');
select is(connection_summary.diagnostics('A', 'notes', cs_test.now()), null,
    'diagnostics: draft-only connector id -> NULL');
select is((select count(*)::int from connection_summary.overview('A', cs_test.now(), 1)), 1, 'page of 1');
select is(
    (select array_agg(o.connection_id order by o.connection_id) from connection_summary.overview('A', cs_test.now(), 2,
        (select x.cursor from connection_summary.overview('A', cs_test.now(), 1) as x)) as o),
    array['paused-1', 'revoked-1'], 'the page after the first: no draft in pages either');

-- A draft next to a single non-draft connection does not make the connector id ambiguous.
select cs_test.add_connection('A', 'notes', 'notes-1');
select is((cs_test.summary('A', 'notes', true)).connection_id, 'notes-1',
    'connector id with one non-draft connection and a draft -> the non-draft one');
-- Turning the draft active makes it appear; turning it back hides it again.
select cs_test.set_connection_status('draft-1', 'active');
select is((select count(*)::int from connection_summary.overview('A', cs_test.now())), 5, 'activated draft appears');
select cs_test.set_connection_status('draft-1', 'draft');
select is((select count(*)::int from connection_summary.overview('A', cs_test.now())), 4, 'back to draft: hidden');

-- Revoked/paused carry the rest of their evidence like any other row.
select cs_test.add_run('A', 'mail', 'rv-1', 'succeeded', cs_test.at(100), cs_test.at(101), 'revoked-1');
select is((cs_test.summary('A', 'revoked-1', false)).last_run ->> 'run_id', 'rv-1', 'overview: revoked keeps its runs');
select is((cs_test.summary('A', 'revoked-1', true)).last_run ->> 'run_id', 'rv-1', 'deep: revoked keeps its runs');
select is((cs_test.summary('A', 'revoked-1', false)).connection_health ->> 'state', 'idle', 'revoked -> idle');
select is((cs_test.summary('A', 'paused-1', false)).connection_health ->> 'reason_code', 'schedule_paused',
    'paused -> schedule_paused');

select * from finish();
rollback;
