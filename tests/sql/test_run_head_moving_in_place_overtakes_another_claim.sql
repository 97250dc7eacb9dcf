-- A connection reads the heads of more than one claim: its own (its connection
-- id, its browser profile key) and, while it is the owner's only active
-- connection of its connector, the unclaimed runs. When a later event moves a
-- run that is already its claim's head (a later last_at, a terminal event),
-- the head ids of that claim do not change, yet the run can overtake another
-- claim's head: the connection's stored heads must follow.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(10);

select cs_test.add_connector('mail');
select cs_test.add_connection('A', 'mail', 'm1');
select cs_test.add_connection('A', 'mail', 'm2', p_status => 'draft');

-- claimed: m1's own run at minute 6; unclaimed: a run started at minute 0.
select cs_test.add_event('A', 'mail', 'claimed', 'run.progress_reported', null, cs_test.at(6),
    p_instance_id => 'm1');
select cs_test.add_event('A', 'mail', 'unclaimed', 'run.started', 'started', cs_test.at(0));

select is(cs_test.head_ids('A', 'm1', p), array['claimed', null, null],
    cs_test.path_name(p) || ': the claimed run is the newer one')
from cs_test.paths() as p;

-- The unclaimed run (its claim's head already) moves past the claimed one.
select cs_test.add_event('A', 'mail', 'unclaimed', 'run.progress_reported', null, cs_test.at(7));

select is(cs_test.head_ids('A', 'm1', p), array['unclaimed', null, null],
    cs_test.path_name(p) || ': the unclaimed run, moved in place, is the latest now')
from cs_test.paths() as p;

-- The claimed run succeeds, then the unclaimed one fails later: each time the
-- run is already its claim's head of that kind, or becomes one.
select cs_test.add_event('A', 'mail', 'claimed', 'run.completed', 'succeeded', cs_test.at(8),
    p_instance_id => 'm1');
select is(cs_test.head_ids('A', 'm1', p), array['claimed', 'claimed', 'claimed'],
    cs_test.path_name(p) || ': the claimed run, finished, is every head')
from cs_test.paths() as p;

select cs_test.add_event('A', 'mail', 'unclaimed', 'run.failed', 'failed', cs_test.at(9));
select is(cs_test.head_ids('A', 'm1', p), array['unclaimed', 'claimed', 'unclaimed'],
    cs_test.path_name(p) || ': the unclaimed run, failed later, is the latest and terminal run')
from cs_test.paths() as p;

select is_empty('select * from cs_test.path_disagreements(''A'')',
    'overview and deep paths agree for every connection');
select is_empty(
    'select * from connection_summary.connection_states
     except all select * from connection_summary.connection_states_live',
    'no stored connection state differs from the live definition');

select * from finish();
rollback;
