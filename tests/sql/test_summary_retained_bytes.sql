-- docs/contract.md §Read functions retained_bytes: from retained_size_connections,
-- {record_json_bytes = current_record_json_bytes, record_changes_json_bytes =
-- record_history_json_bytes, blob_bytes, total_bytes = their sum};
-- total_retained_bytes = retained_bytes.total_bytes. NULL when the connection row
-- is missing or dirty (and, the package's choice, when a component is NULL) --
-- never a made-up 0, and never summed from the per-stream rows.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(20);

select cs_test.add_connector('rb', p_manifest => '{"streams": [{"name": "a"}]}');
select cs_test.add_connection('A', 'rb', c)
from unnest(array['full', 'zeros', 'missing', 'dirty', 'component_null', 'streams_only', 'foreign_row']) as c;
select cs_test.add_connection_size('A', 'full', 1000, 200, 30);
select cs_test.add_connection_size('A', 'zeros', 0, 0, 0);
select cs_test.add_connection_size('A', 'dirty', 1000, 200, 30, true);
select cs_test.add_connection_size('A', 'component_null', 1000, null, 30);
-- Per-stream sizes exist, the connection row does not: no total is invented from them.
select cs_test.add_stream_size('A', 'streams_only', 'a', 3, false, 500, 50, 5);
-- B's row filed under A's connection id is not A's.
select cs_test.add_connection_size('B', 'foreign_row', 1000, 200, 30);

create temp table expected (connection_id text, retained jsonb, total bigint) on commit drop;
insert into expected values
    ('full', '{"record_json_bytes": 1000, "record_changes_json_bytes": 200, "blob_bytes": 30, "total_bytes": 1230}', 1230),
    ('zeros', '{"record_json_bytes": 0, "record_changes_json_bytes": 0, "blob_bytes": 0, "total_bytes": 0}', 0),
    ('missing', null, null),
    ('dirty', null, null),
    ('component_null', null, null),
    ('streams_only', null, null),
    ('foreign_row', null, null);

-- 7 x 2 = 14
select is(
    (select row(s.retained_bytes, s.total_retained_bytes)::text from cs_test.summary('A', e.connection_id, p) as s),
    row(e.retained, e.total)::text,
    cs_test.path_name(p) || ': ' || e.connection_id || ' retained_bytes')
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

-- The JSON forms carry SQL NULL as JSON null, not 0.
select is(connection_summary.for_route_json('A', 'dirty', cs_test.now()) -> 'retained_bytes', 'null'::jsonb,
    'for_route_json: dirty -> retained_bytes null');
select is(connection_summary.for_route_json('A', 'missing', cs_test.now()) -> 'total_retained_bytes',
    'null'::jsonb, 'for_route_json: missing -> total_retained_bytes null');
-- total_retained_bytes always equals retained_bytes.total_bytes.
select is((select count(*)::int from connection_summary.overview('A', cs_test.now())
    where total_retained_bytes is distinct from (retained_bytes ->> 'total_bytes')::bigint), 0,
    'overview: total_retained_bytes = retained_bytes.total_bytes on every row');
-- Large values stay exact (bigint, no float rounding).
select cs_test.add_connection('A', 'rb', 'huge');
select cs_test.add_connection_size('A', 'huge', 4000000000000000, 5000000000000000, 1);
select is((cs_test.summary('A', 'huge', p)).total_retained_bytes, 9000000000000001::bigint,
    cs_test.path_name(p) || ': big byte counts add up exactly') from cs_test.paths() as p;
-- Reading a dirty row later does not change anything: still NULL.
select is((cs_test.summary('A', 'dirty', false, cs_test.at(99999))).retained_bytes, null,
    'dirty stays NULL at any read time');

select * from finish();
rollback;
