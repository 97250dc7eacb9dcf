-- docs/input-tables.md: a connection's expected browser profile key is
-- coalesce(manifest.browser_surface.profile_key, connector_id) || ':' || instance id,
-- except a legacy default connection (instance id = connector id), whose key is
-- the base alone. Attribution (§4 rule 1) matches exactly that key.
begin;
-- The file reads back what it writes in one transaction: fold at each
-- statement's end instead of at commit.
set constraints connection_summary.run_maintenance_on_commit immediate;
select plan(21);

select is(connection_summary.expected_profile_key('gmail', 'g2', '{}'), 'gmail:g2',
    'no manifest key: connector id : instance id');
select is(connection_summary.expected_profile_key('gmail', 'gmail', '{}'), 'gmail',
    'legacy default connection without manifest key: the connector id alone');
select is(connection_summary.expected_profile_key('drive', 'd2', '{"browser_surface": {"profile_key": "drivebase"}}'),
    'drivebase:d2', 'manifest key: base : instance id');
select is(connection_summary.expected_profile_key('drive', 'drive', '{"browser_surface": {"profile_key": "drivebase"}}'),
    'drivebase', 'legacy default connection with manifest key: the manifest base alone');
select is(connection_summary.expected_profile_key('drive', 'd2', '{"browser_surface": {}}'),
    'drive:d2', 'a browser_surface without profile_key falls back to the connector id');

select cs_test.add_connector('gmail');
select cs_test.add_connection('A', 'gmail', 'gmail');  -- legacy default connection
select cs_test.add_connection('A', 'gmail', 'g2');
select cs_test.add_connector('drive', p_profile_key => 'drivebase');
select cs_test.add_connection('A', 'drive', 'drive');  -- legacy default connection
select cs_test.add_connection('A', 'drive', 'd2');

select cs_test.add_browser_event('A', 'gmail', 'legacy-run', 'released', cs_test.at(10), p_profile_key => 'gmail');
select cs_test.add_browser_event('A', 'gmail', 'doubled-key', 'released', cs_test.at(20), p_profile_key => 'gmail:gmail');
select cs_test.add_browser_event('A', 'gmail', 'g2-run', 'released', cs_test.at(30), p_profile_key => 'gmail:g2');
select cs_test.add_run('A', 'gmail', 'legacy-named', 'succeeded', cs_test.at(5), p_instance_id => 'gmail');

select is(cs_test.run_of('A', 'gmail', 'last_run', p) ->> 'run_id', 'legacy-run',
    cs_test.path_name(p) || ': the bare connector key is the legacy connection''s')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'gmail', 'last_successful_run', p) ->> 'run_id', 'legacy-named',
    cs_test.path_name(p) || ': a run naming the legacy connection id is the legacy connection''s')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'g2', 'last_run', p) ->> 'run_id', 'g2-run',
    cs_test.path_name(p) || ': the sibling keeps its suffixed key')
from cs_test.paths() as p;
select is(
    (select count(*)::int from cs_test.attributed_runs('A', array['gmail', 'g2'], cs_test.now(), p) as a
     where a.last_run ->> 'run_id' = 'doubled-key'), 0,
    cs_test.path_name(p) || ': base:legacy-id is nobody''s key')
from cs_test.paths() as p;

select cs_test.add_browser_event('A', 'drive', 'drive-base', 'released', cs_test.at(10), p_profile_key => 'drivebase');
select cs_test.add_browser_event('A', 'drive', 'drive-connector-id', 'released', cs_test.at(20), p_profile_key => 'drive');
select cs_test.add_browser_event('A', 'drive', 'drive-d2', 'released', cs_test.at(30), p_profile_key => 'drivebase:d2');

select is(cs_test.run_of('A', 'drive', 'last_run', p) ->> 'run_id', 'drive-base',
    cs_test.path_name(p) || ': with a manifest key the legacy connection matches the manifest base')
from cs_test.paths() as p;
select is(cs_test.run_of('A', 'd2', 'last_run', p) ->> 'run_id', 'drive-d2',
    cs_test.path_name(p) || ': and the sibling base:d2')
from cs_test.paths() as p;
select is(
    (select count(*)::int from cs_test.attributed_runs('A', array['drive', 'd2'], cs_test.now(), p) as a
     where a.last_run ->> 'run_id' = 'drive-connector-id'), 0,
    cs_test.path_name(p) || ': the bare connector id is not the key when the manifest names a base')
from cs_test.paths() as p;

select is_empty('select * from cs_test.path_disagreements(''A'')',
    'overview and deep paths agree for every connection');
select is_empty('select * from cs_test.run_evidence_diff() union all select * from cs_test.run_heads_diff()',
    'the stored read model equals the live fold');

select * from finish();
rollback;
