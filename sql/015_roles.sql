-- Group roles (cluster-wide) and owner confinement; docs/security.md.
-- Readers execute the read functions; confined readers too, limited to the
-- owners listed in reader_scopes; writers write the input tables. None can
-- log in: grant them to the application's roles. Creating them needs
-- CREATEROLE; a DBA may create them beforehand instead.
do $$
declare
    v_role text;
begin
    foreach v_role in array array[
        'connection_summary_reader', 'connection_summary_confined_reader',
        'connection_summary_writer'
    ] loop
        if not exists (select from pg_catalog.pg_roles where rolname = v_role) then
            execute pg_catalog.format('create role %I nologin', v_role);
        end if;
    end loop;
end;
$$;

revoke all on schema connection_summary from public;

-- Owner confinement: a role listed here (or a member of it) reads only the
-- owners listed for it, whatever p_owner_id it passes.
create table connection_summary.reader_scopes (
    role_name text not null,
    owner_id text not null,
    primary key (role_name, owner_id)
);
