-- docs/contract.md §Read functions streams / stream_records order: `streams` lists the declared manifest
-- stream names in manifest order (not alphabetical); `stream_records` lists the
-- declared streams in manifest order, then the observed but undeclared ones (by name).
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(10);

select cs_test.add_connector('ord', p_manifest =>
    '{"streams": [{"name": "zeta"}, {"name": "alpha", "required": false}, {"name": "mid"}]}');
select cs_test.add_connector('bare');
select cs_test.add_connection('A', 'ord', 'ordered');
select cs_test.add_connection('A', 'bare', 'no_manifest');
select cs_test.add_stream_size('A', 'ordered', s, 1) from unnest(array['omega', 'mid', 'beta']) as s;
select cs_test.add_stream_size('A', 'no_manifest', s, 2) from unnest(array['y', 'x']) as s;

select is((cs_test.summary('A', 'ordered', p)).streams, array['zeta', 'alpha', 'mid'],
    cs_test.path_name(p) || ': streams in manifest order') from cs_test.paths() as p;
select is(
    (select array_agg(e ->> 'stream' order by o) from jsonb_array_elements(
        (cs_test.summary('A', 'ordered', p)).stream_records) with ordinality as x (e, o)),
    array['zeta', 'alpha', 'mid', 'beta', 'omega'],
    cs_test.path_name(p) || ': stream_records: manifest order, then undeclared by name')
from cs_test.paths() as p;
select is(
    (select array_agg(e ->> 'count_state' order by o) from jsonb_array_elements(
        (cs_test.summary('A', 'ordered', p)).stream_records) with ordinality as x (e, o)),
    array['unobserved', 'unobserved', 'known', 'known', 'known'],
    cs_test.path_name(p) || ': each entry keeps its own count_state') from cs_test.paths() as p;
select is((cs_test.summary('A', 'no_manifest', p)).streams, '{}'::text[],
    cs_test.path_name(p) || ': no declared streams -> empty array, not NULL') from cs_test.paths() as p;
select is(
    (select array_agg(e ->> 'stream' order by o) from jsonb_array_elements(
        (cs_test.summary('A', 'no_manifest', p)).stream_records) with ordinality as x (e, o)),
    array['x', 'y'], cs_test.path_name(p) || ': only observed streams, by name') from cs_test.paths() as p;

select * from finish();
rollback;
