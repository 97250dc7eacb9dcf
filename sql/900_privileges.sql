-- Privileges, stated in full every time the routines are applied (docs/security.md).
-- Nothing is usable by PUBLIC. Readers and confined readers execute the read
-- API; writers write the input tables; only the package's owner (the role
-- that migrates, through the SECURITY DEFINER functions) touches the stored
-- read model, the ledger and reader_scopes.

revoke all on schema connection_summary from public;
revoke all on all tables in schema connection_summary from public;
revoke all on all sequences in schema connection_summary from public;
revoke all on all functions in schema connection_summary from public;
revoke all on type connection_summary.summary from public;
revoke all on type connection_summary.run_fold from public;

-- Start from nothing for the package's roles too, so that a privilege dropped
-- from this file is dropped from the database.
revoke all on all tables in schema connection_summary
from connection_summary_reader, connection_summary_confined_reader, connection_summary_writer;
revoke all on all functions in schema connection_summary
from connection_summary_reader, connection_summary_confined_reader, connection_summary_writer;

grant usage on schema connection_summary
to connection_summary_reader, connection_summary_confined_reader, connection_summary_writer;

grant execute on function
connection_summary.overview(text, timestamptz, int, text),
connection_summary.overview_json(text, timestamptz, int, text),
connection_summary.for_route(text, text, timestamptz),
connection_summary.for_route_json(text, text, timestamptz),
connection_summary.diagnostics(text, text, timestamptz, int)
to connection_summary_reader, connection_summary_confined_reader;

-- Writers: the operational tables as the platform keeps them (SELECT too:
-- an UPDATE or DELETE with a WHERE clause needs it). Writers serve every
-- owner; they are not confined.
grant select, insert, update, delete on
connection_summary.connectors,
connection_summary.connections,
connection_summary.active_runs,
connection_summary.retained_size_streams,
connection_summary.retained_size_connections,
connection_summary.schedules,
connection_summary.detail_gaps,
connection_summary.attention_records,
connection_summary.browser_surface_leases
to connection_summary_writer;

-- spine_events is append-only, and recorded_at is the database's to set.
grant insert (
    owner_id, event_type, status, source_kind, source_id, run_id, occurred_at,
    connector_instance_id, connection_id, data
) on connection_summary.spine_events to connection_summary_writer;
