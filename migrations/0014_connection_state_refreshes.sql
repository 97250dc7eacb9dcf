-- 0014_connection_state_refreshes: one row per owner that every commit-time
-- refresh of the owner's connection_states rows rewrites.
--
-- Why: under REPEATABLE READ the refresh reads the snapshot its transaction
-- took at its first statement, older than the owner lock it waits for. Two
-- transactions of one owner committing at once (say, one adding a run's events
-- and one adding the connection that reads those runs) could each store rows
-- without the other's change, and neither wrote a row the other wrote. Both
-- now rewrite the owner's row here: the later one gets a serialization failure
-- (40001) and its retry reads both. READ COMMITTED is unaffected (each
-- statement after the owner lock reads the latest commits).
--
-- Locks: creates a new table; touches no existing table. Duration: instant.
-- Old code keeps serving (it never reads the table); the routines step that
-- follows starts writing it.
create table connection_summary.connection_state_refreshes (
    owner_id text primary key,
    refreshed_at timestamptz not null
);

comment on table connection_summary.connection_state_refreshes is
'One row per owner, rewritten by every commit that refreshes the owner''s connection_states rows: under REPEATABLE READ two such commits at once conflict (40001) instead of each storing rows without the other''s change.';

comment on column connection_summary.connection_state_refreshes.owner_id is
'The owner whose connection_states rows were refreshed.';

comment on column connection_summary.connection_state_refreshes.refreshed_at is
'When the last transaction to refresh them started (now()).';
