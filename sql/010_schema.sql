-- Every object of the package lives in one schema, so a DBA can see, grant
-- and drop the whole package as a unit.
create schema if not exists connection_summary;

comment on schema connection_summary is
'connection-summary: input tables written by callers, a run read model kept by triggers, and STABLE read functions (overview, for_route, diagnostics).';
