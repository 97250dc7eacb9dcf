-- docs/contract.md §Scope and paging: overview order and keyset paging: rows in (connector_id, created_at,
-- connector_instance_id) order; p_limit in 1..1000 (else 22023); passing a row's
-- opaque `cursor` as p_after continues after that row, so following each page's
-- last cursor visits every non-draft connection exactly once, in order. A tampered
-- cursor, or one issued to another owner, is a clear error (22023), never another
-- owner's rows.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(27);

-- 11 connections of A over three connectors, with equal created_at values (the
-- instance id breaks the tie), microsecond-distinct times, and drafts in between.
select cs_test.add_connection('A', v.k, v.id, v.st, v.t)
from (values
    ('zz', 'z-1', 'active', timestamptz '2024-01-01 00:00:00+00'),
    ('aa', 'a-3', 'active', timestamptz '2024-01-01 00:00:00+00'),
    ('aa', 'a-1', 'paused', timestamptz '2024-01-01 00:00:00+00'),
    ('aa', 'a-2', 'draft', timestamptz '2024-01-01 00:00:00+00'),
    ('aa', 'a-0', 'revoked', timestamptz '2024-01-01 00:00:00.000001+00'),
    ('mm', 'm-b', 'active', timestamptz '2023-12-31 23:59:59.999999+00'),
    ('mm', 'm-a', 'active', timestamptz '2024-02-01 00:00:00+00'),
    ('mm', 'm-c', 'active', timestamptz '2024-02-01 00:00:00+00'),
    ('mm', 'm-d', 'draft', timestamptz '2024-02-01 00:00:00+00'),
    ('zz', 'z-0', 'active', timestamptz '2024-03-01 00:00:00+00'),
    ('zz', 'z-2', 'active', timestamptz '2024-01-01 00:00:00+00'),
    ('zz', 'z-3', 'active', timestamptz '2024-01-01 00:00:00+00')
) as v (k, id, st, t);
select cs_test.add_connection('B', 'aa', 'b-1');
select cs_test.add_connection('B', 'aa', 'b-2');

create temp table expected_order (pos int, id text) on commit drop;
insert into expected_order values
    (1, 'a-1'), (2, 'a-3'), (3, 'a-0'),
    (4, 'm-b'), (5, 'm-a'), (6, 'm-c'),
    (7, 'z-1'), (8, 'z-2'), (9, 'z-3'), (10, 'z-0');

select results_eq(
    format('select connection_id from connection_summary.overview(%L, %L)', 'A', cs_test.now()),
    'select id from expected_order order by pos',
    'unpaged overview: (connector_id, created_at, connector_instance_id) order, no drafts');

-- Walk the pages of size p_limit by following each page's last cursor.
create function pg_temp.walk(p_limit int) returns table (page int, pos int, id text)
language plpgsql as $$
declare
    v_after text := null;
    v_page int := 0;
    v_pos int := 0;
    v_row record;
    v_rows int;
begin
    loop
        v_page := v_page + 1;
        v_rows := 0;
        for v_row in select * from connection_summary.overview('A', cs_test.now(), p_limit, v_after) loop
            v_rows := v_rows + 1;
            v_pos := v_pos + 1;
            v_after := v_row.cursor;
            page := v_page; pos := v_pos; id := v_row.connection_id;
            return next;
        end loop;
        exit when v_rows < p_limit or v_page > 50;
    end loop;
end;
$$;

select results_eq(format('select pos, id from pg_temp.walk(%s) order by pos', n),
    'select pos, id from expected_order order by pos',
    'pages of ' || n || ': every connection exactly once, in order')
from unnest(array[1, 2, 3, 4, 9, 10, 11, 1000]) as n;
select is((select max(page) from pg_temp.walk(3)), 4, 'pages of 3: 3 + 3 + 3 + 1');
select is((select count(*)::int from pg_temp.walk(3) where page = 4), 1, 'the last page of 3 has one row');
select is((select max(page) from pg_temp.walk(5)), 2, 'pages of 5: two full pages (the third read is empty)');
-- After the last row: nothing.
select is_empty(format('select * from connection_summary.overview(%L, %L, 5, %L)', 'A', cs_test.now(),
    (select o.cursor from connection_summary.overview('A', cs_test.now()) as o where o.connection_id = 'z-0')),
    'after the last row: empty');
-- A cursor continues with any page size, and without a limit.
select results_eq(
    format('select connection_id from connection_summary.overview(%L, %L, null, %L)', 'A', cs_test.now(),
        (select o.cursor from connection_summary.overview('A', cs_test.now()) as o where o.connection_id = 'm-b')),
    $$values ('m-a'), ('m-c'), ('z-1'), ('z-2'), ('z-3'), ('z-0')$$,
    'p_after without p_limit: the rest, in order');
-- The cursor of a row is the same whatever page it was read on, and at any p_now.
select is(
    (select o.cursor from connection_summary.overview('A', cs_test.now(), 2,
        (select x.cursor from connection_summary.overview('A', cs_test.now()) as x where x.connection_id = 'a-0')) as o
     where o.connection_id = 'm-b'),
    (select o.cursor from connection_summary.overview('A', cs_test.at(5)) as o where o.connection_id = 'm-b'),
    'a row''s cursor is stable across pages and read times');
-- overview_json pages the same way.
select is(
    (select array_agg(e ->> 'connection_id') from jsonb_array_elements(connection_summary.overview_json('A', cs_test.now(), 3,
        (select o.cursor from connection_summary.overview('A', cs_test.now()) as o where o.connection_id = 'a-0'))) as e),
    array['m-b', 'm-a', 'm-c'], 'overview_json: same page');

-- p_limit bounds.
select throws_ok(format('select * from connection_summary.overview(%L, %L, %s)', 'A', cs_test.now(), n),
    '22023', null, 'p_limit ' || n || ' -> 22023')
from unnest(array[0, -1, 1001]) as n;
select lives_ok(format('select * from connection_summary.overview(%L, %L, %s)', 'A', cs_test.now(), n),
    'p_limit ' || n || ' is accepted')
from unnest(array[1, 1000]) as n;
select throws_ok(format('select connection_summary.overview_json(%L, %L, 0)', 'A', cs_test.now()),
    '22023', null, 'overview_json: p_limit 0 -> 22023');

-- Tampered and foreign cursors.
create temp table c on commit drop as
select o.cursor from connection_summary.overview('A', cs_test.now()) as o where o.connection_id = 'a-3';
select throws_ok(format('select * from connection_summary.overview(%L, %L, 3, %L)', 'A', cs_test.now(),
    (select overlay(c.cursor placing case when substr(c.cursor, 5, 1) = 'A' then 'B' else 'A' end from 5 for 1) from c)),
    '22023', null, 'a cursor with one changed character -> 22023');
select throws_ok(format('select * from connection_summary.overview(%L, %L, 3, %L)', 'A', cs_test.now(),
    (select left(c.cursor, -1) || case when right(c.cursor, 1) = '0' then '1' else '0' end from c)),
    '22023', null, 'a cursor with a changed check -> 22023');
select throws_ok(format('select * from connection_summary.overview(%L, %L, 3, %L)', 'A', cs_test.now(), 'not-a-cursor'),
    '22023', null, 'garbage -> 22023');
select throws_ok(format('select * from connection_summary.overview(%L, %L, 3, %L)', 'B', cs_test.now(),
    (select c.cursor from c)),
    '22023', null, 'A''s cursor passed by B -> 22023');
select throws_ok(format('select * from connection_summary.overview(%L, %L, 3, %L)', 'A', cs_test.now(),
    (select o.cursor from connection_summary.overview('B', cs_test.now()) as o limit 1)),
    '22023', null, 'B''s cursor passed by A -> 22023');

select * from finish();
rollback;
