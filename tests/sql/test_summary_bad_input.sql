-- docs/contract.md §Scope and paging (bad input, as the SQL sees it): an empty or over-long route id, or a
-- NULL owner, is a clear error (SQLSTATE 22023, invalid_parameter_value); an unknown
-- owner is simply empty -- never an error, never another owner's data.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(38);

select cs_test.add_connection('A', 'mail', 'm1');

-- NULL / empty owner.
select throws_ok(q, '22023', null, 'NULL owner: ' || q)
from unnest(array[
    format('select * from connection_summary.overview(null, %L)', cs_test.now()),
    format('select * from connection_summary.for_route(null, %L, %L)', 'm1', cs_test.now()),
    format('select connection_summary.diagnostics(null, %L, %L)', 'm1', cs_test.now()),
    format('select connection_summary.overview_json(null, %L)', cs_test.now()),
    format('select connection_summary.for_route_json(null, %L, %L)', 'm1', cs_test.now())
]) as q;
select throws_ok(format('select * from connection_summary.overview(%L, %L)', '', cs_test.now()),
    '22023', null, 'empty owner -> 22023');

-- Empty, over-long and NULL route ids.
select throws_ok(format('select * from connection_summary.for_route(%L, %L, %L)', 'A', '', cs_test.now()),
    '22023', null, 'for_route: empty route id -> 22023');
select throws_ok(format('select * from connection_summary.for_route(%L, %L, %L)', 'A', repeat('x', 10000), cs_test.now()),
    '22023', null, 'for_route: 10000-character route id -> 22023');
select throws_ok(format('select * from connection_summary.for_route(%L, null, %L)', 'A', cs_test.now()),
    '22023', null, 'for_route: NULL route id -> 22023');
select throws_ok(format('select connection_summary.diagnostics(%L, %L, %L)', 'A', '', cs_test.now()),
    '22023', null, 'diagnostics: empty route id -> 22023');
select throws_ok(format('select connection_summary.diagnostics(%L, %L, %L)', 'A', repeat('x', 10000), cs_test.now()),
    '22023', null, 'diagnostics: over-long route id -> 22023');
select throws_ok(format('select connection_summary.for_route_json(%L, %L, %L)', 'A', '', cs_test.now()),
    '22023', null, 'for_route_json: empty route id -> 22023');
-- A route id of ordinary length that matches nothing is not an error.
select lives_ok(format('select * from connection_summary.for_route(%L, %L, %L)', 'A', repeat('x', 200), cs_test.now()),
    'a 200-character unknown route id is simply not found');

-- Unknown owner: empty, not an error.
select is_empty(format('select * from connection_summary.overview(%L, %L)', 'nobody', cs_test.now()),
    'overview: unknown owner -> no rows');
select is(connection_summary.overview_json('nobody', cs_test.now()), '[]'::jsonb, 'overview_json: unknown owner -> []');
select is_empty(format('select * from connection_summary.for_route(%L, %L, %L)', 'nobody', 'm1', cs_test.now()),
    'for_route: unknown owner -> no row, even with another owner''s id');
select is(connection_summary.for_route_json('nobody', 'm1', cs_test.now()), null, 'for_route_json: unknown owner -> NULL');
select is(connection_summary.diagnostics('nobody', 'm1', cs_test.now()), null, 'diagnostics: unknown owner -> NULL');
select is_empty(format('select * from connection_summary.overview(%L, %L, 10)', 'nobody', cs_test.now()),
    'paged overview: unknown owner -> no rows');
-- Owner ids are matched exactly: no case folding, no pattern matching.
select is_empty(format('select * from connection_summary.overview(%L, %L)', 'a', cs_test.now()),
    'owner ids are case-sensitive');
select is_empty(format('select * from connection_summary.overview(%L, %L)', '%', cs_test.now()),
    'owner ''%%'' is not a pattern');

-- Cursors: checked whether or not the owner has connections to page through.
select throws_ok(format('select * from connection_summary.overview(%L, %L, 10, %L)', o, cs_test.now(), c),
    '22023', null, format('overview(%s): cursor %s -> 22023', o, left(c, 20)))
from unnest(array['A', 'nobody']) as o,
    unnest(array[
        'garbage',
        (select s.cursor from connection_summary.overview('A', cs_test.now(), 1) as s),
        'v1.' || translate(encode(convert_to('["mail", 1.5, "m1"]', 'UTF8'), 'base64'), '+/=', '-_')
            || '.' || connection_summary.cursor_check('A', '["mail", 1.5, "m1"]')
    ]) as c
where not (o = 'A' and c = (select s.cursor from connection_summary.overview('A', cs_test.now(), 1) as s));
-- Forged cursors that pass the owner check but hold no valid position.
select throws_ok(format('select * from connection_summary.overview(%L, %L, 10, %L)', 'A', cs_test.now(),
    'v1.' || translate(encode(convert_to(p, 'UTF8'), 'base64'), '+/=' || chr(10), '-_')
    || '.' || connection_summary.cursor_check('A', p)),
    '22023', null, format('forged position %s -> 22023', p))
from unnest(array[
    '["mail", 1.5, "m1"]', '["mail", 1e30, "m1"]', '["mail", "x", "m1"]', '[1, 2, 3]',
    '{"a": 1}', '["mail", 99999999999999999999, "m1"]'
]) as p;
-- Read times: NULL, infinite, or outside the accepted range.
select throws_ok(format('select * from connection_summary.overview(%L, %L)', 'A', t),
    '22023', null, format('overview at %s -> 22023', t))
from unnest(array['infinity', '-infinity', '10000-01-01 00:00:00+00', '4713-01-01 00:00:00+00 BC']) as t;
select throws_ok(format('select * from connection_summary.for_route(%L, %L, %L)', 'A', 'm1', 'infinity'),
    '22023', null, 'for_route at infinity -> 22023');
select throws_ok(format('select connection_summary.diagnostics(%L, %L, %L)', 'A', 'm1', 'infinity'),
    '22023', null, 'diagnostics at infinity -> 22023');

select * from finish();
rollback;
