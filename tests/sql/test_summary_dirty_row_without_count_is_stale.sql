-- docs/contract.md §Read functions total_records_state: unobserved means "no rows", stale means "a dirty
-- row". A connection whose only retained-size stream row is dirty and carries no
-- record_count HAS a row, and it is dirty: the total is stale (and NULL), as its
-- per-stream entry already says. Regression: the total read 'unobserved'.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(8);

select cs_test.add_connector('tot', p_manifest => '{"streams": [{"name": "a"}, {"name": "b"}]}');
select cs_test.add_connection('A', 'tot', c) from unnest(array['only_dirty_null', 'dirty_null_and_null']) as c;
select cs_test.add_stream_size('A', 'only_dirty_null', 'a', null, true);
select cs_test.add_stream_size('A', 'dirty_null_and_null', 'a', null, true);
select cs_test.add_stream_size('A', 'dirty_null_and_null', 'b', null, false);

select is((cs_test.summary('A', 'only_dirty_null', p)).total_records_state, 'stale',
    cs_test.path_name(p) || ': one dirty row without a count -> stale') from cs_test.paths() as p;
select is((cs_test.summary('A', 'dirty_null_and_null', p)).total_records_state, 'stale',
    cs_test.path_name(p) || ': a dirty row among count-less rows -> stale') from cs_test.paths() as p;
select is((cs_test.summary('A', 'only_dirty_null', p)).total_records, null,
    cs_test.path_name(p) || ': total_records NULL') from cs_test.paths() as p;
select is((cs_test.summary('A', 'only_dirty_null', p)).stream_records -> 0 ->> 'count_state', 'stale',
    cs_test.path_name(p) || ': the stream entry says stale too') from cs_test.paths() as p;

select * from finish();
rollback;
