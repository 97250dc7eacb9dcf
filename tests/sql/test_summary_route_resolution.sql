-- docs/contract.md §Scope and paging, route resolution: 0 or 1 row -- the exact connector_instance_id
-- of the owner; else a connector_id only when exactly one non-draft connection of
-- the owner has it (ambiguous -> no row); another owner's connection -> no row.
-- diagnostics and for_route_json resolve the same way.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(20);

select cs_test.add_connector(c) from unnest(array['solo', 'pair', 'paused_solo', 'revoked_solo',
    'active_and_revoked', 'shared']) as c;
select cs_test.add_connection('A', 'solo', 'solo-1');
select cs_test.add_connection('A', 'pair', 'pair-1');
select cs_test.add_connection('A', 'pair', 'pair-2', p_created_at => timestamptz '2024-01-02 00:00:00+00');
select cs_test.add_connection('A', 'paused_solo', 'ps-1', 'paused');
select cs_test.add_connection('A', 'revoked_solo', 'rs-1', 'revoked');
select cs_test.add_connection('A', 'active_and_revoked', 'ar-1');
select cs_test.add_connection('A', 'active_and_revoked', 'ar-2', 'revoked');
-- 'shared': A has one connection, B has another; each owner's connector id is unambiguous.
select cs_test.add_connection('A', 'shared', 'shared-a');
select cs_test.add_connection('B', 'shared', 'shared-b');
select cs_test.add_connection('B', 'solo', 'solo-b');

create temp table routes (owner text, route text, expected text) on commit drop;
insert into routes values
    ('A', 'solo-1', 'solo-1'),            -- exact id
    ('A', 'pair-2', 'pair-2'),            -- exact id of a sibling
    ('A', 'solo', 'solo-1'),              -- connector id, one connection of A (B's 'solo-b' is not A's)
    ('A', 'pair', null),                  -- connector id, two connections: ambiguous
    ('A', 'paused_solo', 'ps-1'),         -- a paused connection is non-draft
    ('A', 'revoked_solo', 'rs-1'),        -- so is a revoked one
    ('A', 'active_and_revoked', null),    -- two non-draft connections: ambiguous
    ('A', 'shared', 'shared-a'),          -- B's connection of the connector does not count for A
    ('B', 'shared', 'shared-b'),
    ('A', 'shared-b', null),              -- another owner's connection id
    ('B', 'solo-1', null),
    ('A', 'nope', null);                  -- unknown

select is(
    (select string_agg(f.connection_id, ',') from connection_summary.for_route(r.owner, r.route, cs_test.now()) as f),
    r.expected, 'for_route(' || r.owner || ', ' || r.route || ') -> ' || coalesce(r.expected, 'no row'))
from routes as r order by r.owner, r.route;

select is(
    (select count(*)::int from routes as r
     where (connection_summary.diagnostics(r.owner, r.route, cs_test.now()) ->> 'connection_id')
         is distinct from r.expected),
    0, 'diagnostics resolves every route like for_route');
select is(
    (select count(*)::int from routes as r
     where (connection_summary.for_route_json(r.owner, r.route, cs_test.now()) ->> 'connection_id')
         is distinct from r.expected),
    0, 'for_route_json resolves every route like for_route');
-- Never another owner's data: a connection id of B gives A nothing, in any read.
select is((select count(*)::int from connection_summary.overview('A', cs_test.now())
    where owner_id <> 'A'), 0, 'overview: only the owner''s rows');
select is(connection_summary.diagnostics('B', 'solo-1', cs_test.now()), null, 'diagnostics: B cannot read A''s id');
select is(connection_summary.for_route_json('A', 'shared-b', cs_test.now()), null, 'for_route_json: A cannot read B''s id');
-- An id that is both an exact connection id and (another) connector id: the exact id wins.
select cs_test.add_connection('A', 'pair', 'solo_alias', p_created_at => timestamptz '2024-01-03 00:00:00+00');
select cs_test.add_connector('solo_alias');
select cs_test.add_connection('A', 'solo_alias', 'alias-1');
select is((select string_agg(f.connection_id, ',') from connection_summary.for_route('A', 'solo_alias', cs_test.now()) as f),
    'solo_alias', 'exact id beats connector id');
-- A second connection turns an unambiguous connector id ambiguous.
select cs_test.add_connection('A', 'solo', 'solo-2', p_created_at => timestamptz '2024-01-05 00:00:00+00');
select is_empty(format('select * from connection_summary.for_route(%L, %L, %L)', 'A', 'solo', cs_test.now()),
    'connector id becomes ambiguous with a second connection');
-- The resolved row is the deep row of that connection.
select is((select depth from connection_summary.for_route('A', 'shared', cs_test.now())), 'deep',
    'a connector-id route gives the deep row');

select * from finish();
rollback;
