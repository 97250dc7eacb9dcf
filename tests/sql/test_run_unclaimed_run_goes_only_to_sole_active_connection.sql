-- docs/contract.md §Attribution rule 3: a run with neither a browser profile key nor an explicit
-- connection id belongs to a connection only while it is the owner's only
-- active connection of that connector; with two active siblings it is nobody's.
-- The rule is read-time: changing connections needs no refold.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(19);

select cs_test.add_connector('drive');
select cs_test.add_connection('A', 'drive', 'd1');
select cs_test.add_run('A', 'drive', 'r1', 'succeeded', cs_test.at(10));
select cs_test.add_run('A', 'drive', 'r2', 'failed', cs_test.at(20), p_data => '{"reason": "quota"}');

select is(cs_test.head_ids('A', 'd1', p), array['r2', 'r1', 'r2'],
    cs_test.path_name(p) || ': the sole active connection gets the unstamped runs')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'd1', 'last_run', p) ->> 'failure_reason', 'quota',
    cs_test.path_name(p) || ': with their failure reason')
from cs_test.paths() as p;

-- Paused, draft and revoked siblings are not active: d1 stays the only active one.
select cs_test.add_connection('A', 'drive', 'd2', p_status => 'paused');
select cs_test.add_connection('A', 'drive', 'd3', p_status => 'draft');
select cs_test.add_connection('A', 'drive', 'd4', p_status => 'revoked');
-- Another owner's active connection of the same connector does not count.
select cs_test.add_connection('B', 'drive', 'b1');

select is(cs_test.head_ids('A', 'd1', p), array['r2', 'r1', 'r2'],
    cs_test.path_name(p) || ': inactive siblings and other owners do not take d1''s unstamped runs away')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'd2', p), array[null, null, null]::text [],
    cs_test.path_name(p) || ': a paused sibling never gets the unstamped runs')
from cs_test.paths() as p;
select is(cs_test.head_ids('B', 'b1', p), array[null, null, null]::text [],
    cs_test.path_name(p) || ': the other owner''s sole active connection gets none of A''s runs')
from cs_test.paths() as p;

-- A second active sibling: the unstamped runs are nobody's.
select cs_test.set_connection_status('d2', 'active');
select is(cs_test.head_ids('A', 'd1', p), array[null, null, null]::text [],
    cs_test.path_name(p) || ': with two active siblings d1 loses the unstamped runs')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'd2', p), array[null, null, null]::text [],
    cs_test.path_name(p) || ': and the new sibling does not get them either')
from cs_test.paths() as p;

-- d1 paused, d2 active: d2 is now the only active one.
select cs_test.set_connection_status('d1', 'paused');
select is(cs_test.head_ids('A', 'd2', p), array['r2', 'r1', 'r2'],
    cs_test.path_name(p) || ': the unstamped runs follow the sole active connection')
from cs_test.paths() as p;
select is(cs_test.head_ids('A', 'd1', p), array[null, null, null]::text [],
    cs_test.path_name(p) || ': a paused connection has no claim on unstamped runs')
from cs_test.paths() as p;

select is_empty('select * from cs_test.path_disagreements(''A'')',
    'overview and deep paths agree for every connection');

select * from finish();
rollback;
