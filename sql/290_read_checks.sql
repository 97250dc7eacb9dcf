-- Checks every read function makes before it reads a table: who may read
-- which owner (docs/security.md), and which read times are accepted.

-- The role a read is made for: the session's SET ROLE, else its login role.
-- Inside a SECURITY DEFINER function current_user is the package's owner, but
-- the "role" setting still names what the caller set, and a caller can only
-- SET ROLE to roles it is a member of.
create or replace function connection_summary.reading_role()
returns text
language sql
stable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
    select case current_setting('role')
        when 'none' then session_user::text
        else current_setting('role')
    end
$$;

comment on function connection_summary.reading_role() is
'The role a read is made for: the session''s SET ROLE, else its login role.';

-- May the reading role read p_owner_id? In this order:
--   the package's owner (and superusers): every owner;
--   a role listed in reader_scopes, or a member of one: only the owners listed
--     for those roles (confinement wins over any other membership);
--   a member of connection_summary_reader: every owner;
--   anyone else: nobody.
-- Raises insufficient_privilege (42501) when not.
create or replace function connection_summary.authorize_read(p_owner_id text)
returns void
language plpgsql
stable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    v_role text := connection_summary.reading_role();
    v_scoped boolean;
begin
    if pg_has_role(v_role, (
        select n.nspowner from pg_namespace as n where n.nspname = 'connection_summary'
    ), 'member') then
        return;
    end if;
    select bool_or(s.owner_id = p_owner_id) into v_scoped
    from connection_summary.reader_scopes as s
    inner join pg_roles as r on s.role_name = r.rolname
    where pg_has_role(v_role, r.oid, 'member');
    if v_scoped then
        return;
    end if;
    if v_scoped is null and exists (
        select from pg_roles as r
        where r.rolname = 'connection_summary_reader' and pg_has_role(v_role, r.oid, 'member')
    ) then
        return;
    end if;
    raise exception 'role % may not read the connections of this owner', v_role
        using errcode = '42501',
        hint = case when v_scoped is null
            then 'grant connection_summary_reader, or confine the role to owners in connection_summary.reader_scopes'
            else 'the role is confined to other owners (connection_summary.reader_scopes)'
        end;
end;
$$;

comment on function connection_summary.authorize_read(text) is
'Raises 42501 unless the reading role may read the given owner (docs/security.md).';

-- Read times: finite, and within the range accepted for stored timestamps
-- (the *_in_range constraints of the input tables), so that every time
-- computed from them can be represented by any client.
create or replace function connection_summary.check_now(p_now timestamptz)
returns void
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
begin
    if p_now is null
        or p_now not between timestamptz '0001-01-02 00:00:00+00'
        and timestamptz '9999-12-30 00:00:00+00' then
        raise exception 'invalid p_now %: must be between 0001-01-02 and 9999-12-30 UTC', p_now
            using errcode = '22023';
    end if;
end;
$$;

comment on function connection_summary.check_now(timestamptz) is
'Raises 22023 unless p_now is a read time the package accepts.';
