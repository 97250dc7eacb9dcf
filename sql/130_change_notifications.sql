-- Opt-in change notifications for caches outside the database.
--
-- A Python client created with listen=True keeps overview results for a short
-- TTL and LISTENs on channel connection_summary_changed, whose payload is the
-- owner id whose inputs moved ('*' for the connector catalog, which every
-- owner shares). The triggers are off by default: a NOTIFY makes every
-- committing writer take the cluster-wide notification queue lock, a cost a
-- high-rate spine_events ingest should not pay unless someone listens.
-- Turn them on with connection_summary.set_change_notifications(true).

create or replace function connection_summary.notify_owner_changes()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if tg_table_name = 'connectors' then
        perform pg_notify('connection_summary_changed', '*');
    else
        -- plpgsql_check: checked for a trigger on connectors, this statement reports
        -- "column changed_rows.owner_id does not exist": the checker validates every
        -- branch against that table's transition table, but on connectors the branch
        -- above runs instead and this one is never planned. Allowed, with this reason,
        -- in tests/test_plpgsql_check.py (ALLOWED).
        perform pg_notify('connection_summary_changed', o.owner_id)
        from (select distinct changed_rows.owner_id from changed_rows) as o;
    end if;
    return null;
end;
$$;

create or replace function connection_summary.set_change_notifications(p_enabled boolean)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_table text;
    v_event text;
begin
    foreach v_table in array array[
        'connectors', 'connections', 'spine_events', 'active_runs', 'retained_size_streams',
        'retained_size_connections', 'schedules', 'detail_gaps', 'attention_records',
        'browser_surface_leases'
    ] loop
        foreach v_event in array array['insert', 'update', 'delete'] loop
            if exists (
                select 1 from pg_trigger
                where tgrelid = format('connection_summary.%I', v_table)::regclass
                    and tgname = 'notify_' || v_event
            ) then
                execute format(
                    'drop trigger %I on connection_summary.%I', 'notify_' || v_event, v_table
                );
            end if;
            -- spine_events is append-only: only inserts reach it.
            if p_enabled and (v_table <> 'spine_events' or v_event = 'insert') then
                execute format(
                    'create trigger %I after %s on connection_summary.%I '
                    'referencing %s table as changed_rows for each statement '
                    'execute function connection_summary.notify_owner_changes()',
                    'notify_' || v_event, v_event, v_table,
                    case v_event when 'delete' then 'old' else 'new' end
                );
            end if;
        end loop;
    end loop;
end;
$$;

comment on function connection_summary.set_change_notifications(boolean) is
'Creates (true) or drops (false) the triggers that NOTIFY connection_summary_changed with the owner id on input changes.';
