-- The overview's keyset cursor: opaque to callers, bound to one owner.
--
-- Format: 'v1.' || base64url(json position) || '.' || check, where check is a
-- truncated sha256 over the owner id and the position. The check makes a
-- tampered cursor, or one issued for another owner, a clear error. It is an
-- integrity check, not a secret: access control is by p_owner_id (and row
-- level security), never by the cursor.

create or replace function connection_summary.cursor_check(p_owner_id text, p_payload text)
returns text
language sql
stable
parallel safe
as $$
    select left(encode(sha256(convert_to(
        'connection_summary.cursor.v1' || chr(31) || p_owner_id || chr(31) || p_payload, 'UTF8'
    )), 'hex'), 24)
$$;

create or replace function connection_summary.cursor_payload(
    p_connector_id text,
    p_created_at timestamptz,
    p_connector_instance_id text
)
returns text
language sql
stable
parallel safe
as $$
    -- Microseconds since the epoch: exact, and independent of TimeZone.
    select jsonb_build_array(
        p_connector_id,
        (extract(epoch from p_created_at) * 1000000)::bigint,
        p_connector_instance_id
    )::text
$$;

-- One expression, so that it is inlined into the row builder. STABLE rather
-- than IMMUTABLE because convert_to and extract are: an IMMUTABLE wrapper
-- around STABLE calls is never inlined.
create or replace function connection_summary.cursor_encode(
    p_owner_id text,
    p_connector_id text,
    p_created_at timestamptz,
    p_connector_instance_id text
)
returns text
language sql
stable
parallel safe
as $$
    select 'v1.'
        || translate(encode(convert_to(connection_summary.cursor_payload(
            p_connector_id => p_connector_id,
            p_created_at => p_created_at,
            p_connector_instance_id => p_connector_instance_id
        ), 'UTF8'), 'base64'), '+/=' || chr(10), '-_')
        || '.'
        || connection_summary.cursor_check(
            p_owner_id => p_owner_id,
            p_payload => connection_summary.cursor_payload(
                p_connector_id => p_connector_id,
                p_created_at => p_created_at,
                p_connector_instance_id => p_connector_instance_id
            )
        )
$$;

-- Decodes a cursor into the position after which the overview continues.
-- Raises invalid_parameter_value (22023) for anything it did not issue to
-- this owner.
create or replace function connection_summary.cursor_decode(p_owner_id text, p_cursor text)
returns table (connector_id text, created_at timestamptz, connector_instance_id text)
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    v_parts text[];
    v_payload text;
    v_position jsonb;
    v_micros bigint;
    v_created_at timestamptz;
begin
    if p_cursor is null then
        return;
    end if;
    v_parts := string_to_array(p_cursor, '.');
    if array_length(v_parts, 1) is distinct from 3 or v_parts[1] <> 'v1'
        or length(p_cursor) > 2048 then
        raise exception 'invalid cursor: not a connection_summary overview cursor'
            using errcode = '22023', hint = 'pass the cursor column of an overview row unchanged';
    end if;
    begin
        v_payload := convert_from(decode(
            rpad(translate(v_parts[2], '-_', '+/'),
                ((length(v_parts[2]) + 3) / 4) * 4, '='),
            'base64'), 'UTF8');
        v_position := v_payload::jsonb;
    exception when others then
        raise exception 'invalid cursor: undecodable'
            using errcode = '22023', hint = 'pass the cursor column of an overview row unchanged';
    end;
    if v_parts[3] <> connection_summary.cursor_check(p_owner_id => p_owner_id, p_payload => v_payload)
    then
        raise exception 'invalid cursor: altered, or issued for another owner'
            using errcode = '22023', hint = 'pass the cursor column of an overview row unchanged';
    end if;
    -- The check above makes the rest unreachable for cursors this package
    -- issued; a forged one that passes it still gets 22023, never a cast error.
    begin
        if jsonb_typeof(v_position) <> 'array' or jsonb_array_length(v_position) <> 3
            or jsonb_typeof(v_position -> 0) <> 'string' or jsonb_typeof(v_position -> 2) <> 'string'
            or jsonb_typeof(v_position -> 1) <> 'number' then
            raise exception 'bad position';
        end if;
        -- Whole seconds, then the microseconds left: each product is exact. One
        -- float8 product of all the microseconds is not beyond 2^53 (before 1685,
        -- after 2255), and a position decoded a few microseconds off makes the
        -- next page skip or repeat a connection.
        v_micros := (v_position ->> 1)::bigint;
        v_created_at := 'epoch'::timestamptz
            + interval '1 second' * (v_micros / 1000000)
            + interval '1 microsecond' * (v_micros % 1000000);
    exception when others then
        raise exception 'invalid cursor: bad position'
            using errcode = '22023', hint = 'pass the cursor column of an overview row unchanged';
    end;
    return query select v_position ->> 0, v_created_at, v_position ->> 2;
end;
$$;
