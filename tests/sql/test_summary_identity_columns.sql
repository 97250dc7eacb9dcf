-- docs/contract.md §Read functions identity and lifecycle columns: connection_id = connector_instance_id;
-- display_name = the instance name, else the connector's display name, else the
-- connector id; connector_display_name = the connector's display name, else its id;
-- status, source_kind, created_at, revoked_at as stored; observed_at = p_now.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(20);

select cs_test.add_connector('named', p_display_name => 'Named Connector');
select cs_test.add_connector('bare');
select cs_test.add_connection('A', 'named', 'own-name', p_display_name => 'My account',
    p_source_kind => 'local_device', p_created_at => timestamptz '2024-02-03 04:05:06.789+00');
select cs_test.add_connection('A', 'named', 'connector-name', p_source_kind => 'manual');
select cs_test.add_connection('A', 'bare', 'id-only', p_source_kind => 'browser_collector');

create temp table expected (id text, display_name text, connector_display_name text, source_kind text) on commit drop;
insert into expected values
    ('own-name', 'My account', 'Named Connector', 'local_device'),
    ('connector-name', 'Named Connector', 'Named Connector', 'manual'),
    ('id-only', 'bare', 'bare', 'browser_collector');

-- 3 x 2 = 6
select is(
    (select row(s.connection_id, s.connector_instance_id, s.display_name, s.connector_display_name, s.source_kind)::text
     from cs_test.summary('A', e.id, p) as s),
    row(e.id, e.id, e.display_name, e.connector_display_name, e.source_kind)::text,
    cs_test.path_name(p) || ': ' || e.id || ' identity and names')
from expected as e cross join cs_test.paths() as p order by e.id, p;

select is((cs_test.summary('A', 'own-name', p)).connector_id, 'named',
    cs_test.path_name(p) || ': connector_id') from cs_test.paths() as p;
select is((cs_test.summary('A', 'own-name', p)).owner_id, 'A',
    cs_test.path_name(p) || ': owner_id') from cs_test.paths() as p;
select is((cs_test.summary('A', 'own-name', p)).created_at, timestamptz '2024-02-03 04:05:06.789+00',
    cs_test.path_name(p) || ': created_at') from cs_test.paths() as p;
select is((cs_test.summary('A', 'own-name', p)).revoked_at, null,
    cs_test.path_name(p) || ': revoked_at NULL while not revoked') from cs_test.paths() as p;
select is((cs_test.summary('A', 'own-name', p)).status, 'active',
    cs_test.path_name(p) || ': status') from cs_test.paths() as p;
select is((cs_test.summary('A', 'own-name', p, cs_test.at(777))).observed_at, cs_test.at(777),
    cs_test.path_name(p) || ': observed_at = p_now') from cs_test.paths() as p;
select is((select count(*)::int from connection_summary.overview('A', cs_test.at(5)) where observed_at <> cs_test.at(5)),
    0, 'overview: every row observed at p_now');
select is((select count(*)::int from connection_summary.overview('A', cs_test.now()) where cursor is null or cursor = ''),
    0, 'overview: every row has a cursor');

select * from finish();
rollback;
