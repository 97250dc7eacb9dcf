-- The privilege and name-resolution rules, read from the catalog
-- (docs/security.md): nothing is usable by PUBLIC; readers may execute the
-- read API and nothing else; writers hold privileges on the input tables
-- only; every function anyone but the owner can reach pins search_path.
begin;
select plan(14);

create temporary view package_functions as
select p.oid, p.oid::regprocedure::text as signature, p.proname, p.prokind, p.prosecdef, p.proconfig,
    l.lanname, coalesce(p.proacl, acldefault('f', p.proowner)) as acl
from pg_proc as p
inner join pg_language as l on p.prolang = l.oid
where p.pronamespace = 'connection_summary'::regnamespace;

create temporary view package_relations as
select c.oid, c.relname, c.relkind, coalesce(c.relacl, acldefault(
    (case when c.relkind = 'S' then 's' else 'r' end)::"char", c.relowner)) as acl
from pg_class as c
where c.relnamespace = 'connection_summary'::regnamespace and c.relkind in ('r', 'v', 'S', 'p', 'm');

-- PUBLIC (grantee 0) -----------------------------------------------------------------------------
select is_empty($$
    select signature from package_functions, aclexplode(acl) as a where a.grantee = 0
$$, 'no function is executable by PUBLIC');
select is_empty($$
    select relname from package_relations, aclexplode(acl) as a where a.grantee = 0
$$, 'no table, view or sequence is usable by PUBLIC');
select is_empty($$
    select n.nspname from pg_namespace as n,
        aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) as a
    where n.nspname = 'connection_summary' and a.grantee = 0
$$, 'the schema is not usable by PUBLIC');
select is_empty($$
    select t.typname from pg_type as t,
        aclexplode(coalesce(t.typacl, acldefault('T', t.typowner))) as a
    where t.typnamespace = 'connection_summary'::regnamespace and t.typtype in ('c', 'd', 'e')
        and t.typrelid not in (select oid from package_relations where relkind <> 'c')
        and a.grantee = 0
$$, 'no type of the package is usable by PUBLIC');

-- Readers: the read API, nothing else ----------------------------------------------------------
select set_eq($$
    select f.proname::text from package_functions as f
    where has_function_privilege('connection_summary_reader', f.oid, 'execute')
$$, array['overview', 'overview_json', 'for_route', 'for_route_json', 'diagnostics'],
    'readers execute exactly the read API');
select set_eq($$
    select f.proname::text from package_functions as f
    where has_function_privilege('connection_summary_confined_reader', f.oid, 'execute')
$$, array['overview', 'overview_json', 'for_route', 'for_route_json', 'diagnostics'],
    'confined readers execute exactly the read API');
select is_empty($$
    select r.relname from package_relations as r
    where has_table_privilege('connection_summary_reader', r.oid, 'select, insert, update, delete, truncate')
        or has_table_privilege('connection_summary_confined_reader', r.oid,
            'select, insert, update, delete, truncate')
$$, 'readers hold no privilege on any table');

-- Writers: the input tables, nothing else -------------------------------------------------------
select set_eq($$
    select r.relname::text from package_relations as r
    where has_table_privilege('connection_summary_writer', r.oid, 'insert')
        or has_any_column_privilege('connection_summary_writer', r.oid, 'insert')
$$, array[
    'connectors', 'connections', 'spine_events', 'active_runs', 'retained_size_streams',
    'retained_size_connections', 'schedules', 'detail_gaps', 'attention_records',
    'browser_surface_leases'
], 'writers insert into exactly the input tables');
select is_empty($$
    select r.relname from package_relations as r
    where r.relname in ('run_evidence', 'run_heads', 'run_maintenance_queue', 'reader_scopes',
        'read_model_versions', 'schema_migrations', 'schema_routines')
        and has_any_column_privilege('connection_summary_writer', r.oid, 'select, insert, update')
$$, 'writers hold no privilege on the read model, the ledger or the confinement table');
select is_empty($$
    select f.signature from package_functions as f
    where has_function_privilege('connection_summary_writer', f.oid, 'execute')
$$, 'writers execute no function (their triggers run as the package owner)');

-- search_path ---------------------------------------------------------------------------------
select is_empty($$
    select f.signature from package_functions as f, aclexplode(f.acl) as a
    where a.grantee <> (select nspowner from pg_namespace where nspname = 'connection_summary')
        and not ('search_path=pg_catalog, pg_temp' = any(coalesce(f.proconfig, '{}')))
$$, 'every function a role other than the owner may execute pins search_path');
select is_empty($$
    select distinct f.signature from package_functions as f
    inner join pg_trigger as t on t.tgfoid = f.oid
    where not ('search_path=pg_catalog, pg_temp' = any(coalesce(f.proconfig, '{}')))
$$, 'every trigger function pins search_path');
-- The rest are SQL helpers left unpinned so that the planner can inline them
-- into the pinned read functions; they run only there, parsed under the
-- caller's pinned search_path, or when the owner calls them.
select is_empty($$
    select f.signature from package_functions as f
    where not ('search_path=pg_catalog, pg_temp' = any(coalesce(f.proconfig, '{}')))
        and (f.lanname <> 'sql' or f.prosecdef)
        and f.prokind <> 'a'
$$, 'every function that does not pin search_path is a plain SQL helper (inlinable, not SECURITY DEFINER)');
-- Aggregates run their support functions, which are checked like any other.
select is_empty($$
    select a.aggfnoid::regprocedure::text
    from pg_aggregate as a
    inner join package_functions as f on a.aggfnoid = f.oid
    inner join pg_proc as s on s.oid in (a.aggtransfn, a.aggcombinefn)
    where not ('search_path=pg_catalog, pg_temp' = any(coalesce(s.proconfig, '{}')))
$$, 'every support function of the package''s aggregates pins search_path');

select * from finish();
rollback;
