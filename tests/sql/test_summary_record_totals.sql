-- docs/contract.md §Read functions record totals: total_records is the sum of the connection's stream
-- record_count, NULL unless known; total_records_state is known (> 0), known_zero,
-- unobserved (no rows) or stale (a dirty row) -- never a made-up 0. stream_count is
-- the number of retained-size stream rows; stream_records has one entry per
-- observed or declared stream with its count_state (unobserved / stale / known /
-- known_zero; a stale stream keeps its stored count). Rows of another owner are
-- never counted.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(32);

select cs_test.add_connector('tot', p_manifest => '{"streams": [{"name": "a"}, {"name": "b"}, {"name": "c", "required": false}]}');
select cs_test.add_connection('A', 'tot', c)
from unnest(array['unobserved', 'known', 'known_zero', 'stale', 'dirty_without_count',
    'count_missing_beside_counts', 'undeclared_stream', 'foreign_rows']) as c;

select cs_test.add_stream_size('A', 'known', 'a', 5);
select cs_test.add_stream_size('A', 'known', 'b', 0);
select cs_test.add_stream_size('A', 'known_zero', 'a', 0);
select cs_test.add_stream_size('A', 'known_zero', 'b', 0);
select cs_test.add_stream_size('A', 'stale', 'a', 5, true);
select cs_test.add_stream_size('A', 'stale', 'b', 3);
select cs_test.add_stream_size('A', 'dirty_without_count', 'a', null, true);
select cs_test.add_stream_size('A', 'count_missing_beside_counts', 'a', 5);
select cs_test.add_stream_size('A', 'count_missing_beside_counts', 'b', null);
select cs_test.add_stream_size('A', 'undeclared_stream', 'a', 2);
select cs_test.add_stream_size('A', 'undeclared_stream', 'extra', 7);
-- Owner B's rows filed under A's connection id: not A's evidence.
select cs_test.add_stream_size('B', 'foreign_rows', 'a', 100);
select cs_test.add_stream_size('B', 'foreign_rows', 'b', 0, true);

create temp table expected (connection_id text, total bigint, state text, stream_count int) on commit drop;
insert into expected values
    ('unobserved', null, 'unobserved', 0),
    ('known', 5, 'known', 2),
    ('known_zero', 0, 'known_zero', 2),
    ('stale', null, 'stale', 2),
    ('undeclared_stream', 9, 'known', 2),
    ('foreign_rows', null, 'unobserved', 0);

-- (total, state, stream_count) per connection: 6 x 2 = 12
-- (a dirty row without a count: test_summary_dirty_row_without_count_is_stale.sql)
select is(
    (select row(s.total_records, s.total_records_state, s.stream_count)::text
     from cs_test.summary('A', e.connection_id, p) as s),
    row(e.total, e.state, e.stream_count)::text,
    cs_test.path_name(p) || ': ' || e.connection_id || ' -> (total, state, stream_count) = '
        || row(e.total, e.state, e.stream_count)::text)
from expected as e cross join cs_test.paths() as p
order by e.connection_id, p;

-- A missing count next to counted rows: the sum would be a guess, so no total.
select is((cs_test.summary('A', 'count_missing_beside_counts', p)).total_records, null,
    cs_test.path_name(p) || ': a row without a count -> total_records NULL') from cs_test.paths() as p;
select isnt((cs_test.summary('A', 'count_missing_beside_counts', p)).total_records_state, 'known',
    cs_test.path_name(p) || ': ... and the state is not known') from cs_test.paths() as p;

-- Per-stream entries.
select is((cs_test.summary('A', 'unobserved', p)).stream_records,
    '[{"stream": "a", "record_count": null, "count_state": "unobserved"},
      {"stream": "b", "record_count": null, "count_state": "unobserved"},
      {"stream": "c", "record_count": null, "count_state": "unobserved"}]'::jsonb,
    cs_test.path_name(p) || ': nothing observed -> each declared stream unobserved, count null')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'known', p)).stream_records,
    '[{"stream": "a", "record_count": 5, "count_state": "known"},
      {"stream": "b", "record_count": 0, "count_state": "known_zero"},
      {"stream": "c", "record_count": null, "count_state": "unobserved"}]'::jsonb,
    cs_test.path_name(p) || ': known, known_zero, and an unobserved declared stream')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'stale', p)).stream_records -> 0,
    '{"stream": "a", "record_count": 5, "count_state": "stale"}'::jsonb,
    cs_test.path_name(p) || ': a dirty stream is stale and keeps its stored count') from cs_test.paths() as p;
select is((cs_test.summary('A', 'dirty_without_count', p)).stream_records -> 0,
    '{"stream": "a", "record_count": null, "count_state": "stale"}'::jsonb,
    cs_test.path_name(p) || ': a dirty stream without a count is stale') from cs_test.paths() as p;
select is((cs_test.summary('A', 'count_missing_beside_counts', p)).stream_records -> 1,
    '{"stream": "b", "record_count": null, "count_state": "unobserved"}'::jsonb,
    cs_test.path_name(p) || ': a clean row without a count is unobserved') from cs_test.paths() as p;
select is((cs_test.summary('A', 'undeclared_stream', p)).stream_records -> 3,
    '{"stream": "extra", "record_count": 7, "count_state": "known"}'::jsonb,
    cs_test.path_name(p) || ': an observed, undeclared stream is listed after the declared ones')
from cs_test.paths() as p;
select is((cs_test.summary('A', 'foreign_rows', p)).stream_records,
    '[{"stream": "a", "record_count": null, "count_state": "unobserved"},
      {"stream": "b", "record_count": null, "count_state": "unobserved"},
      {"stream": "c", "record_count": null, "count_state": "unobserved"}]'::jsonb,
    cs_test.path_name(p) || ': another owner''s rows are not observations of this connection')
from cs_test.paths() as p;
-- Never a made-up 0 anywhere in the overview: a NULL total is never reported as 0
-- and a 0 total only comes with known_zero.
select is((select count(*)::int from connection_summary.overview('A', cs_test.now())
    where (total_records is null) <> (total_records_state not in ('known', 'known_zero'))
        or (total_records = 0) <> (total_records_state = 'known_zero')), 0,
    'overview: total_records is NULL exactly when the state is not known/known_zero');
select is((select array_agg(streams order by connection_id) from connection_summary.overview('A', cs_test.now())
    where connection_id in ('known', 'unobserved')), array[array['a', 'b', 'c'], array['a', 'b', 'c']],
    'streams: the declared stream names in manifest order');

select * from finish();
rollback;
